"""Statistics for evaluation reports: Wilson intervals, rating buckets and halt calibration."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

# Two-sided 95% quantile of the standard normal distribution.
Z_95 = 1.959963984540054


def wilson_interval(successes: int, total: int, z: float = Z_95) -> tuple[float, float]:
    """Return the Wilson score interval of a binomial proportion.

    Unlike the normal approximation it stays inside [0, 1] and is usable at 0 or ``total``
    successes and for small ``total``.

    Args:
        successes: Number of successes k, ``0 <= k <= total``.
        total: Number of trials n, at least 1.
        z: Normal quantile; the default gives a 95% interval.

    Returns:
        The lower and upper bound.
    """
    if total < 1 or not 0 <= successes <= total:
        raise ValueError(
            f"wilson_interval needs 0 <= successes <= total and total >= 1, got "
            f"successes={successes}, total={total}."
        )
    proportion = successes / total
    z2 = z * z
    denominator = 1 + z2 / total
    center = (proportion + z2 / (2 * total)) / denominator
    half_width = (z / denominator) * math.sqrt(
        proportion * (1 - proportion) / total + z2 / (4 * total * total)
    )
    # Clamp so rounding never puts a bound past the estimate (at 0 or `total` successes).
    return min(max(0.0, center - half_width), proportion), max(
        min(1.0, center + half_width), proportion
    )


@dataclass(frozen=True)
class RatingBucket:
    """Ratings from ``low`` to ``high`` inclusive, or from ``low`` up when ``high`` is None."""

    low: int
    high: int | None

    @property
    def label(self) -> str:
        if self.high is None:
            return f"≥{self.low}"
        return str(self.low) if self.low == self.high else f"{self.low}–{self.high}"


def quantile_edges(ratings: np.ndarray, count: int) -> list[int]:
    """Return ascending lower bounds of up to ``count`` buckets with about equal counts.

    Ratings are integers with many ties (most Sudoku-Extreme puzzles share a few low
    ratings), so equal quantiles collapse and the result may hold fewer edges.
    """
    probabilities = np.linspace(0.0, 1.0, count + 1)[:-1]
    # "lower" keeps every edge an observed rating, so the buckets split at real values.
    edges = np.quantile(np.asarray(ratings), probabilities, method="lower")
    return sorted({int(edge) for edge in edges})


def assign_buckets(ratings: np.ndarray, edges: list[int]) -> tuple[np.ndarray, list[RatingBucket]]:
    """Put each rating into the bucket of the largest edge not above it.

    Args:
        ratings: ``[N]`` integer ratings.
        edges: Ascending lower bounds. Ratings below ``edges[0]`` get an extra first bucket.

    Returns:
        The bucket index of every rating (``[N]`` int) and the buckets, whose bounds are
        the edges; the last bucket is open-ended.
    """
    ratings = np.asarray(ratings, dtype=np.int64)
    lows = list(edges)
    if len(ratings) and int(ratings.min()) < lows[0]:
        lows.insert(0, int(ratings.min()))
    highs: list[int | None] = [next_low - 1 for next_low in lows[1:]]
    highs.append(None)
    index = np.searchsorted(np.asarray(lows), ratings, side="right") - 1
    return index, [RatingBucket(low, high) for low, high in zip(lows, highs, strict=True)]


def halt_calibration(
    halt_logit: np.ndarray, exact: np.ndarray, num_bins: int
) -> tuple[list[dict[str, float | int | None]], float]:
    """Compare the predicted halt probability with the observed rate of exact predictions.

    The halt head is trained to predict "every cell is right", so sigmoid(halt_logit) is the
    model's probability that its prediction is exact.

    Args:
        halt_logit: ``[N]`` halt logits at the step each prediction was read.
        exact: ``[N]`` bool, whether that prediction was exact.
        num_bins: Equal-width probability bins over [0, 1].

    Returns:
        One dict per bin (``low``, ``high``, ``count``, ``mean_probability``,
        ``exact_rate``; the last two are None for an empty bin) and the expected calibration
        error: the count-weighted mean of ``|mean_probability - exact_rate|``.
    """
    logit = np.asarray(halt_logit, dtype=np.float64)
    probability = 0.5 * (1.0 + np.tanh(0.5 * logit))  # sigmoid without overflow warnings
    exact = np.asarray(exact, dtype=bool)
    bounds = np.linspace(0.0, 1.0, num_bins + 1)
    index = np.clip(np.searchsorted(bounds, probability, side="right") - 1, 0, num_bins - 1)
    bins: list[dict[str, float | int | None]] = []
    error = 0.0
    for i in range(num_bins):
        members = index == i
        count = int(members.sum())
        mean_probability = float(probability[members].mean()) if count else None
        exact_rate = float(exact[members].mean()) if count else None
        if count:
            error += count * abs(mean_probability - exact_rate)
        bins.append(
            {
                "low": float(bounds[i]),
                "high": float(bounds[i + 1]),
                "count": count,
                "mean_probability": mean_probability,
                "exact_rate": exact_rate,
            }
        )
    return bins, error / max(len(probability), 1)
