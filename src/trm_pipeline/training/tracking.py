"""MLflow logging of a training run. The run itself is opened by kedro-mlflow's hook."""

from __future__ import annotations

import json
import logging
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import mlflow
import torch

logger = logging.getLogger(__name__)


def _git_commit() -> str:
    try:
        completed = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return completed.stdout.strip()


class MlflowObserver:
    """Logs metrics to the active MLflow run; does nothing when no run is active."""

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        if mlflow.active_run() is not None:
            mlflow.log_metrics(metrics, step=step)


def log_run_context(variant: str, device: str, data_source: str) -> None:
    """Tag the active run with the variant, device, git commit, torch version and data source."""
    if mlflow.active_run() is None:
        return
    mlflow.set_tags(
        {
            "variant": variant,
            "device": device,
            "git_commit": _git_commit(),
            "torch_version": torch.__version__,
            "data_source": data_source,
        }
    )


def log_run_artifacts(
    checkpoint_path: Path, config: dict[str, Any], summary: dict[str, Any], variant: str
) -> None:
    """Log the best checkpoint, the resolved config and the run summary as artifacts."""
    if mlflow.active_run() is None:
        return
    if checkpoint_path.is_file():
        mlflow.log_artifact(str(checkpoint_path), artifact_path=f"{variant}/checkpoints")
    with tempfile.TemporaryDirectory() as folder:
        config_path = Path(folder) / "config.json"
        config_path.write_text(json.dumps(config, indent=2, sort_keys=True), encoding="utf-8")
        mlflow.log_artifact(str(config_path), artifact_path=variant)
    mlflow.log_dict(summary, f"{variant}/training_summary.json")
    mlflow.log_metric(f"{variant}/num_parameters", summary["num_parameters"])
