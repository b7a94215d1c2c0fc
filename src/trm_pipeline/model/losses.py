"""Cross-entropy variants, the ACT loss and the metric sums of one supervision step.

The metric keys (``accuracy``, ``exact_accuracy``, ``q_halt_accuracy``, ``steps``, ``lm_loss``,
``q_halt_loss``) are the reference's, so runs stay comparable with published logs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch
import torch.nn.functional as F
from torch import Tensor

from trm_pipeline.model.act import IGNORE_LABEL, ACTCarry
from trm_pipeline.model.config import LOSS_TYPES
from trm_pipeline.model.network import StepOutput

BLANK_TOKEN = 1
# Weight of the halting BCE in the total loss.
HALT_LOSS_WEIGHT = 0.5
# Added to the stablemax denominator 1 - x as in the reference; it is negligible in float64.
STABLEMAX_EPS = 1e-30


def _stablemax_scores(x: Tensor) -> Tensor:
    """Return s(x) = x + 1 for x >= 0, 1 / (1 - x) for x < 0.

    Each branch sees only its own half of the axis, so the unused branch cannot produce an
    infinite gradient.
    """
    positive = x.clamp(min=0) + 1
    negative = 1 / (1 - x.clamp(max=0) + STABLEMAX_EPS)
    return torch.where(x >= 0, positive, negative)


def _gather_label_loss(log_probs: Tensor, labels: Tensor, ignore_index: int) -> Tensor:
    valid = labels != ignore_index
    safe_labels = torch.where(valid, labels, torch.zeros_like(labels)).long()
    picked = log_probs.gather(-1, safe_labels.unsqueeze(-1)).squeeze(-1)
    return torch.where(valid, -picked, torch.zeros_like(picked))


def stablemax_cross_entropy(
    logits: Tensor, labels: Tensor, ignore_index: int = IGNORE_LABEL
) -> Tensor:
    """Compute -log(s(x_label) / sum_j s(x_j)) in float64, 0 where the label is ignored.

    Args:
        logits: ``[B, 81, V]``.
        labels: ``[B, 81]``.
        ignore_index: Label value that contributes 0.

    Returns:
        Per-cell loss ``[B, 81]`` float64.
    """
    scores = _stablemax_scores(logits.double())
    log_probs = torch.log(scores / scores.sum(-1, keepdim=True))
    return _gather_label_loss(log_probs, labels, ignore_index)


def softmax_cross_entropy(
    logits: Tensor, labels: Tensor, ignore_index: int = IGNORE_LABEL
) -> Tensor:
    """Compute the usual softmax cross-entropy in float32, 0 where the label is ignored.

    Args:
        logits: ``[B, 81, V]``.
        labels: ``[B, 81]``.
        ignore_index: Label value that contributes 0.

    Returns:
        Per-cell loss ``[B, 81]`` float32.
    """
    flat = F.cross_entropy(
        logits.float().flatten(0, -2),
        labels.long().flatten(),
        ignore_index=ignore_index,
        reduction="none",
    )
    return flat.view(labels.shape)


CROSS_ENTROPY: dict[str, Callable[[Tensor, Tensor, int], Tensor]] = {
    "stablemax": stablemax_cross_entropy,
    "softmax": softmax_cross_entropy,
}


@torch.no_grad()
def _step_metrics(
    output: StepOutput, carry: ACTCarry, cell_correct: Tensor, seq_is_correct: Tensor
) -> dict[str, Tensor]:
    """Sum per-sequence metrics over the slots that halted on this step and have labels."""
    mask = carry.labels != IGNORE_LABEL
    counts = mask.sum(-1)
    valid = carry.halted & (counts > 0)
    blank = mask & (carry.tokens == BLANK_TOKEN)
    blank_counts = blank.sum(-1)
    cell_accuracy = cell_correct.sum(-1) / counts.clamp(min=1)
    # A sequence with no blank cell has nothing to fill in and counts as fully correct.
    blank_accuracy = torch.where(
        blank_counts > 0,
        (cell_correct & blank).sum(-1) / blank_counts.clamp(min=1),
        torch.ones_like(cell_accuracy),
    )
    halt_agrees = (output.halt_logit >= 0) == seq_is_correct

    def total(values: Tensor) -> Tensor:
        return torch.where(
            valid, values.float(), torch.zeros_like(values, dtype=torch.float32)
        ).sum()

    return {
        "count": valid.sum().float(),
        "accuracy": total(cell_accuracy),
        "exact_accuracy": total(seq_is_correct),
        "q_halt_accuracy": total(halt_agrees),
        "steps": total(carry.steps),
        "blank_accuracy": total(blank_accuracy),
    }


def act_loss(
    output: StepOutput, carry: ACTCarry, loss_type: str = "stablemax"
) -> tuple[Tensor, dict[str, Tensor]]:
    """Compute the loss of one supervision step over all slots, and the metric sums.

    ``lm_loss`` sums each sequence's mean cross-entropy over its labelled cells (givens
    included). ``q_halt_loss`` sums BCE-with-logits between the halt logit and whether the whole
    sequence is correct.

    Args:
        output: The step output; ``logits`` ``[B, 81, V]``, ``halt_logit`` ``[B]``.
        carry: The carry returned with it (labels, tokens, steps and halted of this step).
        loss_type: "stablemax" or "softmax".

    Returns:
        ``lm_loss + 0.5 * q_halt_loss`` (divide by the global batch size before backward), and
        detached metric sums: ``count``, ``accuracy``, ``exact_accuracy``, ``q_halt_accuracy``,
        ``steps`` and ``blank_accuracy`` over halted slots, plus ``lm_loss`` and ``q_halt_loss``.
    """
    if loss_type not in CROSS_ENTROPY:
        raise ValueError(f"loss_type must be one of {list(LOSS_TYPES)}, got {loss_type!r}.")
    labels = carry.labels
    mask = labels != IGNORE_LABEL
    counts = mask.sum(-1, keepdim=True).clamp(min=1)  # [B, 1]

    with torch.no_grad():
        cell_correct = mask & (output.logits.argmax(-1) == labels)  # [B, 81]
        seq_is_correct = cell_correct.sum(-1) == mask.sum(-1)  # [B]

    cell_loss = CROSS_ENTROPY[loss_type](output.logits, labels, IGNORE_LABEL)
    lm_loss = (cell_loss / counts).sum()
    q_halt_loss = F.binary_cross_entropy_with_logits(
        output.halt_logit, seq_is_correct.to(output.halt_logit.dtype), reduction="sum"
    )
    metrics = _step_metrics(output, carry, cell_correct, seq_is_correct)
    metrics["lm_loss"] = lm_loss.detach()
    metrics["q_halt_loss"] = q_halt_loss.detach()
    return lm_loss + HALT_LOSS_WEIGHT * q_halt_loss, metrics


def normalize_metrics(
    sums: Mapping[str, Tensor | float], global_batch_size: int
) -> dict[str, float]:
    """Turn metric sums into the logged training values.

    Keys ending in "loss" are divided by the global batch size, ``count`` is kept, and every
    other key is divided by ``max(count, 1)``, so it becomes a mean over halted sequences.

    Args:
        sums: Metric sums from ``act_loss``, possibly added over steps or devices.
        global_batch_size: Sequences per optimizer step over all devices.

    Returns:
        Plain floats keyed like ``sums``.
    """
    if global_batch_size < 1:
        raise ValueError(f"global_batch_size must be >= 1, got {global_batch_size!r}.")
    count = float(sums.get("count", 0.0))
    normalized = {}
    for key, total in sums.items():
        if key == "count":
            normalized[key] = float(total)
        elif key.endswith("loss"):
            normalized[key] = float(total) / global_batch_size
        else:
            normalized[key] = float(total) / max(count, 1.0)
    return normalized
