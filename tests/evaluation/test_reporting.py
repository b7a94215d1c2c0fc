"""Report metrics on hand-built per-puzzle outcomes, where every count is known."""

from __future__ import annotations

import json

import numpy as np
import pytest

from trm_pipeline.evaluation.config import EvaluationConfig, RatingBuckets
from trm_pipeline.evaluation.core import EvaluationResult
from trm_pipeline.evaluation.protocol import EvaluationRun
from trm_pipeline.evaluation.reporting import REPORT_FORMAT, build_report, by_rating, summarize
from trm_pipeline.evaluation.stats import wilson_interval


def hand_built(exact: list[bool], halt_logit: list[float]) -> EvaluationResult:
    n = len(exact)
    exact_array = np.array(exact)
    return EvaluationResult(
        exact=exact_array,
        cell_accuracy=np.where(exact_array, 1.0, 0.5),
        blank_accuracy=np.where(exact_array, 1.0, 0.25),
        halt_logit=np.array(halt_logit, dtype=np.float32),
        steps=np.full(n, 16),
        lm_loss=np.linspace(0.1, 0.2, n),
        exact_by_step=np.stack([np.zeros(n, dtype=bool), exact_array], axis=1),
        predictions=np.zeros((n, 81), dtype=np.uint8),
    )


@pytest.fixture
def outcomes() -> EvaluationResult:
    # 3 of 5 exact; the halt logit is right (>= 0 iff exact) for puzzles 0, 1, 3 and 4.
    return hand_built([True, True, False, True, False], [2.0, 0.0, 1.0, 3.0, -4.0])


def test_summarize_counts_and_means(outcomes):
    summary = summarize(outcomes)
    assert summary["count"] == 5
    assert summary["exact_count"] == 3
    assert summary["exact_accuracy"] == pytest.approx(0.6)
    assert summary["accuracy"] == pytest.approx((3 * 1.0 + 2 * 0.5) / 5)
    assert summary["blank_accuracy"] == pytest.approx((3 * 1.0 + 2 * 0.25) / 5)
    assert summary["q_halt_accuracy"] == pytest.approx(0.8)
    assert summary["steps"] == pytest.approx(16.0)
    low, high = wilson_interval(3, 5)
    assert summary["exact_accuracy_ci_low"] == pytest.approx(low)
    assert summary["exact_accuracy_ci_high"] == pytest.approx(high)


def test_summarize_empty_gives_count_only(outcomes):
    assert summarize(outcomes.subset(np.zeros(5, dtype=bool))) == {"count": 0}


def test_by_rating_fixed_edges(outcomes):
    ratings = np.array([0, 0, 5, 20, 20])
    section = by_rating(outcomes, ratings, RatingBuckets(method="fixed", edges=[0, 1, 10, 50]))
    buckets = section["buckets"]
    assert section["method"] == "fixed"
    assert [b["label"] for b in buckets] == ["0", "1–9", "10–49", "≥50"]
    assert [b["count"] for b in buckets] == [2, 1, 2, 0]
    assert [b.get("exact_count") for b in buckets[:3]] == [2, 0, 1]


def test_build_report_sections(outcomes):
    num_test = 7
    test_inputs = {
        "inputs": np.zeros((num_test, 81), dtype=np.uint8),
        "ratings": np.array([0, 0, 0, 5, 5, 9, 9]),
        "sources": np.array(["a", "a", "b", "b", "b", "a", "b"]),
    }
    rows = np.array([0, 1, 2, 3, 4])
    run = EvaluationRun(
        result=outcomes,
        rows=rows,
        protocol={"halting": "fixed", "max_steps": 2, "num_supervision_steps": 2},
        seconds=2.0,
    )
    config = EvaluationConfig.from_dict({"calibration_bins": 4})
    report = build_report(
        run,
        test_inputs,
        config,
        checkpoint={"step": 7, "ema": True},
        training_summary={"variant": "mlp", "num_parameters": 10},
        mlflow_run=None,
    )

    assert report["format"] == REPORT_FORMAT
    assert report["variant"] == "mlp"
    assert report["checkpoint"] == {"which": "best", "step": 7, "ema": True}
    assert report["overall"]["exact_count"] == 3

    # Only the evaluated rows 0-4 count: their sources are a, a, b, b, b.
    assert report["by_source"]["a"]["count"] == 2
    assert report["by_source"]["b"]["exact_count"] == 1
    # Their ratings 0, 0, 0, 5, 5 give the quantile edges 0 and 5.
    assert [b["label"] for b in report["by_rating"]["buckets"]] == ["0–4", "≥5"]
    assert [b["count"] for b in report["by_rating"]["buckets"]] == [3, 2]

    assert report["exact_accuracy_by_step"] == [0.0, pytest.approx(0.6)]

    assert len(report["halt_calibration"]["bins"]) == 4
    assert sum(b["count"] for b in report["halt_calibration"]["bins"]) == 5
    assert report["puzzles_per_second"] == pytest.approx(2.5)
    json.dumps(report)  # the report must be plain JSON


def comparable_report(**changes) -> dict:
    report = {
        "protocol": {"halting": "fixed", "max_steps": 16, "test_set_sha256": "same"},
        "checkpoint": {"which": "best"},
        "mlflow_run": {"training_run_id": "run-a"},
    }
    for section, values in changes.items():
        report[section] = {**report[section], **values}
    return report


def test_comparison_warnings_flag_unfair_comparisons():
    from trm_pipeline.evaluation.compare import comparison_warnings

    fair = {
        "train_att": comparable_report(),
        "train_mlp": comparable_report(mlflow_run={"training_run_id": "run-b"}),
    }
    finished = {"train_att": "FINISHED", "train_mlp": "FINISHED"}
    assert comparison_warnings(fair, finished) == []

    unfair = {
        "train_att": comparable_report(),
        "train_mlp": comparable_report(protocol={"halting": "learned", "test_set_sha256": "other"}),
    }
    notes = comparison_warnings(unfair, {"train_att": "FINISHED", "train_mlp": "FAILED"})
    assert any("different test puzzles" in note for note in notes)
    assert any("different halting modes" in note for note in notes)
    assert any("trained in one MLflow run" in note for note in notes)
    assert any("run of train_mlp is FAILED" in note for note in notes)
