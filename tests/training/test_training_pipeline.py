"""train_att and train_mlp through KedroSession, logged to a temporary MLflow store."""

from __future__ import annotations

import hashlib
import json
import math

import mlflow
import onnx
import pytest
import torch

from app import app as solver_app
from trm_pipeline.model.network import TinyRecursiveModel
from trm_pipeline.training.checkpoints import (
    TRAINING_STATE_FILE,
    build_model_from_checkpoint,
    load_checkpoint,
)
from trm_pipeline.training.loop import NonFiniteLossError, Trainer

REFERENCE_METRICS = (
    "lm_loss",
    "q_halt_loss",
    "q_halt_accuracy",
    "accuracy",
    "exact_accuracy",
    "steps",
)


def only_run(experiment: str = "trm_pipeline") -> mlflow.entities.Run:
    runs = mlflow.search_runs(experiment_names=[experiment], output_format="list")
    assert len(runs) == 1
    return runs[0]


@pytest.mark.slow
@pytest.mark.parametrize(("pipeline", "mlp_t"), [("train_att", False), ("train_mlp", True)])
def test_training_pipeline_logs_to_mlflow(run_pipeline, kedro_project, pipeline, mlp_t):
    run_pipeline(pipeline)

    mlflow.set_tracking_uri(f"sqlite:///{kedro_project / 'mlflow.db'}")
    run = only_run()
    assert run.info.run_name == pipeline
    assert run.info.status == "FINISHED"
    client = mlflow.MlflowClient()
    for name in REFERENCE_METRICS:
        history = client.get_metric_history(run.info.run_id, f"train/{name}")
        assert len(history) >= 8, name  # conf/test: 16 steps, logged every step
        assert client.get_metric_history(run.info.run_id, f"eval/{name}"), name
    assert run.data.params[f"{pipeline}.model.hidden_size"] == "32"
    assert run.data.tags["variant"] == pipeline.removeprefix("train_")
    assert run.data.metrics[f"{pipeline.removeprefix('train_')}/num_parameters"] > 0
    assert run.data.tags["device"] == "cpu"
    assert run.data.tags["data_source"] == "generated"
    assert {"git_commit", "torch_version"} <= set(run.data.tags)
    variant = pipeline.removeprefix("train_")
    artifacts = {item.path for item in client.list_artifacts(run.info.run_id, variant)}
    assert f"{variant}/config.json" in artifacts
    assert f"{variant}/training_summary.json" in artifacts
    checkpoints = client.list_artifacts(run.info.run_id, f"{variant}/checkpoints")
    assert [item.path for item in checkpoints] == [f"{variant}/checkpoints/best.pt"]

    best = load_checkpoint(kedro_project / "data/06_models" / pipeline / "best_model.pt")
    model = build_model_from_checkpoint(best)
    assert isinstance(model, TinyRecursiveModel)
    assert model.config.mlp_t is mlp_t
    assert 0.0 <= best["eval_metrics"]["exact_accuracy"] <= 1.0

    report_path = kedro_project / "data/08_reporting" / pipeline / "evaluation_report.json"
    report = json.loads(report_path.read_text())
    exported = onnx.load(kedro_project / "data/06_models" / pipeline / "model.onnx")
    props = {prop.key: prop.value for prop in exported.metadata_props}
    assert float(props["test_exact_accuracy"]) == report["overall"]["exact_accuracy"]
    assert props["test_eval_count"] == str(report["overall"]["count"])
    assert props["test_halting"] == report["protocol"]["halting"]

    # The int8 copy is written beside model.onnx, made from that file, and verified.
    model_dir = kedro_project / "data/06_models" / pipeline
    int8 = onnx.load(model_dir / "model_int8.onnx")
    int8_props = {prop.key: prop.value for prop in int8.metadata_props}
    assert int8_props["export_dtype"] == "int8-dynamic"
    source_sha256 = hashlib.sha256((model_dir / "model.onnx").read_bytes()).hexdigest()
    assert int8_props["float32_sha256"] == source_sha256
    verification_path = kedro_project / "data/08_reporting" / pipeline / "onnx_verification.json"
    verification = json.loads(verification_path.read_text())
    assert verification["passed"] is True
    assert 0.0 <= verification["int8"]["blank_accuracy"] <= 1.0
    assert verification["onnx_sha256"] == source_sha256
    int8_sha256 = hashlib.sha256((model_dir / "model_int8.onnx").read_bytes()).hexdigest()
    assert verification["int8"]["sha256"] == int8_sha256
    # The solver page finds both files checked, and serves the int8 copy by default.
    reports_dir = kedro_project / "data/08_reporting"
    paths = [model_dir / "model.onnx", model_dir / "model_int8.onnx"]
    for path in paths:
        served, warnings = solver_app.load_models([path], "cpu", reports_dir=reports_dir)
        assert len(served) == 1
        assert warnings == []
    default = solver_app.find_exports(kedro_project / "data/06_models", "auto", reports_dir)
    assert model_dir / "model_int8.onnx" in default
    assert f"{variant}/onnx_int8_blank_accuracy" in run.data.metrics
    logged = mlflow.search_logged_models(
        experiment_ids=[run.info.experiment_id], output_format="list"
    )
    assert sorted(model.name for model in logged) == [f"trm_{variant}", f"trm_{variant}_int8"]


def test_non_finite_loss_stops_and_keeps_checkpoint(tmp_path):
    from tests.training.run_training import tiny_inputs, tiny_model_config, tiny_training_config

    config = tiny_training_config(tmp_path, checkpoint_every=2, log_every=1)
    trainer = Trainer(tiny_model_config(), config, tiny_inputs(8, 0, 1), tiny_inputs(8, 1, 0))
    for _ in range(2):
        trainer.train_step()
    trainer.save_training_state()
    saved = (tmp_path / TRAINING_STATE_FILE).read_bytes()
    with torch.no_grad():
        trainer.model.lm_head.weight.fill_(math.nan)
    with pytest.raises(NonFiniteLossError, match=r"loss is nan at step 3.*last good checkpoint"):
        trainer.train_step()
    assert (tmp_path / TRAINING_STATE_FILE).read_bytes() == saved
    assert trainer.step == 2


def test_resume_rejects_other_model_config(tmp_path):
    from tests.training.run_training import tiny_inputs, tiny_model_config, tiny_training_config

    config = tiny_training_config(tmp_path)
    train, test = tiny_inputs(8, 0, 1), tiny_inputs(8, 1, 0)
    Trainer(tiny_model_config(), config, train, test).save_training_state()
    other = Trainer(tiny_model_config(hidden_size=64), config, train, test)
    with pytest.raises(ValueError, match=r"different model config \(changed: \['hidden_size'\]\)"):
        other.resume_if_possible()


def test_invalid_parameters_stop_before_nodes(run_pipeline, kedro_project):
    params = {"train_att.training.learning_rate": 1e-3, "export.min_identical_digits": 2}
    with pytest.raises(ValueError, match="Invalid parameters, found before the run") as stopped:
        run_pipeline("train_att", params=params)
    message = str(stopped.value)
    assert "params:train_att.training" in message
    assert "learning_rate" in message
    assert "params:export" in message
    assert "min_identical_digits" in message
    # Nothing ran: the data pipeline's first outputs are missing.
    assert list((kedro_project / "data" / "03_primary").iterdir()) == []
