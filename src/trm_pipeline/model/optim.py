"""Optimizers and learning-rate schedule of the reference TRM training, in plain PyTorch.

``AdamATan2`` reproduces the update rule of the ``adam-atan2`` package (0.0.3), which ships only
as a CUDA extension, so it also runs on CPU and MPS.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import torch
from torch import Tensor
from torch.optim import Optimizer

LR_SCHEDULES = ("constant", "cosine")


def _check_hyperparameters(lr: float, weight_decay: float) -> None:
    if lr < 0:
        raise ValueError(f"lr must be >= 0, got {lr!r}.")
    if weight_decay < 0:
        raise ValueError(f"weight_decay must be >= 0, got {weight_decay!r}.")


class AdamATan2(Optimizer):
    """Adam with ``atan2`` in place of the epsilon-guarded division, and decoupled weight decay.

    Per parameter and step t::

        p <- p * (1 - lr * wd)
        m <- beta1 * m + (1 - beta1) * g
        v <- beta2 * v + (1 - beta2) * g^2
        p <- p - lr / (1 - beta1^t) * atan2(m, sqrt(v) / sqrt(1 - beta2^t))

    The step is bounded by ``lr * pi / 2`` per coordinate and needs no epsilon. For small
    ratios ``atan2(a, b) ~ a / b``, which is the Adam update.
    """

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict],
        lr: float = 1e-4,
        betas: tuple[float, float] = (0.9, 0.95),
        weight_decay: float = 0.1,
    ) -> None:
        _check_hyperparameters(lr, weight_decay)
        if not all(0.0 <= beta < 1.0 for beta in betas):
            raise ValueError(f"betas must lie in [0, 1), got {betas!r}.")
        super().__init__(params, {"lr": lr, "betas": betas, "weight_decay": weight_decay})

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for param in group["params"]:
                if param.grad is not None:
                    self._update(param, group)
        return loss

    def _update(self, param: Tensor, group: dict) -> None:
        if param.grad.is_sparse:
            raise RuntimeError("AdamATan2 does not support sparse gradients; use dense ones.")
        lr, weight_decay = group["lr"], group["weight_decay"]
        beta1, beta2 = group["betas"]
        state = self.state[param]
        if not state:
            state["step"] = 0
            state["exp_avg"] = torch.zeros_like(param, memory_format=torch.preserve_format)
            state["exp_avg_sq"] = torch.zeros_like(param, memory_format=torch.preserve_format)
        state["step"] += 1
        step = state["step"]
        grad, exp_avg, exp_avg_sq = param.grad, state["exp_avg"], state["exp_avg_sq"]

        param.mul_(1 - lr * weight_decay)
        exp_avg.lerp_(grad, 1 - beta1)
        exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        bias_correction1 = 1 - beta1**step
        bias_correction2 = 1 - beta2**step
        denominator = exp_avg_sq.sqrt() / math.sqrt(bias_correction2)
        param.add_(torch.atan2(exp_avg, denominator), alpha=-lr / bias_correction1)


class SignSGD(Optimizer):
    """Sign descent with decoupled weight decay: ``p <- p * (1 - lr * wd) - lr * sign(g)``.

    NOTE: the decay applies to every row of the parameter. The reference updates only the task
    vectors whose ids were in the batch. Both agree for Sudoku, which has a single id.
    """

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict],
        lr: float = 1e-4,
        weight_decay: float = 0.0,
    ) -> None:
        _check_hyperparameters(lr, weight_decay)
        super().__init__(params, {"lr": lr, "weight_decay": weight_decay})

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr, weight_decay = group["lr"], group["weight_decay"]
            for param in group["params"]:
                if param.grad is None:
                    continue
                param.mul_(1 - lr * weight_decay)
                param.add_(param.grad.sign(), alpha=-lr)
        return loss


def learning_rate_factor(
    step: int,
    *,
    warmup_steps: int,
    total_steps: int,
    min_ratio: float = 1.0,
    schedule: str = "constant",
) -> float:
    """Return the factor on the base learning rate at optimizer step ``step``.

    The factor rises linearly from 0 over ``warmup_steps``. After that it stays 1 ("constant")
    or follows a half cosine from 1 down to ``min_ratio`` at ``total_steps`` ("cosine"). The
    reference Sudoku runs use ``min_ratio=1``, which makes the cosine flat as well. Use with
    ``torch.optim.lr_scheduler.LambdaLR`` through ``functools.partial``.
    """
    if schedule not in LR_SCHEDULES:
        raise ValueError(f"schedule must be one of {list(LR_SCHEDULES)}, got {schedule!r}.")
    if warmup_steps < 0 or total_steps < 0:
        raise ValueError(
            f"warmup_steps and total_steps must be >= 0, got {warmup_steps} and {total_steps}."
        )
    if not 0.0 <= min_ratio <= 1.0:
        raise ValueError(f"min_ratio must be in [0, 1], got {min_ratio!r}.")
    if step < warmup_steps:
        return step / warmup_steps
    if schedule == "constant":
        return 1.0
    # NOTE: progress is clamped at 1 so the factor stays at min_ratio past total_steps. The
    # reference lets the cosine rise again, but its Sudoku runs stop before total_steps.
    progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
    return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))
