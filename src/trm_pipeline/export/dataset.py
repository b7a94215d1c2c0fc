"""Kedro dataset for an ONNX model in one self-contained file, written atomically."""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any

import onnx
from kedro.io import AbstractDataset, DatasetError

from trm_pipeline.atomic import write_atomic
from trm_pipeline.export.runtime import PIPELINE_HINT


class OnnxModelDataset(AbstractDataset[onnx.ModelProto, onnx.ModelProto]):
    """An ``onnx.ModelProto`` saved as one ``.onnx`` file (weights inside, no external data).

    Example catalog entry::

        "{variant}.onnx_model":
          type: trm_pipeline.export.dataset.OnnxModelDataset
          filepath: data/06_models/{variant}/model.onnx

    Saving writes a temporary file beside the target and renames it, so the solver page never
    sees a half-written model.
    """

    def __init__(self, *, filepath: str, metadata: dict[str, Any] | None = None) -> None:
        self._filepath = PurePosixPath(filepath)
        self.metadata = metadata

    def load(self) -> onnx.ModelProto:
        path = Path(self._filepath)
        if not path.is_file():
            raise DatasetError(f"{path} not found; export a model first with `{PIPELINE_HINT}`.")
        return onnx.load_model(path, load_external_data=False)

    def save(self, data: onnx.ModelProto) -> None:
        if not isinstance(data, onnx.ModelProto):
            raise DatasetError(
                f"OnnxModelDataset saves an onnx.ModelProto, got {type(data).__name__}."
            )
        write_atomic(
            self._filepath,
            lambda temporary: onnx.save_model(data, temporary, save_as_external_data=False),
        )

    def _exists(self) -> bool:
        return Path(self._filepath).is_file()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath)}
