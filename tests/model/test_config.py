"""Validation, defaults and dict round trips of TRMConfig."""

import pytest

from trm_pipeline.model import TRMConfig


def test_defaults_match_paper_sudoku_attention_model():
    config = TRMConfig()

    assert config.hidden_size == 512
    assert config.num_heads == 8
    assert config.num_layers == 2
    assert config.num_deep_recursions == 3
    assert config.num_latent_steps == 6
    assert config.num_supervision_steps == 16
    assert config.pos_encodings == "rope"
    assert not config.mlp_t
    assert config.total_len == 97
    assert config.head_dim == 64


def test_hidden_not_divisible_by_heads_raises():
    with pytest.raises(ValueError, match=r"hidden_size \(100\).*num_heads \(8\)"):
        TRMConfig(hidden_size=100)


@pytest.mark.parametrize(
    ("field", "value", "allowed"),
    [
        ("pos_encodings", "alibi", "rope"),
        ("forward_dtype", "float64", "bfloat16"),
        ("loss_type", "focal", "stablemax"),
    ],
)
def test_unknown_choice_raises_with_allowed_values(field, value, allowed):
    with pytest.raises(ValueError, match=field) as error:
        TRMConfig(**{field: value})

    assert repr(value) in str(error.value)
    assert allowed in str(error.value)


@pytest.mark.parametrize("field", ["num_latent_steps", "num_supervision_steps", "num_layers"])
def test_non_positive_count_raises(field):
    with pytest.raises(ValueError, match=f"{field} must be a positive integer, got 0"):
        TRMConfig(**{field: 0})


def test_exploration_probability_out_of_range_raises():
    with pytest.raises(ValueError, match="halt_exploration_prob"):
        TRMConfig(halt_exploration_prob=1.5)


def test_rope_with_odd_head_dim_raises():
    with pytest.raises(ValueError, match="even head dimension"):
        TRMConfig(hidden_size=24, num_heads=8)


def test_from_dict_rejects_unknown_keys_listing_valid_ones():
    with pytest.raises(ValueError, match=r"\['hidden_dim'\]") as error:
        TRMConfig.from_dict({"hidden_size": 64, "hidden_dim": 3})

    assert "num_deep_recursions" in str(error.value)


def test_dict_round_trip_keeps_every_field():
    config = TRMConfig(hidden_size=128, num_heads=4, mlp_t=True, pos_encodings="none")

    restored = TRMConfig.from_dict(config.to_dict())

    assert restored == config
    assert restored.to_dict()["mlp_t"] is True
