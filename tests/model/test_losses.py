"""Stablemax and softmax cross-entropy, the ACT loss and metric normalization."""

import math

import pytest
import torch

from trm_pipeline.model import (
    ACTCarry,
    StepOutput,
    act_loss,
    normalize_metrics,
    softmax_cross_entropy,
    stablemax_cross_entropy,
)


def stablemax_reference(row: list[float], label: int) -> float:
    scores = [x + 1.0 if x >= 0 else 1.0 / (1.0 - x) for x in row]
    return -math.log(scores[label] / sum(scores))


def softmax_reference(row: list[float], label: int) -> float:
    return -row[label] + math.log(sum(math.exp(x) for x in row))


@pytest.fixture(autouse=True)
def seed():
    torch.manual_seed(0)


@pytest.mark.parametrize(
    ("loss_fn", "reference", "tolerance"),
    [
        (stablemax_cross_entropy, stablemax_reference, 1e-12),
        (softmax_cross_entropy, softmax_reference, 1e-5),
    ],
    ids=["stablemax", "softmax"],
)
def test_cross_entropy_matches_scalar_formula(loss_fn, reference, tolerance):
    logits = 4 * torch.randn(2, 5, 7)
    labels = torch.randint(0, 7, (2, 5))
    labels[1, 3] = -100

    loss = loss_fn(logits, labels)

    assert loss.shape == (2, 5)
    for b in range(2):
        for i in range(5):
            if labels[b, i] == -100:
                assert loss[b, i].item() == 0.0
            else:
                expected = reference(logits[b, i].double().tolist(), int(labels[b, i]))
                assert loss[b, i].item() == pytest.approx(expected, rel=tolerance, abs=tolerance)


def test_stablemax_is_float64_with_finite_gradient_at_one():
    logits = torch.tensor([[[1.0, -1.0, 0.0, 1e6]]], requires_grad=True)
    labels = torch.tensor([[0]])

    loss = stablemax_cross_entropy(logits, labels)
    loss.sum().backward()

    assert loss.dtype == torch.float64
    assert torch.isfinite(logits.grad).all()


def make_step(
    logits: torch.Tensor,
    halt_logit: torch.Tensor,
    labels: torch.Tensor,
    tokens: torch.Tensor,
    halted: torch.Tensor,
    steps: torch.Tensor,
):
    batch = logits.shape[0]
    state = torch.zeros(batch, 2, 4)
    output = StepOutput(state, state, logits, halt_logit)
    carry = ACTCarry(state, state, steps, halted, tokens, labels, torch.zeros(batch).long())
    return output, carry


@pytest.fixture
def three_sequences():
    """Sequence 0 fully right, sequence 1 wrong on one blank cell, sequence 2 padding."""
    labels = torch.randint(2, 11, (3, 81))
    labels[2] = -100
    tokens = torch.where(torch.rand(3, 81) < 0.6, 1, labels.clamp(min=0))
    tokens[1, 5] = 1
    logits = torch.randn(3, 81, 11)
    logits.scatter_(-1, labels.clamp(min=0).unsqueeze(-1), 10.0)
    logits[1, 5, (labels[1, 5] % 10) + 1] = 20.0  # a different digit wins on one cell
    halt_logit = torch.tensor([2.0, 1.0, -1.0])
    halted = torch.tensor([True, True, False])
    steps = torch.tensor([3, 5, 2], dtype=torch.int32)
    return make_step(logits, halt_logit, labels, tokens, halted, steps)


def test_act_loss_value_from_independent_formula(three_sequences):
    output, carry = three_sequences
    per_sequence = []
    for b in range(2):
        cells = [
            stablemax_reference(output.logits[b, i].double().tolist(), int(carry.labels[b, i]))
            for i in range(81)
        ]
        per_sequence.append(sum(cells) / 81)
    expected_lm = sum(per_sequence)
    # A padding row has no wrong cell, so like the reference it counts as correct.
    targets = [1.0, 0.0, 1.0]
    expected_halt = sum(
        -(t * math.log(1 / (1 + math.exp(-x))) + (1 - t) * math.log(1 - 1 / (1 + math.exp(-x))))
        for x, t in zip([2.0, 1.0, -1.0], targets, strict=True)
    )

    total, metrics = act_loss(output, carry)

    assert metrics["lm_loss"].item() == pytest.approx(expected_lm, rel=1e-9)
    assert metrics["q_halt_loss"].item() == pytest.approx(expected_halt, rel=1e-5)
    assert total.item() == pytest.approx(expected_lm + 0.5 * expected_halt, rel=1e-6)


def test_act_loss_metrics_count_halted_sequences_only(three_sequences):
    output, carry = three_sequences
    blank = (carry.tokens[1] == 1).sum().item()

    _, metrics = act_loss(output, carry)

    assert metrics["count"].item() == 2
    assert metrics["exact_accuracy"].item() == 1
    assert metrics["accuracy"].item() == pytest.approx(1 + 80 / 81)
    # Sequence 0 halts on a positive logit and is right; sequence 1 also halts but is wrong.
    assert metrics["q_halt_accuracy"].item() == 1
    assert metrics["steps"].item() == 8
    assert metrics["blank_accuracy"].item() == pytest.approx(1 + (blank - 1) / blank)


def test_act_loss_gradient_reaches_logits(three_sequences):
    output, carry = three_sequences
    output.logits.requires_grad_(True)
    output.halt_logit.requires_grad_(True)

    total, _ = act_loss(output, carry, loss_type="softmax")
    total.backward()

    assert output.logits.grad[2].abs().sum() == 0  # padding rows have no labels
    assert output.logits.grad[0].abs().sum() > 0
    assert output.halt_logit.grad.abs().min() > 0


def test_act_loss_rejects_unknown_loss_type(three_sequences):
    with pytest.raises(ValueError, match="loss_type must be one of"):
        act_loss(*three_sequences, loss_type="hinge")


def test_normalize_metrics_divisors():
    sums = {
        "count": torch.tensor(4.0),
        "exact_accuracy": torch.tensor(3.0),
        "steps": torch.tensor(40.0),
        "lm_loss": torch.tensor(16.0),
        "q_halt_loss": torch.tensor(2.0),
    }

    normalized = normalize_metrics(sums, global_batch_size=8)

    assert normalized == {
        "count": 4.0,
        "exact_accuracy": 0.75,
        "steps": 10.0,
        "lm_loss": 2.0,
        "q_halt_loss": 0.25,
    }


def test_normalize_metrics_with_zero_count_keeps_sums():
    normalized = normalize_metrics({"count": 0.0, "accuracy": 0.0, "lm_loss": 3.0}, 3)

    assert normalized == {"count": 0.0, "accuracy": 0.0, "lm_loss": 1.0}


def test_normalize_metrics_rejects_empty_batch():
    with pytest.raises(ValueError, match="global_batch_size must be >= 1, got 0"):
        normalize_metrics({"count": 1.0}, 0)
