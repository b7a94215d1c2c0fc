"""Batched evaluation of a TRM with the ACT halting rules of the reference.

The reference evaluates every test puzzle for exactly N_sup supervision steps and reads the
metrics from the last step; ``halting="learned"`` instead keeps each puzzle's answer from the
step where its halt logit first turned positive.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, fields

import numpy as np
import torch
from tqdm.auto import tqdm

from trm_pipeline.model.act import IGNORE_LABEL, run_to_halt
from trm_pipeline.model.losses import softmax_cross_entropy, stablemax_cross_entropy
from trm_pipeline.model.network import TinyRecursiveModel
from trm_pipeline.sudoku import BLANK_TOKEN

logger = logging.getLogger(__name__)

# Batch sizes of ``batch_size="auto"``: the first try on CUDA, and the fixed size elsewhere.
AUTO_CUDA_BATCH_SIZE = 16_384
DEFAULT_BATCH_SIZE = 64


@dataclass
class EvaluationResult:
    """Per-puzzle outcomes of one evaluation; ``metrics()`` reduces them."""

    exact: np.ndarray  # [N] bool, all 81 cells right
    cell_accuracy: np.ndarray  # [N] float, givens included (the reference's `accuracy`)
    blank_accuracy: np.ndarray  # [N] float, over the blank cells only
    halt_logit: np.ndarray  # [N] float, at the step the answer was read
    steps: np.ndarray  # [N] int, supervision steps used
    lm_loss: np.ndarray  # [N] float, per-puzzle mean cross-entropy over the cells
    exact_by_step: np.ndarray  # [N, S] bool, exact after each step 1..S (frozen once halted)
    predictions: np.ndarray  # [N, 81] predicted tokens
    batch_size: int | None = None  # final batch size, after any halving on out-of-memory

    def subset(self, rows: np.ndarray) -> EvaluationResult:
        """Return the outcomes of the puzzles selected by ``rows`` (indices or a bool mask)."""
        arrays = {
            item.name: getattr(self, item.name)[rows]
            for item in fields(self)
            if isinstance(getattr(self, item.name), np.ndarray)
        }
        return EvaluationResult(**arrays, batch_size=self.batch_size)

    def metrics(self) -> dict[str, float]:
        """Mean metrics under the reference's names, plus ``blank_accuracy``.

        ``count`` is the number of puzzles; ``q_halt_loss`` is the mean BCE between the halt
        logit and "all cells right".
        """
        halt_correct = (self.halt_logit >= 0) == self.exact
        logit, target = self.halt_logit.astype(np.float64), self.exact.astype(np.float64)
        # Binary cross-entropy with logits, in the overflow-free form.
        halt_loss = np.maximum(logit, 0) - logit * target + np.log1p(np.exp(-np.abs(logit)))
        return {
            "count": float(len(self.exact)),
            "accuracy": float(self.cell_accuracy.mean()),
            "exact_accuracy": float(self.exact.mean()),
            "blank_accuracy": float(self.blank_accuracy.mean()),
            "q_halt_accuracy": float(halt_correct.mean()),
            "steps": float(self.steps.mean()),
            "lm_loss": float(self.lm_loss.mean()),
            "q_halt_loss": float(halt_loss.mean()),
        }

    def exact_accuracy_by_step(self) -> list[float]:
        """Exact accuracy after each supervision step 1..S."""
        return [float(value) for value in self.exact_by_step.mean(axis=0)]


def _batch_outcomes(model, tokens, labels, halting, max_steps, loss_type, num_steps):
    carry, output, history = run_to_halt(
        model, tokens, labels, halting=halting, max_steps=max_steps
    )
    predictions = output.logits.argmax(-1)  # [B, 81]
    valid = labels != IGNORE_LABEL
    right = (predictions == labels) & valid
    blanks = (tokens == BLANK_TOKEN) & valid
    cross_entropy = (
        stablemax_cross_entropy if loss_type == "stablemax" else softmax_cross_entropy
    )(output.logits, labels)
    by_step = torch.stack(
        [((entry["predictions"] == labels) | ~valid).all(-1) for entry in history], dim=1
    )
    if by_step.shape[1] < num_steps:  # every slot halted early: pad with the final state
        padding = by_step[:, -1:].expand(-1, num_steps - by_step.shape[1])
        by_step = torch.cat((by_step, padding), dim=1)
    counts = valid.sum(-1).clamp(min=1)
    return {
        "exact": (right.sum(-1) == valid.sum(-1)).cpu().numpy(),
        "cell_accuracy": (right.sum(-1) / counts).float().cpu().numpy(),
        "blank_accuracy": ((right & blanks).sum(-1) / blanks.sum(-1).clamp(min=1))
        .float()
        .cpu()
        .numpy(),
        "halt_logit": output.halt_logit.float().cpu().numpy(),
        "steps": carry.steps.cpu().numpy(),
        "lm_loss": (cross_entropy.sum(-1) / counts).float().cpu().numpy(),
        "exact_by_step": by_step[:, :num_steps].cpu().numpy(),
        "predictions": predictions.to(torch.uint8).cpu().numpy(),
    }


def resolve_batch_size(batch_size: int | str, device: torch.device | str, num_puzzles: int) -> int:
    """Return the first batch size to try for ``batch_size`` ("auto" or a positive int).

    "auto" starts at ``AUTO_CUDA_BATCH_SIZE`` on CUDA, where ``evaluate_model`` halves it on
    out-of-memory errors, and uses ``DEFAULT_BATCH_SIZE`` on other devices.
    """
    if batch_size == "auto":
        large = torch.device(device).type == "cuda"
        batch_size = AUTO_CUDA_BATCH_SIZE if large else DEFAULT_BATCH_SIZE
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be 'auto' or a positive integer, got {batch_size!r}.")
    return min(batch_size, max(num_puzzles, 1))


@torch.no_grad()
def evaluate_model(
    model: TinyRecursiveModel,
    inputs: np.ndarray,
    labels: np.ndarray,
    *,
    batch_size: int | str = 768,
    halting: str = "fixed",
    max_steps: int | None = None,
    device: torch.device | str = "cpu",
    progress: bool = True,
) -> EvaluationResult:
    """Evaluate ``model`` on token arrays, one batch at a time from a fresh carry.

    A batch that runs out of GPU memory is retried at half the size, and later batches keep
    the smaller size.

    Args:
        model: The TRM (the EMA copy for reported numbers); it is put in eval mode.
        inputs: [N, 81] input tokens (blank 1, digit d -> d + 1).
        labels: [N, 81] solution tokens.
        batch_size: Puzzles per forward call (the last batch is simply smaller), or "auto";
            see ``resolve_batch_size``.
        halting: "fixed" runs every puzzle for ``max_steps`` steps; "learned" stops a puzzle
            once its halt logit is positive.
        max_steps: Step budget; defaults to N_sup and may exceed it.
        device: Where to run.
        progress: Show a progress bar.
    """
    if len(inputs) != len(labels) or len(inputs) == 0:
        raise ValueError(
            f"inputs ({len(inputs)} rows) and labels ({len(labels)} rows) must be non-empty "
            "and of equal length."
        )
    model.eval()
    num_steps = max_steps or model.config.num_supervision_steps
    size = resolve_batch_size(batch_size, device, len(inputs))
    parts: list[dict[str, np.ndarray]] = []
    start = 0
    bar = tqdm(total=len(inputs), desc=f"evaluate ({halting})", disable=not progress, unit="puzzle")
    with bar:
        while start < len(inputs):
            tokens = torch.as_tensor(inputs[start : start + size], device=device).long()
            targets = torch.as_tensor(labels[start : start + size], device=device).long()
            try:
                part = _batch_outcomes(
                    model, tokens, targets, halting, max_steps, model.config.loss_type, num_steps
                )
            except torch.OutOfMemoryError:
                if size == 1:
                    raise
                size = _halve_after_oom(size, device)
                continue
            parts.append(part)
            start += len(tokens)
            bar.update(len(tokens))
    merged = {key: np.concatenate([part[key] for part in parts]) for key in parts[0]}
    return EvaluationResult(**merged, batch_size=size)


def _halve_after_oom(size: int, device: torch.device | str) -> int:
    smaller = max(size // 2, 1)
    logger.warning("Out of memory at batch size %d on %s; retrying with %d", size, device, smaller)
    if torch.device(device).type == "cuda":
        torch.cuda.empty_cache()
    return smaller
