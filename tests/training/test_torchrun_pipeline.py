"""The README's torchrun command: two gloo processes run train_att through Kedro."""

from __future__ import annotations

import json
import os
import subprocess

import mlflow
import pytest

from tests.training.torchrun import torchrun_command
from trm_pipeline.hooks import DistributedRunHooks
from trm_pipeline.training_pipeline.pipeline import create_training_pipeline


@pytest.mark.slow
def test_torchrun_one_mlflow_run(kedro_project):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    completed = subprocess.run(
        torchrun_command("-m", "trm_pipeline", "--pipelines=train_att", "--env", "test"),
        capture_output=True,
        text=True,
        timeout=900,
        env=env,
        cwd=kedro_project,
        check=False,
    )
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output[-4000:]
    assert "Rank 1 finished training" in output

    summary_path = kedro_project / "data/08_reporting/train_att/training_summary.json"
    summary = json.loads(summary_path.read_text())
    assert summary["world_size"] == 2
    assert summary["steps"] == summary["total_steps"]
    assert (kedro_project / "data/06_models/train_att/model.onnx").is_file()

    mlflow.set_tracking_uri(f"sqlite:///{kedro_project / 'mlflow.db'}")
    runs = mlflow.search_runs(search_all_experiments=True, output_format="list")
    assert [(run.info.run_name, run.info.status) for run in runs] == [("train_att", "FINISHED")]


def test_torchrun_rejects_two_variants(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    pipeline = create_training_pipeline("train_att") + create_training_pipeline("train_mlp")
    with pytest.raises(ValueError, match="train one variant per torchrun command"):
        DistributedRunHooks().before_pipeline_run(run_params={}, pipeline=pipeline)


def test_single_process_accepts_both_variants(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    pipeline = create_training_pipeline("train_att") + create_training_pipeline("train_mlp")
    DistributedRunHooks().before_pipeline_run(run_params={}, pipeline=pipeline)
