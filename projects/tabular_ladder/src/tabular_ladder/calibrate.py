"""Calibration: ECE before and after Platt and isotonic maps fitted on held-out training rows.

The model is fitted on (1 - calibration_fraction) of the training set, the map on the rest
(FrozenEstimator via mlcraft.calibration.calibrate_prefit), and both are scored on test.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from mlcraft.calibration import brier, calibrate_prefit, ece, ece_ci, mce, reliability_diagram
from sklearn.metrics import log_loss
from sklearn.model_selection import StratifiedKFold

from tabular_ladder.evaluate import positive_proba


def choose_method(model, X_cal: pd.DataFrame, y_cal: np.ndarray, seed: int) -> dict[str, float]:
    """5-fold CV log loss of Platt vs isotonic maps on the calibration rows (lower is better)."""
    losses = {"sigmoid": [], "isotonic": []}
    for fit, held in StratifiedKFold(5, shuffle=True, random_state=seed).split(X_cal, y_cal):
        for method in losses:
            mapped = calibrate_prefit(model, X_cal.iloc[fit], y_cal[fit], method)
            p = np.clip(positive_proba(mapped, X_cal.iloc[held]), 1e-7, 1 - 1e-7)
            losses[method].append(log_loss(y_cal[held], p, labels=[0, 1]))
    return {method: float(np.mean(values)) for method, values in losses.items()}


def calibration_study(
    models: dict[str, object],
    X_cal: pd.DataFrame,
    y_cal: np.ndarray,
    X_test: pd.DataFrame,
    y_test: np.ndarray,
    plot_dir: Path | None = None,
    n_boot: int = 200,
    seed: int = 0,
) -> tuple[pd.DataFrame, dict[tuple[str, str], object]]:
    """Per fitted model: test ECE/MCE/Brier raw, Platt ('sigmoid') and isotonic. ECE carries a
    bootstrap CI over test rows: the noise any "within noise" claim is judged against."""
    rows, calibrated = [], {}
    for name, model in models.items():
        curves = {}
        variants = {"uncalibrated": model}
        for method in ("sigmoid", "isotonic"):
            calibrated[(name, method)] = variants[method] = calibrate_prefit(
                model, X_cal, y_cal, method
            )
        for variant, fitted in variants.items():
            p = positive_proba(fitted, X_test)
            curves[variant] = (y_test, p)
            lo, hi = ece_ci(y_test, p, 15, n_boot, seed)
            rows.append(
                {
                    "model": name,
                    "calibration": "platt" if variant == "sigmoid" else variant,
                    "ece_15": ece(y_test, p, 15),
                    "ece_15_lo": lo,
                    "ece_15_hi": hi,
                    "ece_15_quantile": ece(y_test, p, 15, "quantile"),
                    "mce_15": mce(y_test, p, 15),
                    "brier": brier(y_test, p),
                }
            )
        if plot_dir is not None:
            reliability_diagram(
                curves, plot_dir / f"reliability_{name}.png", title=f"Reliability: {name} (test)"
            )
    return pd.DataFrame(rows), calibrated
