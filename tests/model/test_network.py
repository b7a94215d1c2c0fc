"""Parameter counts, shapes, embedding, initial states and the gradient cut of TRM."""

import math

import pytest
import torch

from trm_pipeline.model import (
    TinyRecursiveModel,
    TRMConfig,
    count_parameters,
    dense_parameters,
    task_parameters,
)

MLP_PAPER = {"mlp_t": True, "pos_encodings": "none"}


def small_config(**overrides) -> TRMConfig:
    values = {
        "hidden_size": 32,
        "num_heads": 4,
        "num_deep_recursions": 3,
        "num_latent_steps": 2,
        "num_supervision_steps": 4,
        "puzzle_emb_len": 4,
        "forward_dtype": "float32",
    }
    values.update(overrides)
    return TRMConfig(**values)


@pytest.fixture(autouse=True)
def seed():
    torch.manual_seed(0)


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [({}, 6_828_034), (MLP_PAPER, 5_028_866)],
    ids=["attention", "mlp"],
)
def test_paper_parameter_counts(overrides, expected):
    model = TinyRecursiveModel(TRMConfig(**overrides))

    assert count_parameters(model) == expected
    assert count_parameters(model, include_task_embedding=True) == expected + 512


def test_mlp_state_dict_size_matches_reference():
    model = TinyRecursiveModel(TRMConfig(**MLP_PAPER))

    # 5,028,866 parameters + 512 task vector + 2 * 512 initial states.
    assert sum(t.numel() for t in model.state_dict().values()) == 5_030_402


def test_parameter_groups_partition_trainable_parameters():
    model = TinyRecursiveModel(small_config())
    dense = {id(p) for p in dense_parameters(model)}
    task = {id(p) for p in task_parameters(model)}

    assert task == {id(model.task_embedding)}
    assert not dense & task
    assert dense | task == {id(p) for p in model.parameters()}


@pytest.mark.parametrize("overrides", [{}, MLP_PAPER, {"pos_encodings": "learned"}])
def test_supervision_step_shapes_and_dtypes(overrides):
    config = small_config(forward_dtype="bfloat16", **overrides)
    model = TinyRecursiveModel(config)
    answer, latent = model.initial_state(3, "cpu")
    tokens = torch.randint(1, 11, (3, 81))

    output = model(tokens, answer, latent)

    assert output.answer.shape == (3, 85, 32)
    assert output.latent.shape == (3, 85, 32)
    assert output.answer.dtype == torch.bfloat16
    assert output.logits.shape == (3, 81, 11)
    assert output.logits.dtype == torch.float32
    assert output.halt_logit.shape == (3,)
    assert output.halt_logit.dtype == torch.float32


def test_halt_logit_starts_at_minus_five():
    model = TinyRecursiveModel(small_config())
    answer, latent = model.initial_state(2, "cpu")

    output = model(torch.randint(1, 11, (2, 81)), answer, latent)

    torch.testing.assert_close(output.halt_logit, torch.full((2,), -5.0))


def test_initial_states_are_fixed_buffers_broadcast_everywhere():
    model = TinyRecursiveModel(small_config(forward_dtype="bfloat16"))
    answer, latent = model.initial_state(2, "cpu")

    assert "initial_answer" in model.state_dict()
    assert "initial_latent" in model.state_dict()
    assert all(p is not model.initial_answer for p in model.parameters())
    assert model.initial_answer.dtype == torch.bfloat16
    assert torch.equal(answer, model.initial_answer.expand(2, 85, 32))
    assert torch.equal(latent, model.initial_latent.expand(2, 85, 32))
    assert not torch.equal(model.initial_answer, model.initial_latent)
    assert model.initial_answer.float().std().item() == pytest.approx(1.0, abs=0.35)


def test_embed_inputs_prefix_and_scale():
    model = TinyRecursiveModel(small_config())
    with torch.no_grad():
        model.task_embedding.normal_()
    tokens = torch.randint(1, 11, (2, 81))
    scale = math.sqrt(32)

    embedded = model.embed_inputs(tokens)

    torch.testing.assert_close(embedded[:, 0], scale * model.task_embedding[0].expand(2, 32))
    assert torch.count_nonzero(embedded[:, 1:4]) == 0
    torch.testing.assert_close(embedded[:, 4:], scale * model.token_embedding.weight[tokens])


