"""Evaluation nodes added to each training pipeline (after ``train_model_node``).

``evaluate_node`` evaluates the best (or last) EMA checkpoint on the test split and
writes ``<namespace>.evaluation_report``; the plot nodes draw it and the run's MLflow history.
The logic lives in ``trm_pipeline.evaluation``.
"""

from __future__ import annotations

import logging
from typing import Any

from kedro.pipeline import Node
from matplotlib.figure import Figure

from trm_pipeline.evaluation import plots, tracking
from trm_pipeline.evaluation.config import EvaluationConfig
from trm_pipeline.evaluation.protocol import evaluate_test_set
from trm_pipeline.evaluation.reporting import build_report

logger = logging.getLogger(__name__)

# Global (not namespaced) parameters that the nodes below read.
EVALUATION_PARAMETERS: set[str] = {"params:evaluation"}


def evaluate_checkpoint(
    best_model: dict[str, Any],
    last_model: dict[str, Any],
    test_inputs: dict[str, Any],
    training_summary: dict[str, Any],
    evaluation_params: dict[str, Any],
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Evaluate the chosen checkpoint on the test split and log the report to MLflow.

    Returns:
        The evaluation report (see ``trm_pipeline.evaluation.reporting``) and its overall
        metrics, which the ONNX export stores in the model's metadata.
    """
    config = EvaluationConfig.from_dict(evaluation_params)
    variant = str(training_summary.get("variant", "model"))
    checkpoint = best_model if config.checkpoint == "best" else last_model
    run = evaluate_test_set(checkpoint, test_inputs, config)
    mlflow_run = tracking.active_run_info()
    if mlflow_run is not None:
        mlflow_run["training_run_id"] = tracking.find_training_run(variant)
    report = build_report(
        run,
        test_inputs,
        config,
        checkpoint=checkpoint,
        training_summary=training_summary,
        mlflow_run=mlflow_run,
    )
    overall = report["overall"]
    logger.info(
        "Test exact accuracy %.4f (%d of %d, 95%% CI %.4f-%.4f), %.1f puzzles/s",
        overall["exact_accuracy"],
        overall["exact_count"],
        overall["count"],
        overall["exact_accuracy_ci_low"],
        overall["exact_accuracy_ci_high"],
        report["puzzles_per_second"] or 0.0,
    )
    tracking.log_evaluation_report(report, variant)
    return report, {**overall, "halting": report["protocol"]["halting"]}


def plot_evaluation(report: dict[str, Any]) -> tuple[Figure, Figure, Figure]:
    """Draw accuracy by supervision step, accuracy by rating and halt calibration."""
    variant = str(report.get("variant"))
    figures = plots.evaluation_figures({variant: report})
    tracking.log_figures(figures, f"{variant}/plots")
    return figures["accuracy_by_step"], figures["accuracy_by_rating"], figures["halt_calibration"]


def plot_training_history(report: dict[str, Any]) -> Figure:
    """Draw the train and eval curves of the MLflow run that trained the evaluated model."""
    variant = str(report.get("variant"))
    run_id = (report.get("mlflow_run") or {}).get("training_run_id")
    history = tracking.fetch_history(run_id) if run_id else None
    if history is not None:
        logged = tracking.variants_in_run(run_id)
        if len(logged) > 1:
            logger.warning(
                "MLflow run %s contains the training series of %s, so the curves mix them. "
                "Run each training pipeline on its own (`kedro run --pipelines=train_att`).",
                run_id,
                logged,
            )
    figure = plots.plot_training_curves({variant: history})
    tracking.log_figures({"training_curves": figure}, f"{variant}/plots")
    return figure


def evaluation_nodes() -> list[Node]:
    """Return the evaluation nodes of one variant, before namespacing."""
    return [
        Node(
            evaluate_checkpoint,
            inputs=[
                "best_model",
                "last_model",
                "test_inputs",
                "training_summary",
                "params:evaluation",
            ],
            # test_metrics stays in memory: read from the report file instead, it would make
            # kedro-viz's layers circular (models -> reporting -> models).
            outputs=["evaluation_report", "test_metrics"],
            name="evaluate_node",
        ),
        Node(
            plot_evaluation,
            inputs="evaluation_report",
            outputs=["accuracy_by_step_plot", "accuracy_by_rating_plot", "halt_calibration_plot"],
            name="plot_evaluation_node",
        ),
        Node(
            plot_training_history,
            inputs="evaluation_report",
            outputs="training_curves_plot",
            name="plot_training_curves_node",
        ),
    ]
