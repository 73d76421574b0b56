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
from mlcraft.audit import IDENTIFIER, LEAK, USELESS, Finding, banner
from mlcraft.compress import published_block as compress_block
from mlcraft.loadtest import published_block
from mlcraft.reporting import format_ci, markdown_table, read_table
from mlcraft.review import review_band_block
from mlcraft.stats import verdict

PROJECT_DIR = Path(__file__).resolve().parents[2]
RESULTS = PROJECT_DIR / "results"
README = PROJECT_DIR / "README.md"

# The targets for the reference data (Adult): (what, results table, row filter, column,
# target, higher is better). Each is judged on its CI with mlcraft.stats.verdict, never on the
# point estimate alone. A run on other data (data.source csv or openml) is judged against none:
# Adult's numbers say nothing about your data.
TARGETS = [
    ("tuned LightGBM test ROC AUC", "ladder", {"rung": "lightgbm_tuned"}, "test_roc_auc",
     0.927, True),
    ("LightGBM minus logreg test ROC AUC (paired bootstrap)", "lightgbm_vs_logreg", {}, "diff",
     0.0, True),
    ("calibrated LightGBM ECE (15 bins)", "calibration", {"model": "lightgbm_tuned"}, "ece_15",
     0.01, False),
]  # fmt: skip
WALL_TARGET_S = 540  # the reference run's time budget: 9 minutes on the reference machine


def headline_value(h: dict, key: str, default=None):
    """A headline value by its generic name; results from before the rename used `adult_<key>`."""
    return h.get(key, h.get(f"adult_{key}", default))


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


CONFIDENT_ERRORS_SHOWN = 3  # per kind (false positive, false negative) in the README
FAULT_COLUMNS = ["fault", "exit_code", "message", "files_left", "results_unchanged"]
ERROR_COLUMNS = ["age", "education", "marital-status", "occupation", "relationship", "gender",
                 "capital-gain", "hours-per-week"]  # fmt: skip


def audit_block(results: Path, mode: str = "warn") -> str | None:
    """The data audit's banner from audit.csv (None for a run from before the audit existed),
    naming the flagged columns the run still fitted on (mode: the run's data.audit)."""
    path = results / "audit.csv"
    if not path.is_file():
        return None
    frame = pd.read_csv(path, keep_default_na=False, dtype=str)
    findings = [Finding(**row) for row in frame.to_dict("records")]
    text = banner(findings)
    if not text:
        return "The data audit found nothing to flag."
    kept = [f.column for f in findings if f.kind in (LEAK, IDENTIFIER, USELESS) and f.column]
    if kept:
        text += (
            f"\n>\n> data.audit={mode}: the run went on, and these flagged columns were still "
            f"used as features: {', '.join(f'`{c}`' for c in dict.fromkeys(kept))}. Drop them "
            "with data.drop"
            + (" (or set data.audit=error to stop at such a finding)." if mode == "warn" else ".")
        )
    return text


def spread_text(summary: dict) -> str:
    """The measured seed-to-seed spread and same-seed repeat (tabular_ladder.spread), if any."""
    spread = summary.get("seed_spread")
    if not spread or spread.get("test_roc_auc_sd") is None:
        return ""
    repeat = (
        "repeated its test probabilities bitwise"
        if spread["same_seed_bitwise"]
        else f"differed by up to {spread['same_seed_max_abs_prob_diff']:.1e} in probability"
    )
    return (
        f" Seed to seed (the tuned LightGBM refitted with {spread['seeds']} seeds, same data and "
        f"parameters): test ROC AUC from {spread['test_roc_auc_min']:.4f} to "
        f"{spread['test_roc_auc_max']:.4f}, sd {spread['test_roc_auc_sd']:.4f}. A refit with the "
        f"run's own seed {repeat}."
    )


