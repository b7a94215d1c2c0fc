"""Wilson intervals, rating buckets and halt calibration against values computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from trm_pipeline.evaluation.stats import (
    Z_95,
    assign_buckets,
    halt_calibration,
    quantile_edges,
    wilson_interval,
)


def wilson_by_quadratic(successes: int, total: int, z: float) -> tuple[float, float]:
    """Solve (p_hat - p)^2 = z^2 p (1 - p) / n for p: the bounds are the two roots."""
    p_hat = successes / total
    a = 1 + z * z / total
    b = -(2 * p_hat + z * z / total)
    c = p_hat * p_hat
    root = math.sqrt(b * b - 4 * a * c)
    return (-b - root) / (2 * a), (-b + root) / (2 * a)


@pytest.mark.parametrize(("successes", "total"), [(0, 8), (3, 8), (8, 8), (874, 1000), (1, 1)])
def test_wilson_matches_quadratic_roots(successes, total):
    low, high = wilson_interval(successes, total)
    expected_low, expected_high = wilson_by_quadratic(successes, total, Z_95)
    assert low == pytest.approx(max(expected_low, 0.0), abs=1e-12)
    assert high == pytest.approx(min(expected_high, 1.0), abs=1e-12)
    assert low <= successes / total <= high


def test_wilson_known_value():
    # 0 of 8: the upper bound is z^2 / (n + z^2).
    assert wilson_interval(0, 8)[1] == pytest.approx(Z_95**2 / (8 + Z_95**2))


@pytest.mark.parametrize(("successes", "total"), [(0, 500), (0, 12), (500, 500), (12, 12)])
def test_wilson_bounds_touch_the_estimate_at_the_ends(successes, total):
    # Rounding once gave a lower bound of 4e-19 at 0 successes, which broke error bars.
    low, high = wilson_interval(successes, total)
    assert low <= successes / total <= high
    if successes == 0:
        assert low == 0.0
    else:
        assert high == 1.0


@pytest.mark.parametrize(("successes", "total"), [(1, 0), (-1, 4), (5, 4)])
def test_wilson_rejects_invalid_counts(successes, total):
    with pytest.raises(ValueError, match="wilson_interval needs"):
        wilson_interval(successes, total)


def test_quantile_edges_merge_ties():
    ratings = np.array([0, 0, 0, 0, 0, 0, 1, 2, 3, 10])
    assert quantile_edges(ratings, 5) == [0, 2]


def test_assign_buckets_bounds_and_labels():
    ratings = np.array([0, 1, 2, 9, 10, 55])
    index, buckets = assign_buckets(ratings, [0, 2, 10])
    assert index.tolist() == [0, 0, 1, 1, 2, 2]
    assert [(b.low, b.high) for b in buckets] == [(0, 1), (2, 9), (10, None)]
    assert [b.label for b in buckets] == ["0–1", "2–9", "≥10"]


def test_assign_buckets_adds_bucket_below_first_edge():
    index, buckets = assign_buckets(np.array([-3, 0, 5]), [0, 1])
    assert [(b.low, b.high) for b in buckets] == [(-3, -1), (0, 0), (1, None)]
    assert index.tolist() == [0, 1, 2]
    assert buckets[1].label == "0"


def test_halt_calibration_counts_rates_and_error():
    # sigmoid(0) = 0.5 falls in bin [0.5, 1.0); the large logits sit at the ends.
    logits = np.array([-20.0, -20.0, 0.0, 20.0, 20.0, 20.0])
    exact = np.array([False, True, True, True, True, False])
    bins, error = halt_calibration(logits, exact, num_bins=2)
    assert [b["count"] for b in bins] == [2, 4]
    assert bins[0]["exact_rate"] == pytest.approx(0.5)
    assert bins[1]["exact_rate"] == pytest.approx(0.75)
    assert bins[1]["mean_probability"] == pytest.approx((0.5 + 3.0) / 4)
    expected = (2 * abs(0.0 - 0.5) + 4 * abs(0.875 - 0.75)) / 6
    assert error == pytest.approx(expected, abs=1e-8)


def test_halt_calibration_empty_bin_has_no_rate():
    bins, _ = halt_calibration(np.array([-20.0]), np.array([False]), num_bins=4)
    assert bins[3]["count"] == 0
    assert bins[3]["exact_rate"] is None
    assert bins[3]["mean_probability"] is None
