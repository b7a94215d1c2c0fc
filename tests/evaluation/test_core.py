"""evaluate_model on a tiny trained TRM: halting modes, the per-step curve, batch handling."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from trm_pipeline.evaluation import core
from trm_pipeline.evaluation.core import evaluate_model, resolve_batch_size

N_SUP = 3  # num_supervision_steps of the tiny model in conftest.py


def labels_with_known_answers(model, test_inputs, known: int, halting: str = "fixed") -> np.ndarray:
    """Return labels equal to the model's own predictions for the first ``known`` puzzles.

    The model is deterministic in eval mode, so exactly those puzzles come out exact.
    """
    first = evaluate_model(
        model,
        test_inputs["inputs"],
        test_inputs["labels"],
        batch_size=5,
        halting=halting,
        progress=False,
    )
    labels = test_inputs["labels"].copy()
    labels[:known] = first.predictions[:known]
    return labels


def test_fixed_halting_always_runs_n_sup(trained_model, test_inputs):
    result = evaluate_model(
        trained_model, test_inputs["inputs"], test_inputs["labels"], batch_size=5, progress=False
    )
    assert result.steps.tolist() == [N_SUP] * len(test_inputs["inputs"])
    assert result.metrics()["steps"] == N_SUP


def test_learned_halting_within_budget(trained_model, test_inputs):
    result = evaluate_model(
        trained_model,
        test_inputs["inputs"],
        test_inputs["labels"],
        halting="learned",
        progress=False,
    )
    assert result.steps.min() >= 1
    assert result.steps.max() <= N_SUP


def test_positive_halt_bias_stops_early(trained_model, test_inputs):
    model = copy.deepcopy(trained_model)
    with torch.no_grad():
        model.q_head.bias[0] = 30.0  # halt logit > 0 after the first step for every puzzle
    learned = evaluate_model(
        model, test_inputs["inputs"], test_inputs["labels"], halting="learned", progress=False
    )
    fixed = evaluate_model(
        model, test_inputs["inputs"], test_inputs["labels"], halting="fixed", progress=False
    )
    assert (learned.steps < N_SUP).any()
    assert learned.steps.tolist() == [1] * len(test_inputs["inputs"])
    assert fixed.steps.tolist() == [N_SUP] * len(test_inputs["inputs"])


def test_step_curve_ends_at_exact_accuracy(trained_model, test_inputs):
    labels = labels_with_known_answers(trained_model, test_inputs, known=5)
    result = evaluate_model(
        trained_model, test_inputs["inputs"], labels, batch_size=4, progress=False
    )
    curve = result.exact_accuracy_by_step()
    assert result.metrics()["exact_accuracy"] == pytest.approx(5 / 12)
    assert len(curve) == N_SUP
    assert result.exact_by_step.shape == (12, N_SUP)  # every step counts all 12 puzzles
    assert curve[-1] == pytest.approx(result.metrics()["exact_accuracy"])


def test_step_curve_covers_budget_above_n_sup(trained_model, test_inputs):
    result = evaluate_model(
        trained_model,
        test_inputs["inputs"],
        test_inputs["labels"],
        max_steps=N_SUP + 2,
        progress=False,
    )
    assert len(result.exact_accuracy_by_step()) == N_SUP + 2
    assert result.steps.tolist() == [N_SUP + 2] * 12


def test_learned_curve_is_frozen_after_halting(trained_model, test_inputs):
    model = copy.deepcopy(trained_model)
    with torch.no_grad():
        model.q_head.bias[0] = 30.0
    labels = labels_with_known_answers(model, test_inputs, known=3, halting="learned")
    result = evaluate_model(model, test_inputs["inputs"], labels, halting="learned", progress=False)
    assert len(result.exact_accuracy_by_step()) == N_SUP
    assert result.exact_accuracy_by_step() == [pytest.approx(3 / 12)] * N_SUP


def test_batch_size_does_not_change_results(trained_model, test_inputs):
    arguments = (trained_model, test_inputs["inputs"], test_inputs["labels"])
    small = evaluate_model(*arguments, batch_size=5, progress=False)
    whole = evaluate_model(*arguments, batch_size=12, progress=False)
    np.testing.assert_array_equal(small.predictions, whole.predictions)
    np.testing.assert_allclose(small.halt_logit, whole.halt_logit, rtol=1e-5, atol=1e-5)


def test_out_of_memory_halves_the_batch(trained_model, test_inputs, monkeypatch):
    real_outcomes = core._batch_outcomes
    tried: list[int] = []

    def fail_above_three(model, tokens, *args):
        tried.append(len(tokens))
        if len(tokens) > 3:
            raise torch.OutOfMemoryError("simulated")
        return real_outcomes(model, tokens, *args)

    monkeypatch.setattr(core, "_batch_outcomes", fail_above_three)
    result = evaluate_model(
        trained_model, test_inputs["inputs"], test_inputs["labels"], batch_size=12, progress=False
    )
    assert tried[:3] == [12, 6, 3]
    assert result.batch_size == 3
    assert len(result.exact) == 12


def test_out_of_memory_at_batch_one_is_raised(trained_model, test_inputs, monkeypatch):
    def always_fail(*args):
        raise torch.OutOfMemoryError("simulated")

    monkeypatch.setattr(core, "_batch_outcomes", always_fail)
    with pytest.raises(torch.OutOfMemoryError):
        evaluate_model(
            trained_model, test_inputs["inputs"][:2], test_inputs["labels"][:2], progress=False
        )


def test_resolve_batch_size():
    assert resolve_batch_size("auto", "cpu", 10_000) == core.DEFAULT_BATCH_SIZE
    assert resolve_batch_size("auto", "cpu", 10) == 10
    assert resolve_batch_size(32, "cpu", 10_000) == 32
    with pytest.raises(ValueError, match="batch_size must be 'auto' or a positive integer"):
        resolve_batch_size(0, "cpu", 10)


def test_subset_selects_rows(trained_model, test_inputs):
    result = evaluate_model(
        trained_model, test_inputs["inputs"], test_inputs["labels"], progress=False
    )
    part = result.subset(np.array([2, 5]))
    np.testing.assert_array_equal(part.predictions, result.predictions[[2, 5]])
    assert part.exact_by_step.shape == (2, N_SUP)
