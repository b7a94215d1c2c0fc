"""MLflow side of evaluation: log reports and figures, read back training histories.

Runs are opened by kedro-mlflow's hook; every logging function does nothing when no run is
active, so evaluation also works with tracking turned off.
"""

from __future__ import annotations

import logging
from typing import Any

import mlflow
from matplotlib.figure import Figure
from mlflow.exceptions import MlflowException

from trm_pipeline.evaluation.reporting import LOGGED_METRICS

logger = logging.getLogger(__name__)

# Series drawn in the training-curve plots; the training loop logs each as train/<name> and
# eval/<name>.
CURVE_METRICS = ("lm_loss", "q_halt_loss", "accuracy", "exact_accuracy", "q_halt_accuracy", "steps")
CURVE_SPLITS = ("train", "eval")

# History of one run: split ("train" or "eval") -> metric -> [(step, value), ...].
History = dict[str, dict[str, list[tuple[int, float]]]]


def active_run_info() -> dict[str, Any] | None:
    """Return the id, name, experiment and tracking URI of the active run, or None."""
    run = mlflow.active_run()
    if run is None:
        return None
    return {
        "run_id": run.info.run_id,
        "run_name": run.info.run_name,
        "experiment_id": run.info.experiment_id,
        "tracking_uri": mlflow.get_tracking_uri(),
    }


def find_training_run(variant: str) -> str | None:
    """Return the id of the MLflow run that trained ``variant``, or None.

    That is the active run when it trained the variant (a full ``kedro run`` of a training
    pipeline). Otherwise, for example when only the evaluation nodes were rerun with
    ``--from-nodes``, it is the newest run of the active experiment that logged
    ``<variant>/num_parameters``, which the training node logs when training ends.
    """
    active = mlflow.active_run()
    if active is None:
        return None
    client = mlflow.MlflowClient()
    marker = f"{variant}/num_parameters"
    if marker in client.get_run(active.info.run_id).data.metrics:
        return active.info.run_id
    # NOTE: this assumes the newest training run of the variant wrote the evaluated checkpoint.
    runs = client.search_runs(
        [active.info.experiment_id],
        filter_string=f"metrics.`{marker}` > 0",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    if not runs:
        return None
    logger.info("Training curves of %s come from the earlier run %s", variant, runs[0].info.run_id)
    return runs[0].info.run_id


def log_evaluation_report(report: dict[str, Any], variant: str) -> None:
    """Log ``test/<metric>``, the per-step curve as a step series, and the report as JSON."""
    if mlflow.active_run() is None:
        return
    overall = report["overall"]
    metrics = {f"test/{name}": float(overall[name]) for name in LOGGED_METRICS if name in overall}
    metrics["test/halt_calibration_error"] = report["halt_calibration"][
        "expected_calibration_error"
    ]
    mlflow.log_metrics(metrics)
    for step, value in enumerate(report["exact_accuracy_by_step"], start=1):
        mlflow.log_metric("test/exact_accuracy_by_step", value, step=step)
    mlflow.log_dict(report, f"{variant}/evaluation_report.json")


def log_figures(figures: dict[str, Figure], folder: str) -> None:
    """Log each figure as ``<folder>/<name>.png`` to the active run."""
    if mlflow.active_run() is None:
        return
    for name, figure in figures.items():
        mlflow.log_figure(figure, f"{folder}/{name}.png")


def log_text(text: str, path: str) -> None:
    """Log ``text`` as the artifact ``path`` of the active run."""
    if mlflow.active_run() is not None:
        mlflow.log_text(text, path)


def variants_in_run(run_id: str) -> list[str]:
    """Return the variants that logged ``<variant>/num_parameters`` to the run.

    ``kedro run`` without ``--pipelines`` trains both variants in one run, so their
    ``train/`` and ``eval/`` series interleave; two names here reveal that.
    """
    metrics = mlflow.MlflowClient().get_run(run_id).data.metrics
    return sorted(name.split("/")[0] for name in metrics if name.endswith("/num_parameters"))


def fetch_history(run_id: str, metrics: tuple[str, ...] = CURVE_METRICS) -> History | None:
    """Read the train and eval series of a run from the current tracking store.

    Returns:
        The series sorted by step, or None (with a warning) when the run is not in the store.
    """
    client = mlflow.MlflowClient()
    try:
        client.get_run(run_id)
    except MlflowException as error:
        logger.warning(
            "MLflow run %s not found in %s (%s); its training curves are left out.",
            run_id,
            mlflow.get_tracking_uri(),
            error,
        )
        return None
    history: History = {}
    for split in CURVE_SPLITS:
        history[split] = {}
        for name in metrics:
            points = client.get_metric_history(run_id, f"{split}/{name}")
            series = sorted((point.step, point.value) for point in points)
            if series:
                history[split][name] = series
    return history


def run_status(run_id: str) -> str | None:
    """Return the status of a run (FINISHED, RUNNING, FAILED, ...), or None if it is missing."""
    try:
        return mlflow.MlflowClient().get_run(run_id).info.status
    except MlflowException:
        return None
