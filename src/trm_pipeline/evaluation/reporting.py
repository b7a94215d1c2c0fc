"""The JSON evaluation report of one trained variant.

Sections of the report:

- ``overall``: the metrics of ``EvaluationResult.metrics`` (``exact_accuracy`` is the
  headline), with ``exact_count`` and the 95% Wilson interval ``exact_accuracy_ci_low`` /
  ``exact_accuracy_ci_high``;
- ``by_source`` and ``by_rating``: the same metrics for each source name and rating bucket;
- ``exact_accuracy_by_step``: exact accuracy after supervision steps 1..budget;
- ``halt_calibration``: sigmoid(halt logit) binned against the observed exact rate;
- ``protocol``, ``settings``, ``checkpoint``, ``training`` and ``mlflow_run``: what was
  evaluated, how, and where its training history is.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import numpy as np

from trm_pipeline.evaluation.config import EvaluationConfig, RatingBuckets
from trm_pipeline.evaluation.core import EvaluationResult
from trm_pipeline.evaluation.protocol import EvaluationRun
from trm_pipeline.evaluation.stats import (
    assign_buckets,
    halt_calibration,
    quantile_edges,
    wilson_interval,
)

REPORT_FORMAT = "trm_pipeline.evaluation/1"
# Overall metrics logged to MLflow as ``test/<name>``.
LOGGED_METRICS = (
    "count",
    "exact_count",
    "exact_accuracy",
    "exact_accuracy_ci_low",
    "exact_accuracy_ci_high",
    "accuracy",
    "blank_accuracy",
    "q_halt_accuracy",
    "steps",
    "lm_loss",
    "q_halt_loss",
)


def summarize(result: EvaluationResult) -> dict[str, float | int]:
    """Return the mean metrics of ``result`` plus the exact count and its 95% Wilson interval.

    An empty ``result`` gives only ``count`` (0).
    """
    count = len(result.exact)
    if count == 0:
        return {"count": 0}
    exact_count = int(result.exact.sum())
    low, high = wilson_interval(exact_count, count)
    return {
        **result.metrics(),
        "count": count,
        "exact_count": exact_count,
        "exact_accuracy_ci_low": low,
        "exact_accuracy_ci_high": high,
    }


def by_source(result: EvaluationResult, sources: np.ndarray) -> dict[str, dict[str, Any]]:
    """Return ``summarize`` for each source name, in sorted order."""
    sources = np.asarray(sources).astype(str)
    return {str(name): summarize(result.subset(sources == name)) for name in np.unique(sources)}


def by_rating(
    result: EvaluationResult, ratings: np.ndarray, buckets: RatingBuckets
) -> dict[str, Any]:
    """Return ``summarize`` for each rating bucket, with the bucket bounds and how they were set.

    Quantile buckets are computed from the ratings of the evaluated puzzles.
    """
    ratings = np.asarray(ratings, dtype=np.int64)
    if buckets.method == "quantile":
        edges = quantile_edges(ratings, buckets.count)
    else:
        edges = list(buckets.edges)
    index, bounds = assign_buckets(ratings, edges)
    rows = [
        {"label": bucket.label, "low": bucket.low, "high": bucket.high}
        | summarize(result.subset(index == i))
        for i, bucket in enumerate(bounds)
    ]
    return {"method": buckets.method, "edges": edges, "buckets": rows}


def build_report(
    run: EvaluationRun,
    test_inputs: dict[str, Any],
    config: EvaluationConfig,
    *,
    checkpoint: dict[str, Any],
    training_summary: dict[str, Any],
    mlflow_run: dict[str, Any] | None,
) -> dict[str, Any]:
    """Assemble the evaluation report of one trained variant.

    Args:
        run: The test-set evaluation.
        test_inputs: The test split, for each puzzle's ``ratings`` and ``sources``.
        config: The evaluation settings.
        checkpoint: The evaluated model checkpoint (for its step and EMA flag).
        training_summary: The training run's summary, copied into the report so that a
            report always describes the run whose model it evaluated.
        mlflow_run: ``{"run_id", "run_name", "experiment_id", "tracking_uri"}`` of the run
            of this evaluation plus ``training_run_id``, the run holding the training
            history; None when MLflow tracking was off.

    Returns:
        A JSON-serializable dict; the module docstring lists its sections.
    """
    result = run.result
    num_rows = len(test_inputs["inputs"])
    ratings = test_inputs.get("ratings", np.zeros(num_rows, dtype=np.int64))
    sources = test_inputs.get("sources", np.full(num_rows, "unknown"))
    bins, calibration_error = halt_calibration(
        result.halt_logit, result.exact, config.calibration_bins
    )
    return {
        "format": REPORT_FORMAT,
        "variant": training_summary.get("variant"),
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "mlflow_run": mlflow_run,
        "checkpoint": {
            "which": config.checkpoint,
            "step": checkpoint.get("step"),
            "ema": checkpoint.get("ema"),
        },
        "protocol": run.protocol,
        "settings": config.to_dict(),
        "training": training_summary,
        "overall": summarize(result),
        "by_source": by_source(result, np.asarray(sources)[run.rows]),
        "by_rating": by_rating(result, np.asarray(ratings)[run.rows], config.rating_buckets),
        "exact_accuracy_by_step": result.exact_accuracy_by_step(),
        "halt_calibration": {"bins": bins, "expected_calibration_error": calibration_error},
        "wall_time_seconds": round(run.seconds, 3),
        "puzzles_per_second": len(run.rows) / run.seconds if run.seconds > 0 else None,
    }
