"""Plots and the datasets that store evaluation outputs."""

from __future__ import annotations

import pytest
from kedro.io import DatasetError
from matplotlib.figure import Figure

from trm_pipeline.evaluation import plots
from trm_pipeline.evaluation.datasets import (
    AtomicMatplotlibDataset,
    AtomicTextDataset,
    EvaluationReportDataset,
)
from trm_pipeline.evaluation.reporting import REPORT_FORMAT

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_training_curves_overlay_and_missing_history():
    history = {
        "train": {"lm_loss": [(1, 2.0), (2, 1.5)], "exact_accuracy": [(1, 0.0), (2, 0.1)]},
        "eval": {"lm_loss": [(2, 1.7)]},
    }
    figure = plots.plot_training_curves({"train_att": history, "train_mlp": None})
    panels = {axes.get_title(): axes for axes in figure.axes}
    labels = [line.get_label() for line in panels["lm_loss"].get_lines()]
    assert labels == ["train_att train", "train_att eval"]
    assert panels["lm_loss"].get_yscale() == "log"
    notes = [text.get_text() for text in panels["steps"].texts]
    assert notes == ["no train/ or eval/ series in MLflow"]


def test_plot_dataset_writes_png_without_leftovers(tmp_path):
    path = tmp_path / "plots" / "figure.png"
    figure = Figure()
    figure.subplots().plot([0, 1], [1, 0])
    AtomicMatplotlibDataset(filepath=str(path)).save(figure)
    assert path.read_bytes().startswith(PNG_SIGNATURE)
    assert [item.name for item in path.parent.iterdir()] == ["figure.png"]


def test_text_dataset_replaces_file(tmp_path):
    path = tmp_path / "report.md"
    dataset = AtomicTextDataset(filepath=str(path))
    dataset.save("# first\n")
    dataset.save("# second\n")
    assert dataset.load() == "# second\n"
    assert [item.name for item in tmp_path.iterdir()] == ["report.md"]


def test_report_dataset_names_pipeline_to_run(tmp_path):
    path = tmp_path / "evaluation_report.json"
    dataset = EvaluationReportDataset(filepath=str(path), pipeline="train_mlp")
    with pytest.raises(DatasetError, match=r"`kedro run --pipelines=train_mlp` first"):
        dataset.load()
    dataset.save({"format": REPORT_FORMAT, "overall": {"count": 3}})
    assert dataset.load()["overall"] == {"count": 3}
