"""Calibration metrics, reliability diagrams and recalibration.

Binary inputs are probabilities of the positive class, shape (n,). Multiclass inputs are
probability matrices, shape (n, k); their ECE/MCE use top-label confidence.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax

from mlcraft.stats import bootstrap_ci, paired_bootstrap_diff, verdict

_EPS = 1e-15


def _confidence_and_hits(y_true, prob) -> tuple[np.ndarray, np.ndarray]:
    y_true = np.asarray(y_true)
    prob = np.asarray(prob, dtype=float)
    if prob.ndim == 1:
        return prob, (y_true == 1).astype(float)
    return prob.max(axis=1), (prob.argmax(axis=1) == y_true).astype(float)


def _bin_edges(confidence: np.ndarray, n_bins: int, strategy: str) -> np.ndarray:
    if strategy == "uniform":
        return np.linspace(0.0, 1.0, n_bins + 1)
    if strategy == "quantile":
        edges = np.quantile(confidence, np.linspace(0.0, 1.0, n_bins + 1))
        edges[0], edges[-1] = 0.0, 1.0
        return np.unique(edges)
    raise ValueError(f"strategy must be 'uniform' or 'quantile', got {strategy!r}")


def reliability_bins(y_true, prob, n_bins: int = 15, strategy: str = "uniform") -> pd.DataFrame:
    """Per non-empty bin: count, mean predicted probability, observed frequency.

    Bin assignment matches sklearn.calibration.calibration_curve (right edge inclusive for the
    last bin only, via searchsorted on the inner edges).
    """
    confidence, hits = _confidence_and_hits(y_true, prob)
    if len(confidence) == 0:
        raise ValueError("reliability_bins needs at least one prediction")
    edges = _bin_edges(confidence, n_bins, strategy)
    ids = np.searchsorted(edges[1:-1], confidence, side="right")
    rows = []
    for b in range(len(edges) - 1):
        mask = ids == b
        if mask.any():
            rows.append(
                {
                    "bin": b,
                    "lower": edges[b],
                    "upper": edges[b + 1],
                    "count": int(mask.sum()),
                    "mean_predicted": float(confidence[mask].mean()),
                    "observed": float(hits[mask].mean()),
                }
            )
    return pd.DataFrame(rows)


def ece(y_true, prob, n_bins: int = 15, strategy: str = "uniform") -> float:
    """Expected calibration error: count-weighted mean |observed - predicted| over bins."""
    bins = reliability_bins(y_true, prob, n_bins, strategy)
    gaps = (bins["observed"] - bins["mean_predicted"]).abs()
    return float((gaps * bins["count"]).sum() / bins["count"].sum())


def mce(y_true, prob, n_bins: int = 15, strategy: str = "uniform") -> float:
    """Maximum calibration error: the worst bin's gap."""
    bins = reliability_bins(y_true, prob, n_bins, strategy)
    return float((bins["observed"] - bins["mean_predicted"]).abs().max())


def brier(y_true, prob) -> float:
    y_true = np.asarray(y_true)
    prob = np.asarray(prob, dtype=float)
    if prob.ndim == 1:
        return float(np.mean((prob - (y_true == 1)) ** 2))
    onehot = np.eye(prob.shape[1])[y_true]
    return float(np.mean(np.sum((prob - onehot) ** 2, axis=1)))


def nll(y_true, prob) -> float:
    y_true = np.asarray(y_true)
    prob = np.clip(np.asarray(prob, dtype=float), _EPS, 1 - _EPS)
    if prob.ndim == 1:
        return float(-np.mean(np.where(y_true == 1, np.log(prob), np.log1p(-prob))))
    return float(-np.mean(np.log(prob[np.arange(len(y_true)), y_true])))


def calibration_report(y_true, prob, n_bins: int = 15) -> dict[str, float]:
    return {
        "ece": ece(y_true, prob, n_bins, "uniform"),
        "ece_equal_mass": ece(y_true, prob, n_bins, "quantile"),
        "mce": mce(y_true, prob, n_bins, "uniform"),
        "brier": brier(y_true, prob),
        "nll": nll(y_true, prob),
    }


def ece_ci(
    y_true, prob, n_bins: int = 15, n_boot: int = 1000, seed: int = 0
) -> tuple[float, float]:
    """95% percentile-bootstrap interval of ECE, the interval every other CI in the repo uses.
    ECE is biased upward (binning noise only adds to it), so for a well-calibrated model the
    interval can sit wholly above the estimate; it is not reflected back (a basic interval did,
    and then missed its own estimate after clipping at 0)."""
    _, lo, hi = bootstrap_ci(lambda y, p: ece(y, p, n_bins), y_true, prob, n_boot, seed=seed)
    return lo, hi


