"""Evaluation settings and the test-set protocol: subset, dtype, checkpoint checks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from trm_pipeline.evaluation.config import EvaluationConfig
from trm_pipeline.evaluation.protocol import (
    choose_forward_dtype,
    evaluate_test_set,
    load_model,
    select_rows,
)
from trm_pipeline.training.checkpoints import model_checkpoint


@pytest.fixture
def checkpoint(trained_model, test_inputs) -> dict:
    return model_checkpoint(
        trained_model.state_dict(), trained_model.config, test_inputs["metadata"], step=4
    )


def test_config_defaults_follow_the_reference():
    config = EvaluationConfig.from_dict({})
    assert config.checkpoint == "best"
    assert config.halting == "fixed"
    assert config.max_steps is None
    assert config.max_puzzles is None


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"halting": "sometimes"}, "evaluation.halting is 'sometimes'"),
        ({"checkpoint": "first"}, "evaluation.checkpoint is 'first'"),
        ({"max_steps": 0}, "evaluation.max_steps is 0"),
        ({"max_puzzles": 2.5}, "evaluation.max_puzzles is 2.5"),
        ({"batch_size": "big"}, "evaluation.batch_size is 'big'"),
        ({"batch_sise": 8}, r"Unknown key\(s\) \['batch_sise'\] under evaluation"),
        ({"rating_buckets": {"method": "log"}}, "rating_buckets.method is 'log'"),
        ({"rating_buckets": {"edges": [0, 5, 5]}}, "must be strictly increasing"),
        ({"rating_buckets": {"bins": 3}}, r"under evaluation.rating_buckets"),
    ],
)
def test_config_rejects_invalid_values(values, message):
    with pytest.raises(ValueError, match=message):
        EvaluationConfig.from_dict(values)


def test_select_rows_is_seeded_sorted_and_unique():
    rows = select_rows(1000, 50, seed=3)
    assert len(rows) == 50
    assert len(np.unique(rows)) == 50
    assert (np.diff(rows) > 0).all()
    np.testing.assert_array_equal(rows, select_rows(1000, 50, seed=3))
    assert not np.array_equal(rows, select_rows(1000, 50, seed=4))


def test_select_rows_takes_everything_without_limit():
    np.testing.assert_array_equal(select_rows(7, None, 0), np.arange(7))
    np.testing.assert_array_equal(select_rows(7, 100, 0), np.arange(7))


def test_auto_dtype_keeps_the_checkpoint_dtype():
    cpu = torch.device("cpu")
    assert choose_forward_dtype("auto", "float32", cpu) == "float32"
    assert choose_forward_dtype("float32", "bfloat16", cpu) == "float32"


def test_bfloat16_falls_back_where_unsupported(monkeypatch):
    from trm_pipeline.model import device

    monkeypatch.setattr(device, "_bfloat16_supported", lambda _device: False)
    assert choose_forward_dtype("auto", "bfloat16", torch.device("cpu")) == "float32"


def test_load_model_rejects_other_token_map(checkpoint, test_inputs):
    metadata = {**test_inputs["metadata"], "vocab_size": 12}
    with pytest.raises(ValueError, match="vocab_size"):
        load_model(checkpoint, metadata, torch.device("cpu"))


def test_evaluate_test_set_on_seeded_subset(checkpoint, test_inputs):
    config = EvaluationConfig.from_dict(
        {"max_puzzles": 5, "seed": 1, "batch_size": 2, "device": "cpu", "progress": False}
    )
    run = evaluate_test_set(checkpoint, test_inputs, config)
    assert len(run.result.exact) == 5
    np.testing.assert_array_equal(run.rows, select_rows(12, 5, 1))
    assert run.protocol["batch_size"] == 2
    assert run.protocol["max_steps"] == 3
    assert run.protocol["test_set_size"] == 12
    assert len(run.protocol["test_set_sha256"]) == 64
