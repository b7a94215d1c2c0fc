"""Typed settings of the data build, read from the ``data`` parameters."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from trm_pipeline.config_mapping import dataclass_from_mapping

SOURCES = ("huggingface", "csv", "generated")


def _from_mapping(cls, values: Mapping[str, Any] | None, where: str):
    """Build a dataclass from a mapping (None for all defaults), rejecting unknown keys."""
    return dataclass_from_mapping(cls, values or {}, where)


@dataclass
class HuggingFaceSource:
    repo_id: str = "sapientinc/sudoku-extreme"
    revision: str | None = None  # a commit hash pins the exact files
    train_file: str = "train.csv"
    test_file: str = "test.csv"
    cache_dir: str | None = None  # None: huggingface_hub's own cache (HF_HOME)


@dataclass
class CsvSource:
    train_path: str = "data/01_raw/train.csv"
    test_path: str = "data/01_raw/test.csv"


@dataclass
class GeneratedSource:
    num_train: int = 1000
    num_test: int = 1000
    min_givens: int = 22
    max_givens: int = 36
    seed: int = 0  # the test set uses seed + 1, so the two sets are drawn independently


@dataclass
class DataConfig:
    """Where puzzles come from and how the training and test sets are built."""

    source: str = "huggingface"
    huggingface: HuggingFaceSource = field(default_factory=HuggingFaceSource)
    csv: CsvSource = field(default_factory=CsvSource)
    generated: GeneratedSource = field(default_factory=GeneratedSource)
    on_invalid: str = "fail"  # "fail" or "skip"
    train_subsample: int | None = 1000  # None keeps every training puzzle
    test_subsample: int | None = None  # None keeps the whole test split
    min_rating: int | None = None
    num_aug: int = 1000
    seed: int = 0

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise ValueError(f"data.source is {self.source!r}; use one of {', '.join(SOURCES)}.")
        if self.num_aug < 0:
            raise ValueError(f"data.num_aug is {self.num_aug}; it must be 0 or more.")

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> DataConfig:
        values = dict(values)
        nested = {
            "huggingface": HuggingFaceSource,
            "csv": CsvSource,
            "generated": GeneratedSource,
        }
        for key, nested_cls in nested.items():
            values[key] = _from_mapping(nested_cls, values.get(key), f"data.{key}")
        return _from_mapping(cls, values, "data")
