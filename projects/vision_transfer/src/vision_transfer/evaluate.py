"""Inference (with optional 8-view dihedral TTA) and metrics with bootstrap 95% CIs."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import pandas as pd
import torch
from mlcraft.stats import bootstrap_ci
from sklearn.metrics import balanced_accuracy_score, roc_auc_score
from torch import nn

from .augment import Normalizer, dihedral


def predict_logits(
    model: nn.Module,
    images: np.ndarray,
    norm: Normalizer,
    batch_size: int = 128,
    tta: bool = False,
    autocast: bool = False,
) -> tuple[np.ndarray, float]:
    """Logits (N, K) (mean over the 8 dihedral views with tta) and images/s of the pass."""
    logits, _, rate = predict_views(model, images, norm, batch_size, tta, autocast)
    return logits, rate


@torch.no_grad()
def predict_views(
    model: nn.Module,
    images: np.ndarray,
    norm: Normalizer,
    batch_size: int = 128,
    tta: bool = False,
    autocast: bool = False,
) -> tuple[np.ndarray, np.ndarray, float]:
    """(logits, single-view logits, images/s): with tta the mean over the 8 dihedral views and,
    for free, the identity view alone (the single-view prediction); without, both the same."""
    model.eval()
    views = range(8) if tta else (0,)
    out, first = [], []
    started = time.perf_counter()
    for start in range(0, len(images), batch_size):
        x = norm.to_unit(images[start : start + batch_size])
        total = 0
        for k in views:
            with torch.autocast(norm.device, dtype=torch.bfloat16, enabled=autocast):
                view = model(norm(dihedral(x, k))).float()
            if k == 0:
                first.append(view.cpu())
            total = total + view
        out.append((total / len(views)).cpu())
    if norm.device == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - started
    logits = torch.cat(out).numpy().astype(np.float64)
    single = torch.cat(first).numpy().astype(np.float64)
    return logits, single, len(images) * len(views) / max(seconds, 1e-9)


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    z = logits / temperature
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def decide(prob: np.ndarray, threshold: float | None) -> np.ndarray:
    """Class decisions; a binary task uses a threshold on P(class 1) when one is given."""
    if prob.shape[1] == 2 and threshold is not None:
        return (prob[:, 1] >= threshold).astype(int)
    return prob.argmax(axis=1)


def tune_threshold(y: np.ndarray, prob: np.ndarray, objective: str) -> float:
    """The threshold on P(positive) that maximises val accuracy or balanced accuracy (ties: nearest 0.5)."""
    if objective == "argmax" or prob.shape[1] != 2:
        return 0.5
    grid = np.round(np.arange(0.05, 0.951, 0.01), 2)
    score = accuracy if objective == "val_accuracy" else balanced_accuracy
    values = np.array([score(y, (prob[:, 1] >= t).astype(int)) for t in grid])
    best = np.flatnonzero(values >= values.max() - 1e-12)
    return float(grid[best[np.argmin(np.abs(grid[best] - 0.5))]])


def accuracy(y: np.ndarray, pred: np.ndarray) -> float:
    return float(np.mean(y == pred))


def balanced_accuracy(y: np.ndarray, pred: np.ndarray) -> float:
    return float(balanced_accuracy_score(y, pred))


def metric_fns(threshold: float | None, positive: int | None) -> dict[str, Callable]:
    """Metrics of (y, prob matrix); the positive-class ones only for binary tasks."""

    def acc(y, p):
        return accuracy(y, decide(p, threshold))

    def bal(y, p):
        return balanced_accuracy(y, decide(p, threshold)) if len(np.unique(y)) > 1 else np.nan

    fns: dict[str, Callable] = {"accuracy": acc, "balanced_accuracy": bal}
    if positive is None:
        return fns

    def recall(y, p):
        pos = y == positive
        return float(np.mean(decide(p, threshold)[pos] == positive)) if pos.any() else np.nan

    def precision(y, p):
        flagged = decide(p, threshold) == positive
        return float(np.mean(y[flagged] == positive)) if flagged.any() else np.nan

    def auc(y, p):
        return (
            float(roc_auc_score(y == positive, p[:, positive])) if len(np.unique(y)) > 1 else np.nan
        )

    fns.update({"recall": recall, "precision": precision, "roc_auc": auc})
    return fns


def scores_with_ci(
    y: np.ndarray,
    prob: np.ndarray,
    threshold: float | None,
    positive: int | None,
    n_boot: int = 1000,
    seed: int = 0,
) -> dict[str, float]:
    """{metric, metric_lo, metric_hi} for each metric; stratified bootstrap keeps both classes."""
    row: dict[str, float] = {}
    for name, fn in metric_fns(threshold, positive).items():
        point, lo, hi = bootstrap_ci(fn, y, prob, n_boot=n_boot, seed=seed, stratify=True)
        row[name], row[f"{name}_lo"], row[f"{name}_hi"] = point, lo, hi
    return row


def accuracy_with_ci(y, prob, threshold, n_boot: int = 1000, seed: int = 0):
    """Accuracy of the decisions at `threshold`, with its stratified bootstrap 95% CI."""
    return bootstrap_ci(
        lambda t, p: accuracy(t, decide(p, threshold)), y, prob, n_boot=n_boot, seed=seed,
        stratify=True,
    )  # fmt: skip


def paired_accuracy_diff(y, pred_a, pred_b, n_boot: int = 1000, seed: int = 0) -> dict:
    """Accuracy of decisions a minus decisions b on the same resampled test rows."""
    from mlcraft.stats import paired_bootstrap_diff

    return paired_bootstrap_diff(accuracy, y, pred_a, pred_b, n_boot=n_boot, seed=seed)


def per_class_scores(
    y: np.ndarray,
    prob: np.ndarray,
    threshold: float | None,
    classes: list[str],
    n_boot: int = 1000,
    seed: int = 0,
) -> pd.DataFrame:
    """Precision, recall and F1 of each class (one-vs-rest, on the run's decisions), with
    stratified bootstrap 95% CIs; works for any number of classes."""

    def one(index: int, which: str):
        def metric(t, p):
            pred = decide(p, threshold)
            tp = float(np.sum((pred == index) & (t == index)))
            flagged, actual = float(np.sum(pred == index)), float(np.sum(t == index))
            precision = tp / flagged if flagged else np.nan
            recall = tp / actual if actual else np.nan
            if which == "precision":
                return precision
            if which == "recall":
                return recall
            return 2 * tp / (flagged + actual) if flagged + actual else np.nan  # F1

        return metric

    rows = []
    for index, name in enumerate(classes):
        row: dict = {"class": name, "n": int(np.sum(y == index))}
        for metric in ("precision", "recall", "f1"):
            point, lo, hi = bootstrap_ci(
                one(index, metric), y, prob, n_boot=n_boot, seed=seed, stratify=True
            )
            row[metric], row[f"{metric}_lo"], row[f"{metric}_hi"] = point, lo, hi
        rows.append(row)
    return pd.DataFrame(rows)


def evaluate_run(cfg, run, checked, model_run) -> dict:
    """Score the model of a complete train run (`model_run`) on the config's test split, with
    bootstrap CIs; writes results/evaluation.json and results/evaluation.csv/.md into `run`.
    `checked`: pre-flight's data set, loaded at the model's image size, and split."""
    import torch
    from mlcraft.files import atomic_write_json
    from mlcraft.reporting import write_table

    from .models import load_model

    model, meta = load_model(model_run)
    dataset, test = checked.dataset, checked.split["test"]
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model.to(device)
    norm = Normalizer(meta["mean"], meta["std"], channels_last=False, device=device)
    logits, rate = predict_logits(model, dataset.images[test], norm, tta=bool(meta.get("tta")))
    prob = softmax(logits, meta.get("temperature") or 1.0)
    scores = scores_with_ci(
        dataset.labels[test], prob, meta.get("threshold"), dataset.positive, cfg.analysis.n_boot
    )
    result = {
        "model_run": str(model_run),
        "data": dataset.name,
        "n_test": int(len(test)),
        "images_per_s": rate,
        **scores,
    }
    atomic_write_json(run.results / "evaluation.json", result)
    rows = [
        {"metric": name, "value": scores[name], "ci_low": scores[f"{name}_lo"],
         "ci_high": scores[f"{name}_hi"]}
        for name in ("accuracy", "balanced_accuracy", "recall", "precision", "roc_auc")
        if name in scores
    ]  # fmt: skip
    write_table(run.results, "evaluation", pd.DataFrame(rows), digits=4)
    for row in rows:
        print(
            f"{row['metric']:>18}: {row['value']:.4f} [{row['ci_low']:.4f}, {row['ci_high']:.4f}]"
        )
    return result
