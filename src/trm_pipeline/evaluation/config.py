"""Typed test-set evaluation settings, read from the global ``evaluation`` parameters."""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from trm_pipeline.config_mapping import dataclass_from_mapping
from trm_pipeline.model.act import HALTING_MODES
from trm_pipeline.model.config import FORWARD_DTYPES

CHECKPOINT_CHOICES = ("best", "last")
BUCKET_METHODS = ("quantile", "fixed")


def _is_positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


@dataclass
class RatingBuckets:
    """How test puzzles are grouped by difficulty rating.

    Attributes:
        method: "quantile" (``count`` buckets holding about equal numbers of puzzles; tied
            ratings merge buckets, so there may be fewer) or "fixed" (``edges``).
        count: Number of quantile buckets.
        edges: Ascending lower bounds of the fixed buckets. Bucket i contains the ratings in
            ``[edges[i], edges[i+1])``, and the last one every rating from ``edges[-1]`` up.
    """

    method: str = "quantile"
    count: int = 5
    edges: list[int] = field(default_factory=lambda: [0, 1, 10, 50, 200])

    def __post_init__(self) -> None:
        if self.method not in BUCKET_METHODS:
            raise ValueError(
                f"evaluation.rating_buckets.method is {self.method!r}; use one of "
                f"{list(BUCKET_METHODS)}."
            )
        if not _is_positive_int(self.count):
            raise ValueError(
                f"evaluation.rating_buckets.count is {self.count!r}; it must be a positive integer."
            )
        edges = list(self.edges)
        if not edges or any(isinstance(e, bool) or not isinstance(e, int) for e in edges):
            raise ValueError(
                f"evaluation.rating_buckets.edges is {self.edges!r}; it must be a non-empty "
                "list of integers such as [0, 1, 10, 50, 200]."
            )
        if any(high <= low for low, high in itertools.pairwise(edges)):
            raise ValueError(
                f"evaluation.rating_buckets.edges {edges} must be strictly increasing."
            )


@dataclass
class EvaluationConfig:
    """Settings of the test-set evaluation that follows training.

    Attributes:
        checkpoint: "best" (EMA weights at the best periodic evaluation) or "last".
        halting: "fixed" (every puzzle runs the full step budget, the reference protocol) or
            "learned" (a puzzle stops at the first step whose halt logit is positive).
        max_steps: Supervision step budget; None means N_sup. It may exceed N_sup.
        max_puzzles: Evaluate a seeded random subset of this many test puzzles; None
            evaluates the whole test split.
        seed: Seed of that subset.
        batch_size: Puzzles per forward call, or "auto": on CUDA start at a large batch and
            halve it on out-of-memory errors, elsewhere use a fixed default.
        device: "auto" (CUDA, then MPS, then CPU) or a torch device string.
        forward_dtype: Activation dtype, or "auto": the checkpoint's dtype. Either way
            bfloat16 runs as float32 where the device lacks native bfloat16 support.
        rating_buckets: Grouping of puzzles by difficulty rating.
        calibration_bins: Equal-width bins of the predicted halt probability.
        progress: Show a progress bar.
    """

    checkpoint: str = "best"
    halting: str = "fixed"
    max_steps: int | None = None
    max_puzzles: int | None = None
    seed: int = 0
    batch_size: int | str = "auto"
    device: str = "auto"
    forward_dtype: str = "auto"
    rating_buckets: RatingBuckets = field(default_factory=RatingBuckets)
    calibration_bins: int = 10
    progress: bool = True

    def __post_init__(self) -> None:
        if isinstance(self.rating_buckets, Mapping):
            self.rating_buckets = _build(RatingBuckets, self.rating_buckets, "rating_buckets")
        _check_choice("checkpoint", self.checkpoint, CHECKPOINT_CHOICES)
        _check_choice("halting", self.halting, HALTING_MODES)
        _check_choice("forward_dtype", self.forward_dtype, ("auto", *FORWARD_DTYPES))
        for name in ("max_steps", "max_puzzles"):
            value = getattr(self, name)
            if value is not None and not _is_positive_int(value):
                raise ValueError(f"evaluation.{name} is {value!r}; use a positive integer or null.")
        if self.batch_size != "auto" and not _is_positive_int(self.batch_size):
            raise ValueError(
                f"evaluation.batch_size is {self.batch_size!r}; use 'auto' or a positive integer."
            )
        if not _is_positive_int(self.calibration_bins):
            raise ValueError(
                f"evaluation.calibration_bins is {self.calibration_bins!r}; it must be a "
                "positive integer."
            )

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> EvaluationConfig:
        """Build the config from the ``evaluation`` parameters, rejecting unknown keys."""
        return _build(cls, values, "")

    def to_dict(self) -> dict[str, Any]:
        """Return the settings as plain values, as they are stored in the report."""
        return dataclasses.asdict(self)


def _build(cls: type, values: Mapping[str, Any], prefix: str) -> Any:
    where = f"evaluation.{prefix}" if prefix else "evaluation"
    return dataclass_from_mapping(cls, values, where)


def _check_choice(name: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"evaluation.{name} is {value!r}; use one of {list(allowed)}.")
