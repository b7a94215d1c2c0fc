"""MLflow logging of the export: the ONNX model and the verification figures."""

from __future__ import annotations

import logging
from typing import Any

import mlflow
import onnx

logger = logging.getLogger(__name__)


def active_run_id() -> str:
    """The id of the active MLflow run, or "" when none is active."""
    run = mlflow.active_run()
    return run.info.run_id if run is not None else ""


def log_onnx_model(proto: onnx.ModelProto, variant: str, suffix: str = "") -> None:
    """Log the model to MLflow as ``trm_<variant><suffix>``, one file with no external data."""
    if mlflow.active_run() is None:
        return
    info = mlflow.onnx.log_model(
        onnx_model=proto,
        name=f"trm_{variant}{suffix}",
        save_as_external_data=False,
        onnx_execution_providers=["CPUExecutionProvider"],
        metadata={key: value for key, value in _props(proto).items() if key != "initial_state"},
    )
    logger.info("Logged the ONNX model to MLflow as %s", info.model_uri)


def _props(proto: onnx.ModelProto) -> dict[str, str]:
    return {prop.key: prop.value for prop in proto.metadata_props}


def log_verification(report: dict[str, Any], variant: str) -> None:
    """Log the verification figures as metrics and the report as a JSON artifact."""
    if mlflow.active_run() is None:
        return
    metrics = {
        f"{variant}/onnx_max_abs_logit_diff": report["max_abs_logit_diff"],
        f"{variant}/onnx_max_abs_halt_logit_diff": report["max_abs_halt_logit_diff"],
        f"{variant}/onnx_free_running_max_abs_logit_diff": report[
            "free_running_max_abs_logit_diff"
        ],
        f"{variant}/onnx_identical_digits": report["identical_digits"],
    }
    int8 = report.get("int8")
    if int8 is not None:
        for name in ("identical_digits", "exact_accuracy", "blank_accuracy", "blank_accuracy_drop"):
            metrics[f"{variant}/onnx_int8_{name}"] = int8[name]
    mlflow.log_metrics(metrics)
    mlflow.log_dict(report, f"{variant}/onnx_verification.json")
