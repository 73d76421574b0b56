"""Test-set metrics with bootstrap CIs: accuracy alone hides how many minority-class (defective)
cells a model misses, so balanced accuracy and the minority class's recall sit beside it."""

from __future__ import annotations

import numpy as np
from mlcraft.stats import bootstrap_ci, paired_bootstrap_diff
from scipy import stats as sps
from sklearn.metrics import balanced_accuracy_score, recall_score

N_BOOT = 1000
# DDP counts as "as good as one process" when its accuracy is at most this much lower (the CI of
# the paired difference must clear it).
DDP_TOLERANCE = 0.02


def accuracy(y, pred) -> float:
    return float(np.mean(np.asarray(pred) == np.asarray(y)))


def minority_class(y: np.ndarray, n_classes: int) -> int:
    """The rarest class present in y (ELPV: defective)."""
    counts = np.bincount(y, minlength=n_classes).astype(float)
    counts[counts == 0] = np.inf
    return int(counts.argmin())


def scored_metrics(y: np.ndarray, pred: np.ndarray, classes: list[str], seed: int = 0) -> dict:
    """Accuracy, balanced accuracy and minority-class recall, each with a 95% bootstrap CI over
    test images (resampled within each class, so every resample holds every class)."""
    minority = minority_class(y, len(classes))

    def minority_recall(t, p):
        return float(recall_score(t, p, labels=[minority], average="macro", zero_division=0))

    out = {"minority_class": classes[minority]}
    for name, metric in (("accuracy", accuracy), ("balanced_accuracy", balanced_accuracy_score),
                         ("minority_recall", minority_recall)):  # fmt: skip
        point, lo, hi = bootstrap_ci(metric, y, pred, n_boot=N_BOOT, seed=seed, stratify=True)
        out[name] = point
        out[f"{name}_ci95"] = [lo, hi]
    return out


def ddp_comparison(y: np.ndarray, ddp_pred: np.ndarray, single_pred: np.ndarray) -> dict:
    """DDP minus single-process accuracy on the same test images, with a paired bootstrap CI
    (the report judges it against -DDP_TOLERANCE with mlcraft.stats.verdict)."""
    diff = paired_bootstrap_diff(accuracy, y, ddp_pred, single_pred, n_boot=N_BOOT, seed=0)
    return {
        "ddp_minus_single_accuracy": diff["diff"],
        "ddp_minus_single_accuracy_ci95": [diff["lo"], diff["hi"]],
    }


def seed_columns(
    y: np.ndarray, preds: dict[int, np.ndarray], classes: list[str]
) -> dict[int, dict]:
    """Per seed: balanced accuracy, minority-class recall and the share of test images it predicts
    differently from every seed (pairwise disagreement). Equal accuracies do not make equal models:
    two seeds can score 519 of 656 each while disagreeing on many images."""
    minority = minority_class(y, len(classes))
    recall = f"{classes[minority]}_recall"
    return {
        seed: {
            "balanced_accuracy": float(balanced_accuracy_score(y, pred)),
            recall: float(
                recall_score(y, pred, labels=[minority], average="macro", zero_division=0)
            ),
            **{
                f"differs_from_seed_{other}": float(np.mean(pred != preds[other]))
                for other in preds
            },
        }
        for seed, pred in preds.items()
    }


def seed_ci(values) -> tuple[float, float, float]:
    """Mean and Student-t 95% interval over seeds (the spread of retraining, not of the test set)."""
    arr = np.asarray(values, dtype=float)
    mean = float(arr.mean())
    if len(arr) < 2:
        return mean, float("nan"), float("nan")
    half = float(sps.t.ppf(0.975, len(arr) - 1) * arr.std(ddof=1) / np.sqrt(len(arr)))
    return mean, mean - half, mean + half
