"""Typed training settings, read from the ``training`` parameters of a variant."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from trm_pipeline.config_mapping import dataclass_from_mapping

RESUME_CHOICES = ("auto", "never")


@dataclass
class TrainingConfig:
    """Optimisation, schedule, evaluation and checkpoint settings of one training run.

    An epoch is one pass over the training groups (one augmented copy of each original
    puzzle), as in the reference; ``global_batch_size`` rows make one optimizer step.
    """

    epochs: int = 50_000
    eval_interval: int = 5_000  # epochs between evaluations; also the sampler's pass length
    max_steps: int | None = None  # stop earlier than `epochs` (None: run all epochs)
    global_batch_size: int = 768
    lr: float = 1e-4
    lr_warmup_steps: int = 2_000
    lr_schedule: str = "constant"  # "constant" after warmup (the reference) or "cosine"
    lr_min_ratio: float = 1.0
    beta1: float = 0.9
    beta2: float = 0.95
    weight_decay: float = 1.0
    task_lr: float = 1e-4  # SignSGD step of the task embedding (reference puzzle_emb_lr)
    task_weight_decay: float = 1.0
    ema: bool = True
    ema_rate: float = 0.999
    seed: int = 0
    device: str = "auto"  # auto: cuda, then mps, then cpu
    compile: str | bool = "auto"  # auto: torch.compile on CUDA only
    eval_subset_size: int | None = 2_048  # seeded test subset for periodic evaluation
    eval_batch_size: int = 768
    log_every: int = 10  # optimizer steps between train metric logs
    checkpoint_every: int = 1_000  # optimizer steps between checkpoints
    checkpoint_dir: str = "data/06_models/checkpoints"
    resume: str = "auto"  # auto: continue from the latest checkpoint in checkpoint_dir
    stop_after_steps: int | None = None  # testing aid: exit cleanly after this many steps

    def __post_init__(self) -> None:
        if self.resume not in RESUME_CHOICES:
            raise ValueError(
                f"training.resume is {self.resume!r}; use one of {', '.join(RESUME_CHOICES)}."
            )
        if self.lr_schedule not in ("constant", "cosine"):
            raise ValueError(
                f"training.lr_schedule is {self.lr_schedule!r}; use 'constant' or 'cosine'."
            )
        for name in (
            "epochs",
            "eval_interval",
            "global_batch_size",
            "log_every",
            "checkpoint_every",
            "eval_batch_size",
        ):
            if getattr(self, name) <= 0:
                raise ValueError(f"training.{name} is {getattr(self, name)}; it must be > 0.")

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> TrainingConfig:
        return dataclass_from_mapping(cls, values, "training")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
