"""Typed settings of the ONNX export and its verification, read from ``params:export``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from trm_pipeline.config_mapping import dataclass_from_mapping
from trm_pipeline.export.onnx_export import OPSET_VERSION
from trm_pipeline.export.verification import Tolerance


@dataclass(frozen=True)
class ExportConfig:
    """Settings under the global ``export:`` key.

    Attributes:
        opset_version: ONNX opset of the exported graph.
        verify_num_puzzles: Test puzzles compared between onnxruntime and PyTorch.
        verify_seed: Seed of the draw of those puzzles.
        max_abs_logit_diff: The run fails above this |onnxruntime - PyTorch| logit difference,
            measured with both engines running each step from the same y and z.
        min_identical_digits: The run fails below this share of identical predicted digits,
            measured with each engine carrying its own y and z.
        int8_max_blank_accuracy_drop: The run fails when the int8 copy's blank-cell accuracy
            on those puzzles is more than this fraction below PyTorch's (float32).
        log_model: Log the ONNX model to the active MLflow run (mlflow.onnx.log_model).
    """

    opset_version: int = OPSET_VERSION
    verify_num_puzzles: int = 64
    verify_seed: int = 0
    max_abs_logit_diff: float = 1e-3
    min_identical_digits: float = 0.999
    int8_max_blank_accuracy_drop: float = 0.01
    log_model: bool = True

    def __post_init__(self) -> None:
        if self.verify_num_puzzles < 1:
            raise ValueError(
                f"export.verify_num_puzzles is {self.verify_num_puzzles}; it must be >= 1."
            )
        if not self.max_abs_logit_diff > 0 or not 0 <= self.min_identical_digits <= 1:
            raise ValueError(
                "export.max_abs_logit_diff must be > 0 and export.min_identical_digits in "
                f"[0, 1], got {self.max_abs_logit_diff!r} and {self.min_identical_digits!r}."
            )
        if not 0 <= self.int8_max_blank_accuracy_drop <= 1:
            raise ValueError(
                "export.int8_max_blank_accuracy_drop is "
                f"{self.int8_max_blank_accuracy_drop!r}; give a fraction in [0, 1], e.g. 0.01."
            )

    @property
    def tolerance(self) -> Tolerance:
        return Tolerance(
            self.max_abs_logit_diff, self.min_identical_digits, self.int8_max_blank_accuracy_drop
        )

    @classmethod
    def from_dict(cls, values: Mapping[str, Any] | None) -> ExportConfig:
        """Build from ``params:export``, rejecting unknown keys."""
        return dataclass_from_mapping(cls, values or {}, "export")
