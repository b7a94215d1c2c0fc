"""The evaluate nodes of the training pipelines and the compare pipeline, through KedroSession."""

from __future__ import annotations

import json

import mlflow
import pytest
from kedro.io import DatasetError

from trm_pipeline.evaluation.reporting import REPORT_FORMAT

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
VARIANT_PLOTS = ("training_curves", "accuracy_by_step", "accuracy_by_rating", "halt_calibration")


def train_and_evaluate(project, pipeline: str) -> None:
    """Run ``pipeline`` in conf/test up to its plots (not its export nodes), for four steps."""
    from kedro.framework.session import KedroSession

    params = {pipeline: {"training": {"epochs": 2, "eval_interval": 2}}}
    with KedroSession.create(project_path=project, env="test", runtime_params=params) as session:
        session.run(
            pipeline_names=[pipeline],
            to_nodes=[f"{pipeline}.plot_evaluation_node", f"{pipeline}.plot_training_curves_node"],
        )


def runs_by_name() -> dict[str, mlflow.entities.Run]:
    runs = mlflow.search_runs(experiment_names=["trm_pipeline"], output_format="list")
    return {run.info.run_name: run for run in runs}


def check_variant_outputs(project, pipeline: str, run: mlflow.entities.Run) -> dict:
    folder = project / "data" / "08_reporting" / pipeline
    report = json.loads((folder / "evaluation_report.json").read_text())
    assert report["format"] == REPORT_FORMAT
    assert report["overall"]["count"] == 8  # conf/test: max_puzzles 8 of 12 test puzzles
    assert report["protocol"]["halting"] == "fixed"
    assert len(report["exact_accuracy_by_step"]) == 2  # conf/test: N_sup = 2
    assert report["mlflow_run"]["training_run_id"] == run.info.run_id
    for name in VARIANT_PLOTS:
        assert (folder / f"{name}.png").read_bytes().startswith(PNG_SIGNATURE), name

    assert run.data.metrics["test/count"] == 8
    assert run.data.metrics["test/exact_accuracy"] == report["overall"]["exact_accuracy"]
    variant = report["variant"]
    client = mlflow.MlflowClient()
    artifacts = {item.path for item in client.list_artifacts(run.info.run_id, variant)}
    assert f"{variant}/evaluation_report.json" in artifacts
    plots = {item.path for item in client.list_artifacts(run.info.run_id, f"{variant}/plots")}
    assert plots == {f"{variant}/plots/{name}.png" for name in VARIANT_PLOTS}
    curve = client.get_metric_history(run.info.run_id, "test/exact_accuracy_by_step")
    assert sorted(point.step for point in curve) == [1, 2]
    return report


@pytest.mark.slow
def test_training_evaluation_then_compare(run_pipeline, kedro_project):
    train_and_evaluate(kedro_project, "train_att")
    train_and_evaluate(kedro_project, "train_mlp")
    run_pipeline("compare")

    mlflow.set_tracking_uri(f"sqlite:///{kedro_project / 'mlflow.db'}")
    runs = runs_by_name()
    att = check_variant_outputs(kedro_project, "train_att", runs["train_att"])
    mlp = check_variant_outputs(kedro_project, "train_mlp", runs["train_mlp"])

    folder = kedro_project / "data" / "08_reporting" / "compare"
    markdown = (folder / "report.md").read_text()
    assert markdown.startswith("# train_att vs train_mlp on the Sudoku test set")
    assert "| parameters | " in markdown
    assert f"{att['training']['num_parameters']:,}" in markdown
    assert f"{mlp['training']['num_parameters']:,}" in markdown
    assert f"`{runs['train_att'].info.run_id}` (FINISHED)" in markdown
    assert "**Note:**" not in markdown  # same test puzzles and protocol, finished runs
    for name in VARIANT_PLOTS:
        assert f"]({name}.png)" in markdown
        assert (folder / f"{name}.png").read_bytes().startswith(PNG_SIGNATURE), name

    compare_run = runs["compare"]
    assert compare_run.info.status == "FINISHED"
    artifacts = mlflow.MlflowClient().list_artifacts(compare_run.info.run_id, "compare")
    assert {item.path for item in artifacts} == {
        "compare/report.md",
        *(f"compare/{name}.png" for name in VARIANT_PLOTS),
    }


def test_compare_names_the_missing_pipeline(run_pipeline, kedro_project):
    folder = kedro_project / "data" / "08_reporting" / "train_att"
    folder.mkdir(parents=True)
    (folder / "evaluation_report.json").write_text(json.dumps({"format": REPORT_FORMAT}))
    with pytest.raises(DatasetError, match=r"run `kedro run --pipelines=train_mlp` first"):
        run_pipeline("compare")


def test_compare_rejects_foreign_report(run_pipeline, kedro_project):
    for pipeline in ("train_att", "train_mlp"):
        folder = kedro_project / "data" / "08_reporting" / pipeline
        folder.mkdir(parents=True)
        (folder / "evaluation_report.json").write_text(json.dumps({"steps": 3}))
    with pytest.raises(DatasetError, match="is not an evaluation report in format"):
        run_pipeline("compare")
