"""EMA shadow updates, averaged copies and state round trips."""

import pytest
import torch

from trm_pipeline.model import EMA, TinyRecursiveModel, TRMConfig


def small_model() -> TinyRecursiveModel:
    return TinyRecursiveModel(
        TRMConfig(
            hidden_size=16, num_heads=2, num_layers=1, puzzle_emb_len=2, forward_dtype="float32"
        )
    )


@pytest.fixture(autouse=True)
def seed():
    torch.manual_seed(0)


def shift_weights(model: torch.nn.Module, amount: float) -> None:
    with torch.no_grad():
        for param in model.parameters():
            param.add_(amount)


def test_update_blends_with_decay():
    model = small_model()
    before = model.lm_head.weight.detach().clone()
    ema = EMA(model, decay=0.9)
    shift_weights(model, 1.0)

    ema.update(model)

    expected = 0.9 * before + 0.1 * (before + 1.0)
    torch.testing.assert_close(ema.shadow["lm_head.weight"], expected)


def test_task_embedding_is_not_averaged():
    model = small_model()
    ema = EMA(model)

    assert "task_embedding" not in ema.shadow
    assert "initial_answer" not in ema.shadow
    assert "net.blocks.0.mlp.down_proj.weight" in ema.shadow


def test_averaged_model_carries_shadow_and_current_task_vector():
    model = small_model()
    start = model.lm_head.weight.detach().clone()
    ema = EMA(model, decay=0.5)
    shift_weights(model, 2.0)
    ema.update(model)

    averaged = ema.averaged_model(model)

    torch.testing.assert_close(averaged.lm_head.weight, start + 1.0)
    torch.testing.assert_close(averaged.task_embedding, model.task_embedding)
    torch.testing.assert_close(model.lm_head.weight, start + 2.0)
    assert averaged is not model


def test_state_dict_round_trip():
    model = small_model()
    ema = EMA(model, decay=0.5)
    shift_weights(model, 1.0)
    ema.update(model)
    restored = EMA(small_model(), decay=0.9)

    restored.load_state_dict(ema.state_dict())

    assert restored.decay == 0.5
    for name, tensor in ema.shadow.items():
        torch.testing.assert_close(restored.shadow[name], tensor)


def test_load_state_dict_rejects_other_architecture():
    ema = EMA(small_model())
    other = EMA(
        TinyRecursiveModel(TRMConfig(hidden_size=16, num_heads=2, num_layers=2, puzzle_emb_len=2))
    )

    with pytest.raises(ValueError, match="EMA state does not match"):
        ema.load_state_dict(other.state_dict())


def test_invalid_decay_raises():
    with pytest.raises(ValueError, match="decay must be in"):
        EMA(small_model(), decay=1.5)
