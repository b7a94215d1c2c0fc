"""Kedro datasets of the evaluation outputs: plots, Markdown and reports, written atomically."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from kedro.io import DatasetError
from kedro_datasets.matplotlib import MatplotlibDataset
from kedro_datasets.text import TextDataset
from matplotlib.figure import Figure

from trm_pipeline.atomic import write_atomic, write_text_atomic
from trm_pipeline.datasets import JsonDataset
from trm_pipeline.evaluation.reporting import REPORT_FORMAT


class AtomicMatplotlibDataset(MatplotlibDataset):
    """``matplotlib.MatplotlibDataset`` whose local files appear only once fully written.

    Example catalog entry::

        "{variant}.accuracy_by_step_plot":
          type: trm_pipeline.evaluation.datasets.AtomicMatplotlibDataset
          filepath: data/08_reporting/{variant}/accuracy_by_step.png

    Files on other fsspec protocols are written as ``MatplotlibDataset`` writes them.
    """

    def _save_to_fs(self, full_key_path: str, plot: Figure) -> None:
        if self._protocol != "file":
            super()._save_to_fs(full_key_path, plot)
            return
        buffer = io.BytesIO()
        plot.savefig(buffer, **self._save_args)
        write_atomic(full_key_path, lambda temporary: temporary.write_bytes(buffer.getvalue()))


class AtomicTextDataset(TextDataset):
    """``text.TextDataset`` whose local files are written to a temporary file and renamed."""

    def save(self, data: str) -> None:
        if self._protocol != "file":
            super().save(data)
            return
        write_text_atomic(self._get_save_path(), data)
        self._invalidate_cache()


class EvaluationReportDataset(JsonDataset):
    """The JSON report of a training pipeline's ``evaluate`` node.

    Loading a missing or foreign file raises an error that names the pipeline to run.

    Example catalog entry::

        "{variant}.evaluation_report":
          type: trm_pipeline.evaluation.datasets.EvaluationReportDataset
          filepath: data/08_reporting/{variant}/evaluation_report.json
          pipeline: "{variant}"
    """

    def __init__(
        self, *, filepath: str, pipeline: str, metadata: dict[str, Any] | None = None
    ) -> None:
        super().__init__(filepath=filepath, metadata=metadata)
        self._pipeline = pipeline

    def load(self) -> dict:
        path = Path(self._filepath)
        rerun = (
            f"run `kedro run --pipelines={self._pipeline}` first (add `--env quick` for a "
            "small offline run)"
        )
        if not path.is_file():
            raise DatasetError(f"No evaluation report of {self._pipeline} at {path}: {rerun}.")
        report = super().load()
        if report.get("format") != REPORT_FORMAT:
            raise DatasetError(
                f"{path} is not an evaluation report in format {REPORT_FORMAT!r} (found "
                f"{report.get('format')!r}); {rerun}."
            )
        return report

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath), "pipeline": self._pipeline}
