"""Bootstrap confidence intervals, single and paired; a binomial interval; CI verdicts."""

from __future__ import annotations

import math
from collections.abc import Callable
from statistics import NormalDist

import numpy as np

Metric = Callable[[np.ndarray, np.ndarray], float]


def _resample_indices(n: int, n_boot: int, seed: int, stratify: np.ndarray | None):
    rng = np.random.default_rng(seed)
    if stratify is None:
        return rng.integers(0, n, size=(n_boot, n))
    # Stratified resampling keeps each class present, so AUC is always defined.
    parts = []
    for value in np.unique(stratify):
        members = np.flatnonzero(stratify == value)
        parts.append(members[rng.integers(0, len(members), size=(n_boot, len(members)))])
    return np.concatenate(parts, axis=1)


def bootstrap_ci(
    metric: Metric,
    y_true,
    y_score,
    n_boot: int = 1000,
    alpha: float = 0.05,
    seed: int = 0,
    stratify: bool = False,
) -> tuple[float, float, float]:
    """Point estimate and percentile-bootstrap (1 - alpha) interval of metric(y_true, y_score)."""
    y_true = np.asarray(y_true)
    y_score = np.asarray(y_score)
    if len(y_true) == 0:
        raise ValueError("bootstrap_ci needs at least one example")
    point = float(metric(y_true, y_score))
    idx = _resample_indices(len(y_true), n_boot, seed, y_true if stratify else None)
    values = np.array([metric(y_true[i], y_score[i]) for i in idx], dtype=float)
    values = values[np.isfinite(values)]
    if len(values) == 0:
        return point, float("nan"), float("nan")
    lo, hi = np.quantile(values, [alpha / 2, 1 - alpha / 2])
    return point, float(lo), float(hi)


def paired_bootstrap_diff(
    metric: Metric,
    y_true,
    score_a,
    score_b,
    n_boot: int = 1000,
    alpha: float = 0.05,
    seed: int = 0,
) -> dict[str, float]:
    """metric(a) - metric(b) on the same resampled rows: the noise that matters for a comparison."""
    y_true = np.asarray(y_true)
    score_a = np.asarray(score_a)
    score_b = np.asarray(score_b)
    diff = float(metric(y_true, score_a) - metric(y_true, score_b))
    idx = _resample_indices(len(y_true), n_boot, seed, None)
    diffs = np.array([metric(y_true[i], score_a[i]) - metric(y_true[i], score_b[i]) for i in idx])
    diffs = diffs[np.isfinite(diffs)]
    lo, hi = np.quantile(diffs, [alpha / 2, 1 - alpha / 2])
    return {
        "diff": diff,
        "lo": float(lo),
        "hi": float(hi),
        "p_a_not_better": float(np.mean(diffs <= 0)),
    }


def verdict(lo: float, hi: float, target: float, higher_is_better: bool = True) -> str:
    """Judge a target on a confidence interval, not a point estimate: "met" when the whole
    interval is on the good side of the target, "missed" when it is wholly on the bad side,
    "inconclusive" when the interval contains the target (the data cannot tell)."""
    good_lo, good_hi = (lo, hi) if higher_is_better else (-hi, -lo)
    goal = target if higher_is_better else -target
    if good_lo >= goal:
        return "met"
    if good_hi < goal:
        return "missed"
    return "inconclusive"


def binomial_ci(rate: float, n: int, alpha: float = 0.05) -> tuple[float, float]:
    """Wilson score (1 - alpha) interval of a proportion `rate` measured on n examples: the noise
    of a published accuracy on its own test set, for drawing it as a band rather than a line."""
    if n < 1 or not 0.0 <= rate <= 1.0:
        raise ValueError(f"binomial_ci needs 0 <= rate <= 1 and n >= 1, got {rate}, {n}")
    z = NormalDist().inv_cdf(1 - alpha / 2)
    scale = 1 + z * z / n
    centre = (rate + z * z / (2 * n)) / scale
    half = z / scale * math.sqrt(rate * (1 - rate) / n + z * z / (4 * n * n))
    return centre - half, centre + half