def ece_change(y_true, after, before, n_bins: int = 15, n_boot: int = 1000, seed: int = 0) -> dict:
    """ECE(after) minus ECE(before) on the same test rows with its paired bootstrap 95% CI (both
    scored on each resample): whether a recalibration changed ECE beyond test-set noise."""
    return paired_bootstrap_diff(
        lambda y, p: ece(y, p, n_bins), y_true, after, before, n_boot=n_boot, seed=seed
    )


def ece_change_reading(lo: float, hi: float) -> str:
    """What the CI of ECE(after) - ECE(before) allows saying: "lowered ECE" only when the whole
    interval is below 0 (mlcraft.stats.verdict against 0, lower is better)."""
    return {
        "met": "lowered ECE",
        "missed": "raised ECE",
        "inconclusive": "ECE unchanged within noise",
    }[verdict(lo, hi, 0.0, higher_is_better=False)]


# --- temperature scaling ---------------------------------------------------------------------


def _as_two_class_logits(logits: np.ndarray) -> np.ndarray:
    logits = np.asarray(logits, dtype=float)
    if logits.ndim == 1:  # a binary logit z is the two-class pair (0, z)
        return np.stack([np.zeros_like(logits), logits], axis=1)
    return logits


def softmax_with_temperature(logits, temperature: float = 1.0) -> np.ndarray:
    """Probabilities from logits / T; 1-D (binary) logits give the positive-class probability."""
    logits = np.asarray(logits, dtype=float)
    probs = np.exp(log_softmax(_as_two_class_logits(logits) / temperature, axis=1))
    return probs[:, 1] if logits.ndim == 1 else probs


def fit_temperature(logits, y_true, bounds: tuple[float, float] = (0.05, 20.0)) -> float:
    """The temperature T minimising validation NLL of softmax(logits / T) (Guo et al., 2017)."""
    z = _as_two_class_logits(logits)
    y = np.asarray(y_true, dtype=int)
    if len(y) == 0:
        raise ValueError("fit_temperature needs at least one example")

    def loss(log_t: float) -> float:
        return float(-np.mean(log_softmax(z / np.exp(log_t), axis=1)[np.arange(len(y)), y]))

    result = minimize_scalar(loss, bounds=np.log(bounds), method="bounded", options={"xatol": 1e-6})
    return float(np.exp(result.x))


# --- Platt and isotonic through scikit-learn -------------------------------------------------


def calibrate_prefit(estimator, X_calib, y_calib, method: str = "sigmoid"):
    """Recalibrate an already-fitted classifier on held-out data (Platt = 'sigmoid', or 'isotonic').

    FrozenEstimator keeps the fitted model untouched; only the calibration map is learned.
    """
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.frozen import FrozenEstimator

    if method not in {"sigmoid", "isotonic"}:
        raise ValueError(f"method must be 'sigmoid' or 'isotonic', got {method!r}")
    return CalibratedClassifierCV(FrozenEstimator(estimator), method=method).fit(X_calib, y_calib)


# --- plots -----------------------------------------------------------------------------------


def reliability_diagram(
    curves: dict[str, tuple[np.ndarray, np.ndarray]],
    path: str | Path,
    n_bins: int = 15,
    strategy: str = "uniform",
    title: str = "Reliability diagram",
) -> Path:
    """Plot one reliability curve per {label: (y_true, prob)} with a count histogram; write PNG."""
    from mlcraft.plots import plt, save_figure

    fig, (ax, ax_hist) = plt.subplots(
        2, 1, figsize=(5.5, 6.5), gridspec_kw={"height_ratios": [3, 1]}, sharex=True
    )
    ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=1, label="perfect")
    for label, (y_true, prob) in curves.items():
        bins = reliability_bins(y_true, prob, n_bins, strategy)
        value = ece(y_true, prob, n_bins, strategy)
        ax.plot(
            bins["mean_predicted"],
            bins["observed"],
            marker="o",
            ms=3,
            label=f"{label} (ECE {value:.3f})",
        )
        confidence, _ = _confidence_and_hits(y_true, prob)
        ax_hist.hist(confidence, bins=n_bins, range=(0, 1), histtype="step", label=label)
    ax.set_ylabel("observed frequency")
    ax.set_title(title)
    ax.legend(fontsize=8, loc="upper left")
    ax_hist.set_xlabel("predicted probability")
    ax_hist.set_ylabel("count")
    ax_hist.set_yscale("log")
    return save_figure(fig, path)
