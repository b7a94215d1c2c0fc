"""Node functions of the compare pipeline. The logic lives in ``trm_pipeline.evaluation``."""

from __future__ import annotations

import logging
from typing import Any

from matplotlib.figure import Figure

from trm_pipeline.evaluation import plots, tracking
from trm_pipeline.evaluation.compare import comparison_markdown, comparison_warnings

logger = logging.getLogger(__name__)

ARTIFACT_FOLDER = "compare"


def _reports(att_report: dict[str, Any], mlp_report: dict[str, Any]) -> dict[str, dict]:
    return {"train_att": att_report, "train_mlp": mlp_report}


def fetch_training_runs(
    att_report: dict[str, Any], mlp_report: dict[str, Any]
) -> dict[str, dict[str, Any]]:
    """Read the status and train/eval history of the MLflow run that trained each variant.

    Returns:
        Pipeline name -> ``{"status": str | None, "history": History | None}``; both are
        None when the report has no run id or the run is not in the tracking store.
    """
    runs = {}
    for name, report in _reports(att_report, mlp_report).items():
        run_id = (report.get("mlflow_run") or {}).get("training_run_id")
        runs[name] = {
            "status": tracking.run_status(run_id) if run_id else None,
            "history": tracking.fetch_history(run_id) if run_id else None,
        }
    return runs


def plot_comparison(
    att_report: dict[str, Any], mlp_report: dict[str, Any], runs: dict[str, dict[str, Any]]
) -> tuple[Figure, Figure, Figure, Figure]:
    """Overlay the two variants: training curves, accuracy by step, by rating, calibration."""
    reports = _reports(att_report, mlp_report)
    figures = {
        "training_curves": plots.plot_training_curves(
            {name: run["history"] for name, run in runs.items()}
        ),
        **plots.evaluation_figures(reports),
    }
    tracking.log_figures(figures, ARTIFACT_FOLDER)
    return (
        figures["training_curves"],
        figures["accuracy_by_step"],
        figures["accuracy_by_rating"],
        figures["halt_calibration"],
    )


def write_comparison(
    att_report: dict[str, Any], mlp_report: dict[str, Any], runs: dict[str, dict[str, Any]]
) -> str:
    """Render the Markdown report and log it to MLflow."""
    reports = _reports(att_report, mlp_report)
    statuses = {name: run["status"] for name, run in runs.items()}
    notes = comparison_warnings(reports, statuses)
    for note in notes:
        logger.warning("%s", note)
    markdown = comparison_markdown(reports, statuses, notes)
    tracking.log_text(markdown, f"{ARTIFACT_FOLDER}/report.md")
    return markdown
