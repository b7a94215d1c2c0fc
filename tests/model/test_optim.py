"""AdamATan2 and SignSGD updates against float64 hand computation, and the LR schedule."""

import functools
import math

import pytest
import torch

from trm_pipeline.model import AdamATan2, SignSGD, learning_rate_factor


def adam_atan2_reference(
    param: list[float], grads: list[list[float]], lr: float, betas: tuple[float, float], wd: float
) -> list[float]:
    beta1, beta2 = betas
    p, m, v = list(param), [0.0] * len(param), [0.0] * len(param)
    for t, grad in enumerate(grads, start=1):
        for i, g in enumerate(grad):
            p[i] *= 1 - lr * wd
            m[i] = beta1 * m[i] + (1 - beta1) * g
            v[i] = beta2 * v[i] + (1 - beta2) * g * g
            step = math.atan2(m[i], math.sqrt(v[i]) / math.sqrt(1 - beta2**t))
            p[i] -= lr / (1 - beta1**t) * step
    return p


@pytest.mark.parametrize("num_steps", [1, 2, 3])
def test_adam_atan2_matches_hand_computation(num_steps):
    start = [0.5, -1.25, 2.0, 0.0]
    grads = [[0.3, -2.0, 1e-4, 0.7], [-0.1, -1.0, 5.0, 0.0], [0.2, 0.2, -0.3, -0.4]][:num_steps]
    param = torch.tensor(start, dtype=torch.float64, requires_grad=True)
    optimizer = AdamATan2([param], lr=0.01, betas=(0.9, 0.95), weight_decay=0.5)

    for grad in grads:
        param.grad = torch.tensor(grad, dtype=torch.float64)
        optimizer.step()

    expected = adam_atan2_reference(start, grads, lr=0.01, betas=(0.9, 0.95), wd=0.5)
    torch.testing.assert_close(
        param.detach(), torch.tensor(expected, dtype=torch.float64), rtol=1e-12, atol=1e-12
    )


def test_adam_atan2_first_step_is_bounded_sign_like():
    param = torch.zeros(3, requires_grad=True)
    param.grad = torch.tensor([1e-8, -3.0, 100.0])
    optimizer = AdamATan2([param], lr=0.1, weight_decay=0.0)

    optimizer.step()

    # Step 1: m = 0.1 g, sqrt(v) / sqrt(bc2) = |g|, so the step is 10 * atan(0.1) * sign(g) * lr.
    expected = -0.1 * 10 * math.atan(0.1) * torch.tensor([1.0, -1.0, 1.0])
    torch.testing.assert_close(param.detach(), expected)


def test_adam_atan2_skips_parameters_without_gradient():
    param = torch.ones(2, requires_grad=True)
    optimizer = AdamATan2([param], lr=0.1, weight_decay=1.0)

    optimizer.step()

    assert torch.equal(param.detach(), torch.ones(2))


def test_adam_atan2_rejects_invalid_betas():
    with pytest.raises(ValueError, match="betas must lie in"):
        AdamATan2([torch.zeros(1, requires_grad=True)], betas=(0.9, 1.0))


def test_sign_sgd_matches_hand_computation():
    param = torch.tensor([0.5, -0.2, 0.0], dtype=torch.float64, requires_grad=True)
    param.grad = torch.tensor([3.0, -1e-9, 0.0], dtype=torch.float64)
    optimizer = SignSGD([param], lr=0.01, weight_decay=2.0)

    optimizer.step()

    expected = [0.5 * (1 - 0.02) - 0.01, -0.2 * (1 - 0.02) + 0.01, 0.0]
    torch.testing.assert_close(param.detach(), torch.tensor(expected, dtype=torch.float64))


def test_sign_sgd_rejects_negative_lr():
    with pytest.raises(ValueError, match="lr must be >= 0, got -1"):
        SignSGD([torch.zeros(1, requires_grad=True)], lr=-1)


def test_learning_rate_warmup_then_constant():
    factor = functools.partial(learning_rate_factor, warmup_steps=100, total_steps=1000)

    assert factor(0) == 0.0
    assert factor(50) == pytest.approx(0.5)
    assert factor(100) == 1.0
    assert factor(999) == 1.0


def test_learning_rate_cosine_decay_to_min_ratio():
    factor = functools.partial(
        learning_rate_factor, warmup_steps=10, total_steps=110, min_ratio=0.1, schedule="cosine"
    )

    assert factor(10) == pytest.approx(1.0)
    assert factor(60) == pytest.approx(0.55)
    assert factor(110) == pytest.approx(0.1)
    assert factor(500) == pytest.approx(0.1)


def test_learning_rate_factor_drives_lambda_lr():
    param = torch.zeros(1, requires_grad=True)
    optimizer = SignSGD([param], lr=1e-3)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, functools.partial(learning_rate_factor, warmup_steps=4, total_steps=10)
    )
    rates = []
    for _ in range(6):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()

    assert rates == pytest.approx([0.0, 2.5e-4, 5e-4, 7.5e-4, 1e-3, 1e-3])


def test_learning_rate_rejects_unknown_schedule():
    with pytest.raises(ValueError, match=r"schedule must be one of \['constant', 'cosine'\]"):
        learning_rate_factor(1, warmup_steps=0, total_steps=10, schedule="linear")
