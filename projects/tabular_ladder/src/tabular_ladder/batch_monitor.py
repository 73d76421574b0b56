"""The `monitor` verb: one production batch against the data its model was trained on.

The reference is the model run's own training split, reloaded from the config in its
summary.json (as gating.py does) and scored by the run's bundle. The batch is read the way
`predict` reads its input (the bundle's missing-value tokens, its id column) and goes through the
same checks. A new run folder gets results/drift.csv|md (PSI and KS per model column),
results/monitor.csv|md (one row: prediction PSI, the most drifted feature, the ROC AUC and
accuracy estimated from the calibrated probabilities, and the realized metrics when the batch
carries the target column) and a REPORT.md with one line per finding.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
from mlcraft.calibration import ece
from mlcraft.errors import UserInputError
from mlcraft.files import atomic_write_text
from mlcraft.inputs import read_csv
from mlcraft.monitor import PSI_DRIFT, expected_accuracy, expected_roc_auc, feature_drift, psi
from mlcraft.predictions import OK
from mlcraft.reporting import write_table
from mlcraft.runs import open_run
from sklearn.metrics import roc_auc_score

from tabular_ladder.config import ADULT_POSITIVE, ADULT_TARGET, DataConfig
from tabular_ladder.data import binary_target
from tabular_ladder.predict import OLD_BUNDLE_NA_VALUES, _keys
from tabular_ladder.preflight import EXPECTED_BYTES, PROJECT, check_run_dir, model_run

MIN_ROWS = 50  # below this a PSI of 1 or an AUC of 0.5 says nothing about the batch


def target_name(config: DataConfig) -> str | None:
    return ADULT_TARGET if config.source == "adult" else config.target


def batch_labels(series: pd.Series, config: DataConfig) -> np.ndarray:
    """0/1 labels of the batch's target column, read like training read them."""
    name = series.name
    if config.source == "adult":  # adult.test writes ">50K." where adult.data writes ">50K"
        series = series.astype(str).str.strip().str.rstrip(".")
    positive = ADULT_POSITIVE if config.source == "adult" else config.positive_label
    if positive is None:
        return binary_target(series, None, name)
    if series.isna().any():
        raise UserInputError(f"--input: the target column '{name}' has missing values")
    values = series.astype(str).str.strip()
    if not (values == positive).any():
        # 0/1 or yes/no where training read '>50K': every row would silently count as negative
        seen = ", ".join(sorted(values.unique())[:5])
        raise UserInputError(
            f"--input: the target column '{name}' never holds the positive label '{positive}' "
            f"(values: {seen}); relabel it as the training data was labelled"
        )
    return (values == positive).to_numpy(int)


def read_batch(input_path: str, bundle) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray]:
    """The batch as predict reads it: (the file, the bundle's prepared frame, status per row)."""
    tokens = bundle.meta.get("na_values", OLD_BUNDLE_NA_VALUES)
    frame = read_csv(input_path, "--input", keep_default_na=False, na_values=[*tokens, ""])
    source = f"--input={input_path}"
    _keys(frame, bundle.meta.get("id_column"), source)  # the id column predict needs, too
    prepared, status = bundle.prepare(frame, source)
    scorable = int((status == OK).sum())
    if scorable < MIN_ROWS:
        raise UserInputError(
            f"{source}: {scorable} scorable row(s); drift and estimated metrics need at least "
            f"{MIN_ROWS} (PSI and AUC on a handful of rows are noise)"
        )
    return frame, prepared, status


def monitor_row(
    bundle, reference: pd.DataFrame, batch: pd.DataFrame, labels
) -> tuple[dict, pd.DataFrame]:
    """(the monitor table's row, the drift table) for prepared, scorable frames."""
    threshold = float(bundle.meta["threshold"])
    p_ref, p = bundle.score(reference), bundle.score(batch)
    drift = feature_drift(reference, batch)
    row = {
        "rows": len(batch),
        "prediction_psi": psi(pd.Series(p_ref), pd.Series(p)),
        "max_feature_psi": float(drift["psi"].iloc[0]),
        "most_drifted": str(drift["feature"].iloc[0]),
        "drifted_features": int(drift["drifted"].sum()),
        "threshold": threshold,
        "reference_estimated_roc_auc": expected_roc_auc(p_ref),
        "estimated_roc_auc": expected_roc_auc(p),
        "reference_estimated_accuracy": expected_accuracy(p_ref, threshold),
        "estimated_accuracy": expected_accuracy(p, threshold),
    }
    if labels is not None:
        two_classes = len(np.unique(labels)) == 2  # ROC AUC needs both
        row["realized_roc_auc"] = float(roc_auc_score(labels, p)) if two_classes else np.nan
        row["realized_accuracy"] = float(np.mean((p >= threshold) == labels))
        row["realized_ece"] = ece(labels, p)
    return row, drift


def findings(row: dict, drift: pd.DataFrame, unscored: int) -> list[str]:
    """One line per finding, for REPORT.md."""
    lines = [f"- {unscored} row(s) could not be scored and are left out"] if unscored else []
    for feature in drift[drift["drifted"]].itertuples():
        lines.append(f"- feature `{feature.feature}` drifted: PSI {feature.psi:.3f} > {PSI_DRIFT}")
    if row["prediction_psi"] > PSI_DRIFT:
        lines.append(
            f"- the scores drifted: prediction PSI {row['prediction_psi']:.3f} > {PSI_DRIFT}"
        )
    lines.append(
        f"- estimated ROC AUC {row['estimated_roc_auc']:.3f} (training split "
        f"{row['reference_estimated_roc_auc']:.3f}), estimated accuracy at threshold "
        f"{row['threshold']:.3f}: {row['estimated_accuracy']:.3f} (training split "
        f"{row['reference_estimated_accuracy']:.3f}); estimates hold under covariate shift only"
    )
    if "realized_accuracy" in row:
        lines.append(
            f"- realized on the batch's labels: ROC AUC {row['realized_roc_auc']:.3f}, accuracy "
            f"{row['realized_accuracy']:.3f}, ECE {row['realized_ece']:.3f}"
        )
    if not drift["drifted"].any() and row["prediction_psi"] <= PSI_DRIFT:
        lines.insert(0, f"- no feature and not the scores drifted beyond PSI {PSI_DRIFT}")
    return lines


def monitor_verb(args: argparse.Namespace) -> int:
    from tabular_ladder.bundle import load_bundle
    from tabular_ladder.gating import _data, run_config

    folder = model_run(args.model)
    read_csv(args.input, "--input", nrows=1)  # binary, non-UTF-8, empty: before the model loads
    args.verb = "monitor"
    check_run_dir(args)
    config = run_config(folder)
    bundle = load_bundle(folder / "model")
    frame, batch, status = read_batch(args.input, bundle)
    ok = status == OK
    target = target_name(config.data)
    labels = batch_labels(frame.loc[ok, target], config.data) if target in frame else None
    reference = bundle.check(_data(config.model_dump_json()).X_train, f"--model={folder}")
    row, drift = monitor_row(bundle, reference, batch[ok], labels)
    with open_run(PROJECT, "monitor", None, args.run_dir, EXPECTED_BYTES // 10) as run:
        write_table(run.results, "drift", drift)
        write_table(run.results, "monitor", pd.DataFrame([{"batch": Path(args.input).name, **row}]))
        lines = findings(row, drift, int((~ok).sum()))
        header = f"# {PROJECT}/{run.run_id}\n\nModel `{folder.name}`, batch `{args.input}`.\n\n"
        atomic_write_text(run.path / "REPORT.md", header + "\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"run complete: {run.final}")
    return 0
