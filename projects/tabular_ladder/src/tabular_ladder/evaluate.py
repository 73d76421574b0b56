"""Metrics, cross-validation of a rung, test scores with bootstrap CIs, and latency."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import pandas as pd
from mlcraft.stats import bootstrap_ci
from sklearn.base import clone
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score
from sklearn.model_selection import StratifiedKFold, train_test_split
from sklearn.pipeline import Pipeline

METRICS: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "roc_auc": roc_auc_score,
    "pr_auc": average_precision_score,
    "log_loss": lambda y, p: log_loss(y, np.clip(p, 1e-7, 1 - 1e-7), labels=[0, 1]),
    "brier": brier_score_loss,
}


def scores(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    return {name: float(fn(y, p)) for name, fn in METRICS.items()}


def positive_proba(model, X) -> np.ndarray:
    return model.predict_proba(X)[:, 1]


def subsample_rows(X: pd.DataFrame, y: np.ndarray, max_rows: int | None, seed: int):
    """A stratified subsample (for rungs whose cost grows with training rows)."""
    if not max_rows or max_rows >= len(X):
        return X, y
    keep, _ = train_test_split(
        np.arange(len(X)), train_size=max_rows, stratify=y, random_state=seed
    )
    return X.iloc[np.sort(keep)], y[np.sort(keep)]


def fit_timed(
    pipeline: Pipeline, X, y, max_rows: int | None = None, seed: int = 0
) -> tuple[Pipeline, float]:
    X, y = subsample_rows(X, y, max_rows, seed)
    start = time.perf_counter()
    fitted = clone(pipeline).fit(X, y)
    return fitted, time.perf_counter() - start


def cross_validate(
    pipeline: Pipeline,
    X: pd.DataFrame,
    y: np.ndarray,
    folds: int,
    seed: int,
    max_rows: int | None = None,
) -> dict[str, float]:
    """Stratified k-fold mean/std of every metric, plus mean fit seconds."""
    rows = []
    splitter = StratifiedKFold(folds, shuffle=True, random_state=seed)
    for train_idx, valid_idx in splitter.split(X, y):
        model, seconds = fit_timed(pipeline, X.iloc[train_idx], y[train_idx], max_rows, seed)
        rows.append(
            {**scores(y[valid_idx], positive_proba(model, X.iloc[valid_idx])), "fit_s": seconds}
        )
    return summarise_folds(pd.DataFrame(rows))


def summarise_folds(frame: pd.DataFrame) -> dict[str, float]:
    out = {}
    for name in METRICS:
        out[f"cv_{name}_mean"] = float(frame[name].mean())
        out[f"cv_{name}_std"] = float(frame[name].std(ddof=1))
    return out


def test_report(y: np.ndarray, p: np.ndarray, n_boot: int, seed: int) -> dict[str, float]:
    """Test metrics; ROC AUC with a stratified bootstrap 95% CI."""
    auc, lo, hi = bootstrap_ci(roc_auc_score, y, p, n_boot=n_boot, seed=seed, stratify=True)
    out = {f"test_{k}": v for k, v in scores(y, p).items()}
    out.update({"test_roc_auc": auc, "test_roc_auc_lo": lo, "test_roc_auc_hi": hi})
    return out


def latency_ms_per_1000(model, X: pd.DataFrame, rows: int = 1000, repeats: int = 5) -> float:
    """Best-of-`repeats` wall time to score `rows` rows in one batch, in ms per 1,000 rows."""
    batch = X.iloc[:rows]
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        model.predict_proba(batch)
        best = min(best, time.perf_counter() - start)
    return best * 1000 * (1000 / len(batch))
