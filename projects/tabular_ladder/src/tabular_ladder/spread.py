"""Seed-to-seed spread and same-seed repeat of the tuned LightGBM rung.

The run's tuned parameters are refitted on the same training rows with other seeds (LightGBM's
row and column subsampling draw from the seed) and each is scored on the test split: the spread
of those test ROC AUCs is what "within noise" means for a rerun with another seed. The run's own
seed is refitted once more, so the results say whether a same-seed rerun on this machine repeats
its test probabilities bitwise. The search is not rerun: its spread is the TPE-vs-random table.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import Pipeline

from tabular_ladder.evaluate import fit_timed, positive_proba


def seed_spread(
    make_pipeline: Callable[[int], Pipeline],
    X: pd.DataFrame,
    y: np.ndarray,
    X_test: pd.DataFrame,
    y_test: np.ndarray,
    seeds: list[int],
    run_seed: int,
    run_prob: np.ndarray,
) -> tuple[pd.DataFrame, dict]:
    """One row per seed (the run's own first), and the spread and same-seed repeat summary."""
    rows = [{"seed": run_seed, "model": "the run's rung", "test_roc_auc": roc_auc_score(y_test, run_prob)}]  # fmt: skip
    repeat, _ = fit_timed(make_pipeline(run_seed), X, y, seed=run_seed)
    max_diff = float(np.max(np.abs(positive_proba(repeat, X_test) - run_prob)))
    for seed in seeds:
        model, _ = fit_timed(make_pipeline(seed), X, y, seed=seed)
        rows.append({"seed": seed, "model": "refit",
                     "test_roc_auc": roc_auc_score(y_test, positive_proba(model, X_test))})  # fmt: skip
    table = pd.DataFrame(rows)
    auc = table["test_roc_auc"]
    summary = {
        "seeds": len(table),
        "test_roc_auc_sd": float(auc.std(ddof=1)) if len(table) > 1 else None,
        "test_roc_auc_min": float(auc.min()),
        "test_roc_auc_max": float(auc.max()),
        "same_seed_max_abs_prob_diff": max_diff,
        "same_seed_bitwise": max_diff == 0.0,
    }
    return table, summary