def model_phase_sentence(curves: pd.DataFrame) -> str:
    """Did TPE's model-based phase act? Per seed, whether the best after the last trial beats the
    best after the random start-up trials (the run's `search.tpe_startup_trials`, recorded in the
    curves' `startup` column by runs since it was added)."""
    if "startup" not in curves:
        return ""
    tpe = curves[curves["sampler"] == "tpe"]
    startup = int(tpe["startup"].iloc[0])
    improved = [
        group.loc[group["trial"] == group["trial"].max(), "best"].iloc[0]
        > group.loc[group["trial"] == startup, "best"].iloc[0]
        for _, group in tpe.groupby("seed")
    ]
    return (
        f" TPE's model-based trials (after its {startup} random start-up trials) raised the best "
        f"in {sum(improved)} of {len(improved)} seeds."
    )


def blocks(results: Path) -> dict[str, str]:
    results = Path(results)
    summary = json.loads((results / "summary.json").read_text())
    h = summary["headline"]
    out: dict[str, str] = {}
    # the data audit's banner, the first thing a reader sees
    audit = audit_block(results, summary["config"]["data"].get("audit", "warn"))
    if audit:
        out["audit"] = audit
    answer = answer_block(results, summary)
    if answer:
        out["answer"] = answer
    hw = summary["hardware"]
    trials = f"{h['optuna_trials']} Optuna trials, " if "optuna_trials" in h else ""
    # Wall time and hardware appear once: in the answer block when there is one, else here.
    cost = ("wall time and hardware are at the top" if answer else
            f"{summary['wall_seconds']:.0f} s wall time on {hw['cpu_count']} cores ({hw['cpu_model']})")  # fmt: skip
    out["reproduce"] = (
        f"Run: git `{str(summary['git_sha'])[:10]}`"
        f"{' (dirty tree)' if summary['git_dirty'] else ''}, started {summary['started_utc']}, "
        f"{trials}n_jobs={summary['config']['n_jobs']}; {cost}." + spread_text(summary)
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
    tokens = read_table(results, "missing_tokens")
    if tokens is not None:  # keep_default_na: the token "NA" is text, not a gap
        tokens = pd.read_csv(results / "missing_tokens.csv", keep_default_na=False)
        out["missing_tokens"] = markdown_table(tokens)
    ladder = read_table(results, "ladder")
    if ladder is not None:  # CV log loss and Brier stay in results/ladder.md
        table = pd.DataFrame({
            "rung": ladder["rung"],
            "CV ROC AUC": _pm(ladder, "roc_auc"),
            "CV PR AUC": _pm(ladder, "pr_auc"),
            "test ROC AUC [95% CI]": _ci(ladder, "test_roc_auc", 4),
            "fit s": ladder["fit_s"],
            "ms / 1k rows": ladder["latency_ms_per_1000"],
        })  # fmt: skip
        notes = "\n".join(
            f"- `{r.rung}`: {r.note}" for r in ladder.itertuples() if isinstance(r.note, str)
        )
        out["ladder"] = markdown_table(table, digits=2) + "\n\n" + notes
        out["verdict"] = _verdict(ladder, h)
    targets = target_rows(results, summary)
    if targets:
        out["targets"] = markdown_table(targets)
    nested = read_table(results, "nested_cv")
    if nested is not None:  # seeds, log loss, Brier and parameters stay in results/nested_cv.md
        shown = ["fold", "roc_auc", "pr_auc", "search_saw_test_rows", "best_trial",
                 "best_from_startup"]  # fmt: skip
        out["nested_cv"] = markdown_table(nested[[c for c in shown if c in nested]], digits=4)
    simple = {
        "lightgbm_vs_logreg": 4, "calibration": 4, "costs": 3,
        "oversampling": 4, "importance": 4, "monotone": 4, "missing_values": 4,
    }  # fmt: skip
    for name, digits in simple.items():
        frame = read_table(results, name)
        if frame is not None:
            out[name] = markdown_table(frame, digits=digits)
    importance = read_table(results, "importance")
    if importance is not None and "rank_shap" in importance:
        out["importance_ranks"] = importance_ranks(importance)
    slices = read_table(results, "slices")
    if slices is not None:
        out["slices"] = markdown_table(pd.DataFrame({
            "slice": slices["slice"], "group": slices["group"], "n": slices["n"],
            "positive rate": slices["positive_rate"],
            "ROC AUC [95% CI]": _ci(slices, "roc_auc"),
            "mean predicted [95% CI]": _ci(slices, "mean_predicted"),
            "recall at cost threshold [95% CI]": _ci(slices, "recall_at_threshold"),
        }))  # fmt: skip
    errors = read_table(results, "confident_errors")
    if errors is not None:
        features = [c for c in ERROR_COLUMNS if c in errors]
        if not features:  # your own data: its first feature columns
            skip = {"test_row", "label", "probability", "error"}
            features = [c for c in errors.columns if c not in skip][:8]
        # the most confident few of each kind; results/confident_errors.md holds them all
        shown = errors.groupby("error", sort=False).head(CONFIDENT_ERRORS_SHOWN)
        out["confident_errors"] = markdown_table(
            shown[["error", "probability", *features]], digits=3
        )
    curves = read_table(results, "sampler_curves")
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
            # The two numbers the prose compares: TPE's own gain vs the noise between seeds. The
            # differences keep their sign: a "largest difference" that is a loss must read as one.
            diffs = table["tpe"] - table["random"]
            spread = table["tpe"].max() - table["tpe"].min()
            out["sampler"] += (
                f"\n\nPer-seed TPE minus random at the full budget: from {diffs.min():+.4f} to "
                f"{diffs.max():+.4f}; seed-to-seed spread of TPE's best: {spread:.4f}."
            )
            out["sampler"] += model_phase_sentence(curves)
    gain = read_table(results, "sampler_gain")
    if gain is not None:
        g = gain.iloc[0]
        out["sampler_gain"] = (
            f"TPE minus random search, best validation ROC AUC after {int(g.trials)} trials, "
            f"paired by seed over {int(g.seeds)} seeds: "
            f"{format_ci(g.tpe_minus_random, g.lo, g.hi, 4)} (95% t-interval); "
            f"TPE better than random: {_judged(verdict(g.lo, g.hi, 0.0))}."
        )
    band = read_table(results, "review_band")
    if band is not None:
        out["review_band"] = review_band_block(band.iloc[0], "analyses.review_max_error", "rows")
    versus = read_table(results, "deployed_vs_class_weights")
    if versus is not None:
        out["deployed_vs_class_weights"] = _deployed_sentence(versus.iloc[0])
    grid = read_table(results, "depth_lr_grid")
    if grid is not None:
        table = grid.pivot(index="max_depth", columns="learning_rate", values="cv_roc_auc_mean")
        table.columns = [f"lr {c:g}" for c in table.columns]
        out["depth_lr_grid"] = markdown_table(table.reset_index(), digits=4)
    flights = read_table(results, "flights")
    if flights is not None:
        out["flights"] = markdown_table(pd.DataFrame({
            "split": flights["split"], "features": flights["features"],
            "train rows": flights["n_train"], "test rows": flights["n_test"],
            "late rate (test)": flights["late_rate_test"],
            "test ROC AUC [95% CI]": _ci(flights, "test_roc_auc"),
        }))  # fmt: skip
    monitoring = read_table(results, "monitoring")
    alerts = read_table(results, "monitoring_alerts")
    if monitoring is not None and alerts is not None:
        out["monitoring"] = monitoring_block(monitoring, alerts)
    faults = read_table(results, "faults")
    if faults is not None:
        out["faults"] = markdown_table(faults[FAULT_COLUMNS])
    compress = compress_block(results)  # published from a compress run
    if compress:
        out["compress"] = compress
    serve = published_block(results)  # published from a loadtest run
    if serve:
        out["serve"] = serve
    return out


def _estimated_realized(frame: pd.DataFrame, metric: str) -> list[str]:
    pairs = zip(frame[f"estimated_{metric}"], frame[f"realized_{metric}"], strict=True)
    return [f"{estimated:.3f} / {realized:.3f}" for estimated, realized in pairs]


def monitoring_block(monitoring: pd.DataFrame, alerts: pd.DataFrame) -> str:
    """The month-by-month table and what the label-free alert rule would have done."""
    table = markdown_table(pd.DataFrame({
        "batch": monitoring["batch"], "rows": monitoring["rows"],
        "late rate": monitoring["late_rate"], "prediction PSI": monitoring["prediction_psi"],
        "max feature PSI": monitoring["max_feature_psi"],
        "ROC AUC est. / real": _estimated_realized(monitoring, "roc_auc"),
        "accuracy est. / real": _estimated_realized(monitoring, "accuracy"),
        "ECE (real)": monitoring["realized_ece"],
    }))  # fmt: skip
    lines = [table, "", "![estimated vs realized per month](results/monitoring.png)", ""]
    for rule in alerts.itertuples():
        lines.append(
            f"- Alert on estimated {rule.metric.replace('_', ' ')} below {rule.reference:.3f} - "
            f"{rule.tolerance:g}: {rule.alerts} alert(s) in {rule.batches} months, "
            f"{rule.false_alarms} false alarm(s), {rule.misses} miss(es); largest |estimated - "
            f"realized| {rule.max_abs_estimation_error:.3f}."
        )
    return "\n".join(lines)


def answer_block(results: Path, summary: dict) -> str | None:
    """The README's opening answer: the best rung with its test CI, its paired gain over
    logistic regression, the hero figure, and what the run cost (hardware, wall time)."""
    ladder = read_table(results, "ladder")
    if ladder is None:
        return None
    h = summary["headline"]
    rows = ladder.set_index("rung")
    best = headline_value(h, "best_model", str(rows["cv_roc_auc_mean"].idxmax()))
    row = rows.loc[best]
    text = (f"**Answer:** `{best}` (chosen by cross-validation) scores test ROC AUC "
            f"{format_ci(row.test_roc_auc, row.test_roc_auc_lo, row.test_roc_auc_hi, 4)} "
            f"on {int(row_count(summary)):,} test rows")  # fmt: skip
    gain = read_table(results, "lightgbm_vs_logreg")
    if gain is not None:
        g = gain.iloc[0]
        text += (f"; tuned LightGBM minus logistic regression on the same rows (paired bootstrap): "
                 f"{format_ci(g['diff'], g['lo'], g['hi'], 4)}")  # fmt: skip
    text += "."
    if (results / "ladder.png").is_file():
        text += "\n\n![The ladder: test ROC AUC per rung with 95% CIs](results/ladder.png)"
    hw = summary["hardware"]
    text += (f"\n\nOne run: {summary['wall_seconds']:.0f} s wall time on {hw['cpu_count']} "
             f"CPU cores ({hw['cpu_model']}), GPU: {hw.get('gpu') or 'none'}.")  # fmt: skip
    return text


def row_count(summary: dict) -> int:
    return summary.get("data_stats", {}).get("test", {}).get("rows", 0)


def _ci_of(row, column: str) -> tuple[float, float] | None:
    """(lo, hi) for a column: `<column>_lo/_hi`, or `lo/hi` in a one-comparison table."""
    for lo, hi in [(f"{column}_lo", f"{column}_hi"), ("lo", "hi")]:
        if lo in row and hi in row and pd.notna(row[lo]) and pd.notna(row[hi]):
            return float(row[lo]), float(row[hi])
    return None


def target_rows(results: Path, summary: dict) -> list[dict]:
    """One row per target whose table is present: the estimate with its 95% CI and the verdict
    on the CI. A table from an older run without the CI is left out rather than judged on a
    point estimate. None for a run on other data than the reference (Adult)."""
    if summary["config"]["data"]["source"] != "adult":
        return []
    rows = []
    for name, table, where, column, target, higher in TARGETS:
        frame = read_table(results, table)
        if frame is None:
            continue
        for key, value in where.items():
            frame = frame[frame[key] == value]
        if "calibration" in frame and table == "calibration":
            method = headline_value(summary["headline"], "calibration_method", "platt")
            frame = frame[frame["calibration"] == method]
        if frame.empty:
            continue
        row = frame.iloc[0]
        ci = _ci_of(row, column)
        if ci is None:
            continue
        sign = ">=" if higher else "<="
        rows.append({
            "target": f"{name} {sign} {target:g}",
            "estimate [95% CI]": format_ci(row[column], *ci, 4),
            "verdict": _judged(verdict(*ci, target, higher)),
        })  # fmt: skip
    wall = summary.get("wall_seconds")
    if wall is not None:  # one measured run: no CI, the run's own time against the budget
        rows.append({"target": f"wall time <= {WALL_TARGET_S} s (one run)",
                     "estimate [95% CI]": f"{wall:.0f} s",
                     "verdict": verdict(wall, wall, WALL_TARGET_S, higher_is_better=False)})  # fmt: skip
    return rows


def _judged(word: str) -> str:
    why = {"met": "the whole CI is on the good side", "missed": "the whole CI is on the bad side",
           "inconclusive": "the CI spans the target"}  # fmt: skip
    return f"{word} ({why[word]})"


def importance_ranks(table: pd.DataFrame, named: str = "capital-gain") -> str:
    """Where a feature ranks under each method, computed (the prose never types a rank): the
    feature the prose discusses when the data has it, and the one the methods disagree on most."""
    table = table.set_index("feature")
    spread = table[["rank_gain", "rank_permutation", "rank_shap"]].agg(
        lambda r: r.max() - r.min(), axis=1
    )
    features = [f for f in dict.fromkeys([named, spread.idxmax()]) if f in table.index]
    n = len(table)
    methods = {"gain": "rank_gain", "permutation AUC drop": "rank_permutation",
               "mean |SHAP|": "rank_shap"}  # fmt: skip
    top = "; ".join(f"by {name}: `{table[column].idxmin()}`" for name, column in methods.items())
    return f"Top feature {top}. " + " ".join(
        f"`{f}` ranks {int(table.loc[f, 'rank_shap'])} of {n} by mean |SHAP|, "
        f"{int(table.loc[f, 'rank_permutation'])} by permutation AUC drop and "
        f"{int(table.loc[f, 'rank_gain'])} by gain."
        for f in features
    )


def _deployed_sentence(row: pd.Series) -> str:
    """Deployed policy (calibrated, tuned threshold) minus class weights, expected cost on test."""
    ci = format_ci(row["diff"], row["lo"], row["hi"], 4)
    if row["hi"] < 0:
        outcome = "the deployed policy costs less (the whole CI is below 0)"
    elif row["lo"] > 0:
        outcome = "the deployed policy **loses**: it costs more than class weights (the whole CI is above 0)"
    else:
        outcome = "the test set cannot tell them apart (the CI spans 0)"
    return (f"Deployed policy minus class weights, expected cost per test row (paired bootstrap): "
            f"{ci}: {outcome}.")  # fmt: skip


def _verdict(ladder: pd.DataFrame, h: dict) -> str:
    """One generated sentence on the ladder's outcome, so the prose never hand-types it."""
    rows = ladder.set_index("rung")
    best = headline_value(h, "best_model", str(rows["cv_roc_auc_mean"].idxmax()))

    def auc(row) -> str:
        return format_ci(row.test_roc_auc, row.test_roc_auc_lo, row.test_roc_auc_hi, 4)

    text = f"Best rung by CV ROC AUC: `{best}` (test ROC AUC {auc(rows.loc[best])})."
    if best != "lightgbm_tuned" and "lightgbm_tuned" in rows.index:
        lgb, other = rows.loc["lightgbm_tuned"], rows.loc[best]
        overlap = lgb.test_roc_auc_lo <= other.test_roc_auc_hi and (
            other.test_roc_auc_lo <= lgb.test_roc_auc_hi
        )
        text += (
            f" Tuned LightGBM: test ROC AUC {auc(lgb)}; the two test CIs "
            f"{'overlap' if overlap else 'do not overlap'}."
        )
    return text
