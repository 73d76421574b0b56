"""The README's generated blocks, rendered from one results folder (never typed by hand).

`blocks(results)` serves both `python -m tabular_ladder report` (the published results/ into the
README) and every run's REPORT.md (that run's results/). A run may lack optional tables (fewer
rungs, analyses switched off, a search or evaluate run): their blocks are left out. A table that
is present is always rendered, so a broken one fails loudly.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from mlcraft.audit import Finding, banner
from mlcraft.reporting import format_ci, markdown_table, render_readme

PROJECT_DIR = Path(__file__).resolve().parents[2]
RESULTS = PROJECT_DIR / "results"
README = PROJECT_DIR / "README.md"

TARGETS = [
    ("tuned LightGBM test ROC AUC >= 0.927", lambda h: h.get("adult_test_roc_auc_lightgbm", 0) >= 0.927),
    ("LightGBM beats logreg by more than the CI (paired bootstrap lower bound > 0)",
     lambda h: h.get("adult_auc_gain_over_logreg_lo", -1) > 0),
    ("calibrated ECE (15 bins) <= 0.01", lambda h: h.get("adult_ece_calibrated", 1) <= 0.01),
    ("reference run <= 9 minutes", lambda h: h.get("wall_seconds", 1e9) <= 540),
]  # fmt: skip


def _read(results: Path, name: str) -> pd.DataFrame | None:
    path = results / f"{name}.csv"
    return pd.read_csv(path) if path.is_file() else None


def _ci(frame: pd.DataFrame, column: str, digits: int = 3) -> pd.Series:
    return [
        format_ci(r[column], r[f"{column}_lo"], r[f"{column}_hi"], digits)
        for _, r in frame.iterrows()
    ]


def _pm(frame: pd.DataFrame, metric: str, digits: int = 4) -> list[str]:
    return [
        f"{m:.{digits}f} ± {s:.{digits}f}"
        for m, s in zip(frame[f"cv_{metric}_mean"], frame[f"cv_{metric}_std"], strict=True)
    ]


FAULT_COLUMNS = ["fault", "exit_code", "message", "files_left", "results_unchanged"]
ERROR_COLUMNS = ["age", "education", "marital-status", "occupation", "relationship", "gender",
                 "capital-gain", "hours-per-week"]  # fmt: skip


def audit_block(results: Path) -> str | None:
    """The data audit's banner from audit.csv (None for a run from before the audit existed)."""
    path = results / "audit.csv"
    if not path.is_file():
        return None
    frame = pd.read_csv(path, keep_default_na=False, dtype=str)
    findings = [Finding(**row) for row in frame.to_dict("records")]
    return banner(findings) or "The data audit found nothing to flag."


