"""Speed comparisons judged on a confidence interval, never on one number: the ratio of two mean
times with a percentile-bootstrap 95% CI over the timed units (steps, epochs), and a verdict
from the whole CI. Where only one timing each exists, the report states the ratio with "no
verdict" instead (`one_timing`)."""

from __future__ import annotations

import numpy as np

N_BOOT = 2000
# Closer to 1 than this, with the whole CI inside it, is "about as fast".
SAME_SPEED = 0.1


def ratio_of_means_ci(a, b, n_boot: int = N_BOOT, seed: int = 0) -> tuple[float, float, float]:
    """mean(a) / mean(b) and its percentile-bootstrap 95% CI, a and b resampled independently
    (the timings of two separate runs, not paired)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if len(a) < 2 or len(b) < 2:
        raise ValueError(f"a CI needs at least two timings each, got {len(a)} and {len(b)}")
    rng = np.random.default_rng(seed)
    mean_a = a[rng.integers(0, len(a), size=(n_boot, len(a)))].mean(axis=1)
    mean_b = b[rng.integers(0, len(b), size=(n_boot, len(b)))].mean(axis=1)
    lo, hi = np.quantile(mean_a / mean_b, [0.025, 0.975])
    return float(a.mean() / b.mean()), float(lo), float(hi)


def speed_verdict(lo: float, hi: float) -> str:
    """The verdict on a time ratio's CI (above 1: takes longer)."""
    if lo > 1:
        return "**slower** (CI above 1)"
    if hi < 1:
        return "**faster** (CI below 1)"
    if lo >= 1 - SAME_SPEED and hi <= 1 + SAME_SPEED:
        return f"**about as fast** (CI within {SAME_SPEED:.0%} of 1)"
    return "**inconclusive** (CI spans 1)"


def compared(label: str, a, b, unit: str) -> str:
    """'<label>: 1.07x [1.02, 1.12] (bootstrap over 20 and 20 steps): **slower** (CI above 1)',
    the ratio of means with its 95% CI."""
    ratio, lo, hi = ratio_of_means_ci(a, b)
    return (
        f"{label}: {ratio:.2f}x [{lo:.2f}, {hi:.2f}] (bootstrap over {len(a)} and {len(b)} "
        f"{unit}): {speed_verdict(lo, hi)}"
    )


def one_timing(label: str, ratio: float, what: str) -> str:
    """A ratio of too few timings for a CI: the number, and no verdict."""
    return f"{label}: {ratio:.2f}x ({what}: no verdict)"
