"""Kedro datasets for numpy arrays and model inputs, written atomically."""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
from kedro.io import AbstractDataset, DatasetError

from trm_pipeline.atomic import write_atomic

METADATA_KEY = "__metadata_json__"


class NpzDataset(AbstractDataset[dict, dict]):
    """A dict of numpy arrays (plus JSON-serializable scalars under ``metadata``) in a ``.npz``.

    Example catalog entry::

        train_puzzles:
          type: trm_pipeline.datasets.NpzDataset
          filepath: data/03_primary/train_puzzles.npz

    Arrays are stored without pickling, so string arrays must be numpy unicode arrays. A
    ``metadata`` dict entry is stored as JSON text. Saving writes a temporary file and
    renames it, so an interrupted run never leaves a truncated file in place.
    """

    def __init__(self, *, filepath: str, metadata: dict[str, Any] | None = None) -> None:
        self._filepath = PurePosixPath(filepath)
        self.metadata = metadata

    def load(self) -> dict:
        path = Path(self._filepath)
        if not path.is_file():
            raise DatasetError(f"{path} not found; run the pipeline that writes it first.")
        with np.load(path, allow_pickle=False) as archive:
            data: dict[str, Any] = {key: archive[key] for key in archive.files}
        if METADATA_KEY in data:
            data["metadata"] = json.loads(str(data.pop(METADATA_KEY)))
        return data

    def save(self, data: dict) -> None:
        arrays = {key: np.asarray(value) for key, value in data.items() if key != "metadata"}
        if "metadata" in data:
            arrays[METADATA_KEY] = np.array(json.dumps(data["metadata"], sort_keys=True))
        for key, value in arrays.items():
            if value.dtype == object:
                raise DatasetError(
                    f"Array {key!r} has dtype object, which .npz cannot store without pickle; "
                    "convert it to a numeric or unicode (str) array."
                )

        def write(temporary: Path) -> None:
            with temporary.open("wb") as handle:
                np.savez(handle, **arrays)

        write_atomic(self._filepath, write)

    def _exists(self) -> bool:
        return Path(self._filepath).is_file()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath)}


class ModelInputDataset(NpzDataset):
    """Token arrays of one split with their metadata record (vocab, token map, counts, seeds).

    The file holds ``inputs`` and ``labels`` ([N, 81] uint8 tokens), ``group_indices``,
    ``ratings``, ``sources`` and ``metadata``. Loading checks that these keys are present.
    """

    REQUIRED_KEYS = ("inputs", "labels", "group_indices", "metadata")

    def load(self) -> dict:
        data = super().load()
        missing = [key for key in self.REQUIRED_KEYS if key not in data]
        if missing:
            raise DatasetError(
                f"{self._filepath} lacks {missing}; it was not written by the data_processing "
                "pipeline. Rerun `kedro run --pipelines=data_processing`."
            )
        return data


class JsonDataset(AbstractDataset[dict, dict]):
    """A JSON document (a report or a metrics record), written atomically."""

    def __init__(self, *, filepath: str, metadata: dict[str, Any] | None = None) -> None:
        self._filepath = PurePosixPath(filepath)
        self.metadata = metadata

    def load(self) -> dict:
        path = Path(self._filepath)
        if not path.is_file():
            raise DatasetError(f"{path} not found; run the pipeline that writes it first.")
        return json.loads(path.read_text(encoding="utf-8"))

    def save(self, data: dict) -> None:
        text = json.dumps(data, indent=2, sort_keys=True) + "\n"
        write_atomic(self._filepath, lambda temporary: temporary.write_text(text, "utf-8"))

    def _exists(self) -> bool:
        return Path(self._filepath).is_file()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath)}


class TorchCheckpointDataset(AbstractDataset[dict, dict]):
    """A model checkpoint (weights plus config and dataset metadata) saved with ``torch.save``.

    Loading uses ``weights_only=True``: the file may hold tensors and plain Python values only.
    """

    def __init__(self, *, filepath: str, metadata: dict[str, Any] | None = None) -> None:
        self._filepath = PurePosixPath(filepath)
        self.metadata = metadata

    def load(self) -> dict:
        from trm_pipeline.training.checkpoints import load_checkpoint

        return load_checkpoint(Path(self._filepath))

    def save(self, data: dict) -> None:
        from trm_pipeline.training.checkpoints import save_checkpoint

        save_checkpoint(Path(self._filepath), data)

    def _exists(self) -> bool:
        return Path(self._filepath).is_file()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath)}
