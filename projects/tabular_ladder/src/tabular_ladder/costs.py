"""Thresholds that follow costs, and the oversampling-before-split trap.

Cost matrix: a false negative costs `cost_fn`, a false positive `cost_fp`, correct decisions 0.
With calibrated probabilities the Bayes-optimal threshold is cost_fp / (cost_fp + cost_fn).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.frozen import FrozenEstimator
from sklearn.metrics import make_scorer, roc_auc_score
from sklearn.model_selection import StratifiedKFold, TunedThresholdClassifierCV

from tabular_ladder.evaluate import positive_proba


def expected_cost(y, decision, cost_fn: float, cost_fp: float) -> float:
    y, decision = np.asarray(y), np.asarray(decision)
    fn = np.sum((y == 1) & (decision == 0))
    fp = np.sum((y == 0) & (decision == 1))
    return float((cost_fn * fn + cost_fp * fp) / len(y))


def tune_threshold(model, X_cal, y_cal, cost_fn: float, cost_fp: float, seed: int):
    """TunedThresholdClassifierCV on a frozen (already fitted, calibrated) model: the threshold
    that minimises expected cost on cross-validated slices of held-out rows."""
    scorer = make_scorer(expected_cost, greater_is_better=False, cost_fn=cost_fn, cost_fp=cost_fp)
    tuned = TunedThresholdClassifierCV(
        FrozenEstimator(model),
        scoring=scorer,
        cv=StratifiedKFold(5, shuffle=True, random_state=seed),
        thresholds=200,
        random_state=seed,
    )
    return tuned.fit(X_cal, y_cal)


def decision_rows(name: str, y, p, threshold: float, cost_fn: float, cost_fp: float) -> dict:
    decision = (p >= threshold).astype(int)
    tp = int(np.sum((y == 1) & (decision == 1)))
    return {
        "policy": name,
        "threshold": float(threshold),
        "expected_cost": expected_cost(y, decision, cost_fn, cost_fp),
        "false_negatives": int(np.sum((y == 1) & (decision == 0))),
        "false_positives": int(np.sum((y == 0) & (decision == 1))),
        "precision": tp / max(int(decision.sum()), 1),
        "recall": tp / max(int(np.sum(y == 1)), 1),
    }


def oversample(X: pd.DataFrame, y: np.ndarray, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Duplicate random positives until the classes balance (naive random oversampling)."""
    rng = np.random.default_rng(seed)
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    extra = rng.choice(pos, size=max(len(neg) - len(pos), 0), replace=True)
    idx = np.concatenate([np.arange(len(y)), extra])
    return X.iloc[idx].reset_index(drop=True), y[idx]


def oversampling_study(pipeline, X, y, X_test, y_test, folds: int, seed: int) -> pd.DataFrame:
    """CV AUC when oversampling happens inside each training fold vs before the split."""
    splitter = StratifiedKFold(folds, shuffle=True, random_state=seed)
    inside, before = [], []
    for tr, va in splitter.split(X, y):
        X_o, y_o = oversample(X.iloc[tr], y[tr], seed)
        model = clone(pipeline).fit(X_o, y_o)
        inside.append(roc_auc_score(y[va], positive_proba(model, X.iloc[va])))
    X_all, y_all = oversample(X, y, seed)
    for tr, va in splitter.split(X_all, y_all):
        model = clone(pipeline).fit(X_all.iloc[tr], y_all[tr])
        # Copies of a validation row's positives sit in the training folds: memorised, not learned.
        before.append(roc_auc_score(y_all[va], positive_proba(model, X_all.iloc[va])))
    test_auc = roc_auc_score(y_test, positive_proba(clone(pipeline).fit(X_all, y_all), X_test))
    return pd.DataFrame(
        [
            {"protocol": "oversample inside each training fold", "cv_roc_auc_mean": np.mean(inside),
             "cv_roc_auc_std": np.std(inside, ddof=1), "test_roc_auc": test_auc},
            {"protocol": "oversample before the split (leaky)", "cv_roc_auc_mean": np.mean(before),
             "cv_roc_auc_std": np.std(before, ddof=1), "test_roc_auc": test_auc},
        ]
    )  # fmt: skip
