"""Tiny Recursive Model (TRM) for Sudoku in plain PyTorch.

Paper symbols: answer y, latent z, T = ``num_deep_recursions``, n = ``num_latent_steps`` and
N_sup = ``num_supervision_steps``.
"""

from trm_pipeline.model.act import ACTCarry, act_step, initial_carry, run_to_halt
from trm_pipeline.model.checkpoint import (
    check_dataset_metadata,
    load_model_state,
    strip_compile_prefix,
)
from trm_pipeline.model.config import TRMConfig
from trm_pipeline.model.device import maybe_compile, resolve_device, resolve_forward_dtype
from trm_pipeline.model.ema import EMA
from trm_pipeline.model.losses import (
    act_loss,
    normalize_metrics,
    softmax_cross_entropy,
    stablemax_cross_entropy,
)
from trm_pipeline.model.network import (
    StepOutput,
    TinyRecursiveModel,
    count_parameters,
    dense_parameters,
    task_parameters,
)
from trm_pipeline.model.optim import AdamATan2, SignSGD, learning_rate_factor

__all__ = [
    "EMA",
    "ACTCarry",
    "AdamATan2",
    "SignSGD",
    "StepOutput",
    "TRMConfig",
    "TinyRecursiveModel",
    "act_loss",
    "act_step",
    "check_dataset_metadata",
    "count_parameters",
    "dense_parameters",
    "initial_carry",
    "learning_rate_factor",
    "load_model_state",
    "maybe_compile",
    "normalize_metrics",
    "resolve_device",
    "resolve_forward_dtype",
    "run_to_halt",
    "softmax_cross_entropy",
    "stablemax_cross_entropy",
    "strip_compile_prefix",
    "task_parameters",
]
