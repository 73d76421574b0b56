"""Metrics with bootstrap CIs, a validation-tuned decision threshold, and CPU latency."""

from __future__ import annotations

import time

import numpy as np
from mlcraft.stats import bootstrap_ci
from sklearn.metrics import (
    accuracy_score,
    f1_score,
    log_loss,
    precision_score,
    recall_score,
    roc_auc_score,
)


def positive_scores(prob: np.ndarray) -> np.ndarray:
    return prob[:, 1] if prob.shape[1] == 2 else prob


def decide(prob: np.ndarray, threshold: float | None) -> np.ndarray:
    """Binary: P(class 1) >= threshold; multiclass (or no threshold): argmax."""
    if prob.shape[1] == 2 and threshold is not None:
        return (prob[:, 1] >= threshold).astype(int)
    return prob.argmax(axis=1)


def tune_threshold(y: np.ndarray, prob: np.ndarray) -> float | None:
    """The validation threshold that maximises macro-F1 (binary only); None for multiclass."""
    if prob.shape[1] != 2:
        return None
    grid = np.linspace(0.05, 0.95, 91)
    scores = [f1_score(y, (prob[:, 1] >= t).astype(int), average="macro") for t in grid]
    return float(grid[int(np.argmax(scores))])


def _floored(prob: np.ndarray, floor: float = 1e-7) -> np.ndarray:
    """Probabilities floored at 1e-7 (a finite log loss) and renormalised, so rows still sum to 1."""
    prob = np.clip(prob, floor, 1)
    return prob / prob.sum(axis=1, keepdims=True)


def metric_fns(n_classes: int, threshold: float | None) -> dict:
    labels = list(range(n_classes))

    def auc(y, p):
        if len(np.unique(y)) < 2:
            return float("nan")
        if n_classes == 2:
            return roc_auc_score(y, p[:, 1])
        return roc_auc_score(y, p, multi_class="ovr", labels=labels)

    return {
        "accuracy": lambda y, p: accuracy_score(y, decide(p, threshold)),
        "macro_f1": lambda y, p: f1_score(y, decide(p, threshold), average="macro", labels=labels),
        "roc_auc": auc,
        "log_loss": lambda y, p: log_loss(y, _floored(p), labels=labels),
    }


def score_with_ci(y, prob, threshold, n_boot: int, seed: int) -> dict:
    out = {}
    for name, fn in metric_fns(prob.shape[1], threshold).items():
        point, lo, hi = bootstrap_ci(fn, y, prob, n_boot=n_boot, seed=seed)
        out[name], out[f"{name}_lo"], out[f"{name}_hi"] = point, lo, hi
    return out


def per_class_scores(y, prob, threshold, classes: list[str], n_boot: int, seed: int) -> list[dict]:
    """Precision, recall and F1 of each class (one-vs-rest) with bootstrap 95% intervals."""
    labels = list(range(len(classes)))
    rows = []
    for index, name in enumerate(classes):
        row = {"class": name, "support": int(np.sum(y == index))}
        for metric, fn in (("precision", precision_score), ("recall", recall_score),
                           ("f1", f1_score)):  # fmt: skip

            def score(y_b, p_b, fn=fn, index=index):
                return fn(y_b, decide(p_b, threshold), labels=labels, average=None,
                          zero_division=0)[index]  # fmt: skip

            point, lo, hi = bootstrap_ci(score, y, prob, n_boot=n_boot, seed=seed)
            row[metric], row[f"{metric}_lo"], row[f"{metric}_hi"] = point, lo, hi
        rows.append(row)
    return rows


def speedup_ci(
    slow: list[float], fast: list[float], n_boot: int, seed: int, min_batches: int = 5
) -> dict:
    """Ratio of mean batch times (slow / fast), with a bootstrap 95% interval that resamples the
    batches of each pass independently (the two passes batch the reviews differently); no
    interval (None) from fewer than min_batches batches per pass."""
    slow_a, fast_a = np.asarray(slow), np.asarray(fast)
    point = float(slow_a.mean() / fast_a.mean())
    if min(len(slow_a), len(fast_a)) < min_batches:
        return {"speedup": point, "lo": None, "hi": None}
    rng = np.random.default_rng(seed)
    ratios = [
        rng.choice(slow_a, len(slow_a)).mean() / rng.choice(fast_a, len(fast_a)).mean()
        for _ in range(n_boot)
    ]
    lo, hi = np.percentile(ratios, [2.5, 97.5])
    return {"speedup": point, "lo": float(lo), "hi": float(hi)}


def latency(predict_fn, texts: list[str], repeats: int) -> dict:
    """p50/p95 latency for batch 1 and batch 32 (tokenisation included), and examples/s at 32."""
    out = {}
    for size in (1, 32):
        batches = [texts[(i * size) % len(texts) :][:size] for i in range(repeats + 2)]
        times = []
        for i, batch in enumerate(batches):
            started = time.perf_counter()
            predict_fn(batch)
            if i >= 2:  # two warm-up calls
                times.append(time.perf_counter() - started)
        arr = np.array(times)
        out[f"latency_b{size}_p50_ms"] = float(np.percentile(arr, 50) * 1e3)
        out[f"latency_b{size}_p95_ms"] = float(np.percentile(arr, 95) * 1e3)
        if size == 32:
            out["examples_per_s"] = float(size / np.median(arr))
    return out