def blocks(results: Path) -> dict[str, str]:
    results = Path(results)
    summary = json.loads((results / "summary.json").read_text())
    h = summary["headline"]
    out: dict[str, str] = {}
    audit = audit_block(results)  # the data audit's banner, first thing a reader sees
    if audit:
        out["audit"] = audit
    rows = [{"metric": k, "value": v} for k, v in h.items()]
    out["headline"] = markdown_table(rows, digits=4)
    hw = summary["hardware"]
    trials = f"{h['optuna_trials']} Optuna trials, " if "optuna_trials" in h else ""
    out["reproduce"] = (
        f"Run: **{summary['wall_seconds']:.0f} s** wall time on {hw['cpu_count']} cores "
        f"({hw['cpu_model']}), git `{str(summary['git_sha'])[:10]}`"
        f"{' (dirty tree)' if summary['git_dirty'] else ''}, started {summary['started_utc']}, "
        f"{trials}n_jobs={summary['config']['n_jobs']}."
    )
    data_rows = [
        {"file": name, "rows": info["rows"], "sha256": info["sha256"]}
        for name, info in summary["data"].items()
    ]
    stats = summary.get("data_stats", {})
    out["data"] = markdown_table(data_rows)
    if stats:
        split_rows = [{"split": k, **v} for k, v in stats.items()]
        out["data"] += "\n\n" + markdown_table(split_rows, digits=4)
    ladder = _read(results, "ladder")
    if ladder is not None:
        table = pd.DataFrame({
            "rung": ladder["rung"],
            "CV ROC AUC": _pm(ladder, "roc_auc"),
            "CV PR AUC": _pm(ladder, "pr_auc"),
            "CV log loss": _pm(ladder, "log_loss"),
            "CV Brier": _pm(ladder, "brier"),
            "test ROC AUC [95% CI]": _ci(ladder, "test_roc_auc", 4),
            "fit s": ladder["fit_s"],
            "ms / 1k rows": ladder["latency_ms_per_1000"],
        })  # fmt: skip
        notes = "\n".join(
            f"- `{r.rung}`: {r.note}" for r in ladder.itertuples() if isinstance(r.note, str)
        )
        out["ladder"] = markdown_table(table, digits=2) + "\n\n" + notes
        out["verdict"] = _verdict(ladder, h)
        out["targets"] = markdown_table(
            [{"target": name, "met": bool(check(h))} for name, check in TARGETS]
        )
    simple = {
        "nested_cv": 4, "lightgbm_vs_logreg": 4, "calibration": 4, "costs": 3,
        "oversampling": 4, "importance": 4, "monotone": 4, "missing_values": 4,
    }  # fmt: skip
    for name, digits in simple.items():
        frame = _read(results, name)
        if frame is not None:
            out[name] = markdown_table(frame, digits=digits)
    slices = _read(results, "slices")
    if slices is not None:
        out["slices"] = markdown_table(pd.DataFrame({
            "slice": slices["slice"], "group": slices["group"], "n": slices["n"],
            "positive rate": slices["positive_rate"],
            "ROC AUC [95% CI]": _ci(slices, "roc_auc"),
            "mean predicted [95% CI]": _ci(slices, "mean_predicted"),
            "recall at cost threshold [95% CI]": _ci(slices, "recall_at_threshold"),
        }))  # fmt: skip
    errors = _read(results, "confident_errors")
    if errors is not None:
        features = [c for c in ERROR_COLUMNS if c in errors]
        if not features:  # your own data: its first feature columns
            skip = {"test_row", "label", "probability", "error"}
            features = [c for c in errors.columns if c not in skip][:8]
        out["confident_errors"] = markdown_table(
            errors[["error", "probability", *features]], digits=3
        )
    curves = _read(results, "sampler_curves")
    if curves is not None:
        last = curves[curves["trial"] == curves["trial"].max()]
        table = last.pivot(index="seed", columns="sampler", values="best").reset_index()
        first10 = curves[curves["trial"] == min(10, curves["trial"].max())]
        early = first10.groupby("sampler")["best"].mean()
        out["sampler"] = (
            markdown_table(table, digits=4)
            + f"\n\nMean best after {int(first10['trial'].iloc[0])} trials: "
            + ", ".join(f"{k} {v:.4f}" for k, v in early.items())
            + f"; after {int(last['trial'].iloc[0])}: "
            + ", ".join(f"{k} {v:.4f}" for k, v in last.groupby("sampler")["best"].mean().items())
        )
        if {"tpe", "random"} <= set(table.columns):
            # The two numbers the prose compares: TPE's own gain vs the noise between seeds.
            gain = (table["tpe"] - table["random"]).abs().max()
            spread = table["tpe"].max() - table["tpe"].min()
            out["sampler"] += (
                f"\n\nLargest per-seed TPE-minus-random difference at the full budget: "
                f"{gain:.4f}; seed-to-seed spread of TPE's best: {spread:.4f}."
            )
    grid = _read(results, "depth_lr_grid")
    if grid is not None:
        table = grid.pivot(index="max_depth", columns="learning_rate", values="cv_roc_auc_mean")
        table.columns = [f"lr {c:g}" for c in table.columns]
        out["depth_lr_grid"] = markdown_table(table.reset_index(), digits=4)
    flights = _read(results, "flights")
    if flights is not None:
        out["flights"] = markdown_table(pd.DataFrame({
            "split": flights["split"], "features": flights["features"],
            "train rows": flights["n_train"], "test rows": flights["n_test"],
            "late rate (test)": flights["late_rate_test"],
            "test ROC AUC [95% CI]": _ci(flights, "test_roc_auc"),
        }))  # fmt: skip
    faults = _read(results, "faults")
    if faults is not None:
        out["faults"] = markdown_table(faults[FAULT_COLUMNS])
    return out


def _verdict(ladder: pd.DataFrame, h: dict) -> str:
    """One generated sentence on the ladder's outcome, so the prose never hand-types it."""
    rows = ladder.set_index("rung")
    best = h.get("adult_best_model", str(rows["cv_roc_auc_mean"].idxmax()))
    text = f"Best rung by CV ROC AUC: `{best}` (test ROC AUC {rows.loc[best, 'test_roc_auc']:.4f})."
    if best != "lightgbm_tuned" and "lightgbm_tuned" in rows.index:
        lgb, other = rows.loc["lightgbm_tuned"], rows.loc[best]
        overlap = lgb.test_roc_auc_lo <= other.test_roc_auc_hi and (
            other.test_roc_auc_lo <= lgb.test_roc_auc_hi
        )
        text += (
            f" Tuned LightGBM: test ROC AUC {lgb.test_roc_auc:.4f}; the two test CIs "
            f"{'overlap' if overlap else 'do not overlap'}."
        )
    return text


def render(results: Path = RESULTS, readme: Path = README) -> list[str]:
    """What `python -m tabular_ladder report` does (through the shared CLI)."""
    return render_readme(readme, blocks(results))