def test_embed_inputs_learned_positions_average_with_tokens():
    model = TinyRecursiveModel(small_config(pos_encodings="learned"))
    tokens = torch.randint(1, 11, (2, 81))
    position = model.position_embedding.weight
    cells = model.token_embedding.weight[tokens]

    embedded = model.embed_inputs(tokens)

    expected = math.sqrt(32) * (cells + position[4:]) / math.sqrt(2)
    torch.testing.assert_close(embedded[:, 4:], expected)


def test_embed_inputs_uses_puzzle_ids():
    model = TinyRecursiveModel(small_config(num_puzzle_identifiers=3))
    with torch.no_grad():
        model.task_embedding.normal_()

    embedded = model.embed_inputs(torch.ones(2, 81, dtype=torch.long), torch.tensor([2, 0]))

    torch.testing.assert_close(embedded[1, 0], math.sqrt(32) * model.task_embedding[0])
    torch.testing.assert_close(embedded[0, 0], math.sqrt(32) * model.task_embedding[2])


def test_token_shape_mismatch_raises():
    model = TinyRecursiveModel(small_config())
    answer, latent = model.initial_state(2, "cpu")

    with pytest.raises(ValueError, match=r"tokens must have shape \[B, 81\], got \[2, 80\]"):
        model(torch.ones(2, 80, dtype=torch.long), answer, latent)


def test_float_tokens_raise():
    model = TinyRecursiveModel(small_config())

    with pytest.raises(ValueError, match="integer"):
        model.embed_inputs(torch.ones(2, 81))


def test_state_shape_mismatch_raises():
    model = TinyRecursiveModel(small_config())
    answer, latent = model.initial_state(2, "cpu")

    with pytest.raises(ValueError, match="answer must have shape"):
        model(torch.ones(3, 81, dtype=torch.long), answer, latent)


def test_only_last_cycle_runs_with_gradient():
    config = small_config(num_deep_recursions=3, num_latent_steps=2)
    model = TinyRecursiveModel(config)
    calls = {True: 0, False: 0}
    model.net.register_forward_hook(
        lambda module, args, out: calls.__setitem__(
            torch.is_grad_enabled(), calls[torch.is_grad_enabled()] + 1
        )
    )
    answer, latent = model.initial_state(2, "cpu")

    output = model(torch.randint(1, 11, (2, 81)), answer, latent)

    assert calls[True] == config.num_latent_steps + 1
    assert calls[False] == (config.num_deep_recursions - 1) * (config.num_latent_steps + 1)
    assert output.logits.requires_grad
    assert not output.answer.requires_grad
    assert not output.latent.requires_grad


@pytest.mark.parametrize(("num_deep_recursions", "reaches_input"), [(1, True), (2, False)])
def test_input_state_gradient_cut(num_deep_recursions, reaches_input):
    model = TinyRecursiveModel(small_config(num_deep_recursions=num_deep_recursions))
    answer, latent = model.initial_state(2, "cpu")
    answer.requires_grad_(True)

    output = model(torch.randint(1, 11, (2, 81)), answer, latent)
    output.logits.sum().backward()

    assert (answer.grad is not None) == reaches_input
    assert model.lm_head.weight.grad is not None
    assert model.task_embedding.grad is not None


def test_carry_continues_recursion():
    """Two steps of T=1 equal one step of T=2 when only the states are carried."""
    model = TinyRecursiveModel(small_config(num_deep_recursions=1))
    tokens = torch.randint(1, 11, (2, 81))
    answer, latent = model.initial_state(2, "cpu")

    first = model(tokens, answer, latent)
    second = model(tokens, first.answer, first.latent)
    model.config.num_deep_recursions = 2
    combined = model(tokens, answer, latent)

    torch.testing.assert_close(second.answer, combined.answer)
    torch.testing.assert_close(second.logits, combined.logits)
