"""Generated README sentences: every number and every "better / worse / met / missed" the README
states is computed here from results/, so the hand-written prose never has to restate one."""

from __future__ import annotations

import math

import pandas as pd
from mlcraft.reporting import markdown_table

# The issue's targets (spec values, not results).
ECE_TARGET = 0.02
WALL_TARGET_MIN = 30.0
BUCKETING_TARGET = 1.5

NAMES = {"majority": "majority class", "tfidf": "TF-IDF", "frozen": "frozen MiniLM probe",
         "finetune": "fine-tuned MiniLM"}  # fmt: skip


def _name(rung: str) -> str:
    return NAMES.get(rung, rung)


def _yes(flag: bool | None) -> str:
    return "n/a" if flag is None else ("**met**" if flag else "**missed**")


def finetune_budget(summary: dict) -> dict | None:
    """Planned vs run steps, seconds per step (validation included) and why training ended."""
    ft = summary.get("rung_details", {}).get("finetune")
    if not ft:
        return None
    cfg = summary["config"]["finetune"]
    planned = math.ceil(ft["train_examples"] / cfg["batch_size"]) * cfg["epochs"]
    if cfg.get("max_steps", -1) > 0:
        planned = min(planned, cfg["max_steps"])
    losses = [h["val_loss"] for h in ft["history"]]
    return {
        **ft,
        "planned_steps": planned,
        "early_stopped": ft["steps"] < planned,
        "still_improving": bool(losses) and losses[-1] == min(losses) and len(losses) > 1,
        "first_val_loss": losses[0] if losses else None,
        "last_val_loss": losses[-1] if losses else None,
    }


def targets(summary: dict) -> list[dict]:
    head = summary["headline"]
    rows = []
    comp = summary.get("finetune_vs_tfidf_macro_f1")
    if comp:
        rows.append(
            {
                "target": "fine-tune beats TF-IDF on test macro-F1 beyond paired bootstrap noise",
                "measured": f"{comp['diff']:+.3f} [{comp['lo']:+.3f}, {comp['hi']:+.3f}]",
                "result": _yes(comp["lo"] > 0),
            }
        )
    if head.get("ece_after_temperature") is not None:
        rows.append(
            {
                "target": f"ECE after temperature scaling <= {ECE_TARGET} ({head['ece_model']})",
                "measured": f"{head['ece_after_temperature']:.3f}",
                "result": _yes(head["ece_after_temperature"] <= ECE_TARGET),
            }
        )
    minutes = summary["wall_seconds"] / 60
    rows.append(
        {
            "target": f"reference run <= {WALL_TARGET_MIN:.0f} min on "
            f"{summary['hardware']['cpu_count']} CPU cores",
            "measured": f"{minutes:.1f} min",
            "result": _yes(minutes <= WALL_TARGET_MIN),
        }
    )
    if head.get("bucketing_speedup") is not None:
        rows.append(
            {
                "target": f"length bucketing >= {BUCKETING_TARGET}x faster than fixed padding",
                "measured": f"{head['bucketing_speedup']:.2f}x",
                "result": _yes(head["bucketing_speedup"] >= BUCKETING_TARGET),
            }
        )
    return rows


def summary_block(summary: dict, ladder: pd.DataFrame) -> str:
    head = summary["headline"]
    d = summary["data_description"]
    counts = d["all_class_counts"]
    lines = [
        f"Data: {d['rows_used']:,} usable reviews, {counts[-1] / sum(counts):.0%} recommended; "
        f"every rung is scored once on the same full test split of {d['test_rows']:,} reviews."
    ]
    con = summary.get("rating_contradictions")
    if con:
        rate = con["contradiction_rate"]
        lines.append(
            f"About one label in {1 / rate:.0f} ({rate:.1%}) contradicts the star rating the same "
            f"shopper gave."
        )
    rows = {r["rung"]: r for _, r in ladder.iterrows()}
    comp = summary.get("finetune_vs_tfidf_macro_f1")
    if comp and "finetune" in rows and "tfidf" in rows:
        ft, tf = rows["finetune"], rows["tfidf"]
        if comp["lo"] > 0:
            verdict = "**beats** TF-IDF beyond the paired bootstrap noise"
        elif comp["hi"] < 0:
            verdict = "does **not** beat TF-IDF; it loses by more than the paired bootstrap noise"
        else:
            verdict = (
                "does **not** beat TF-IDF beyond the paired bootstrap noise; the two are "
                "statistically tied"
            )
        lines.append(
            f"\n\n**Result.** On this run the fine-tuned MiniLM {verdict}. Test macro-F1 "
            f"{ft['macro_f1']:.3f} (fine-tune) against {tf['macro_f1']:.3f} (TF-IDF); paired "
            f"bootstrap difference (fine-tune minus TF-IDF) {comp['diff']:+.3f} "
            f"[95% CI {comp['lo']:+.3f}, {comp['hi']:+.3f}]."
        )
        budget = finetune_budget(summary)
        if budget:
            lines.append(
                f"The fine-tune saw {budget['train_examples']:,} training reviews for "
                f"{budget['steps']} optimizer steps ({ft['train_seconds']:.0f} s); TF-IDF trained "
                f"on all {d['train_rows']:,} in {tf['train_seconds']:.0f} s (its Optuna search "
                f"included)."
            )
        ratio = tf["examples_per_s"] / ft["examples_per_s"]
        lines.append(
            f"At batch 32 on this CPU TF-IDF scores {ratio:,.0f}x as many reviews per second as "
            f"the fine-tune."
        )
    if head.get("ece_after_temperature") is not None:
        lines.append(
            f"The {_name(head['ece_model'])}'s ECE is {head['ece_before_temperature']:.3f} before "
            f"and {head['ece_after_temperature']:.3f} after temperature scaling."
        )
    text = " ".join(lines).replace(" \n\n", "\n\n")
    return (
        text
        + "\n\nTargets (from the issue), judged from the numbers above:\n\n"
        + (markdown_table(targets(summary)))
    )


def budget_block(summary: dict, ladder: pd.DataFrame) -> str:
    cfg = summary["config"]
    d = summary["data_description"]
    ft = finetune_budget(summary)
    parts = []
    seconds = ladder.set_index("rung")["train_seconds"]
    if ft and "finetune" in seconds:
        ft["train_seconds"] = float(seconds["finetune"])
        parts.append(
            f"Fine-tune: a stratified {ft['train_examples']:,}-review subsample of the "
            f"{d['train_rows']:,}-review training split, {cfg['finetune']['epochs']} epoch(s) "
            f"planned ({ft['planned_steps']} optimizer steps of {cfg['finetune']['batch_size']} "
            f"reviews), validated {cfg['finetune']['val_checks_per_epoch']} times per epoch with "
            f"early stopping (patience {cfg['finetune']['patience']}); it ran {ft['steps']} steps "
            f"({'stopped early' if ft['early_stopped'] else 'the whole planned budget'}) in "
            f"{ft['train_seconds']:.0f} s, {ft['train_seconds'] / max(ft['steps'], 1):.1f} s per "
            f"step with the validation passes included."
        )
        parts.append(
            f"Optimiser: AdamW, learning rate {cfg['finetune']['lr']:g}, "
            f"{cfg['finetune']['warmup_fraction']:.0%} warmup then linear decay, weight decay "
            f"{cfg['finetune']['weight_decay']:g}, gradient clip {cfg['finetune']['grad_clip']:g}."
        )
    val_n = d["val_rows"]
    ran = set(ladder["rung"])
    probe = min(cfg["frozen"]["train_subsample"] or d["train_rows"], d["train_rows"])
    parts.append(
        f"Validation (every rung): {val_n:,} reviews"
        + (
            " (a stratified subsample of the validation split)"
            if cfg["data"].get("val_subsample")
            else " (the whole validation split)"
        )
        + (f"; frozen-embedding probe: {probe:,} training reviews" if "frozen" in ran else "")
        + (
            f"; TF-IDF: the whole training split, {cfg['tfidf']['n_trials']} Optuna trials"
            if "tfidf" in ran
            else ""
        )
        + f"; test: all {d['test_rows']:,} reviews."
    )
    return " ".join(parts)


def ladder_reading(summary: dict, ladder: pd.DataFrame) -> str:
    """Which rung wins each metric, and how the fine-tune's validation loss moved."""
    learned = ladder[ladder["rung"] != "majority"]
    text = ""
    if len(learned) > 1:
        best = {
            "macro-F1": learned.loc[learned["macro_f1"].idxmax(), "rung"],
            "accuracy": learned.loc[learned["accuracy"].idxmax(), "rung"],
            "ROC AUC": learned.loc[learned["roc_auc"].idxmax(), "rung"],
            "log loss": learned.loc[learned["log_loss"].idxmin(), "rung"],
        }
        text = "Best learned rung per test metric: " + ", ".join(
            f"{metric} {_name(rung)}" for metric, rung in best.items()
        )
        text += "."
    ft = finetune_budget(summary)
    if ft and ft["first_val_loss"] is not None:
        trend = (
            "still falling at the last check, so the budget, not convergence, ended training"
            if ft["still_improving"]
            else "no longer falling at the last check"
        )
        text += (
            f" Fine-tune validation loss went from {ft['first_val_loss']:.3f} (first check) to "
            f"{ft['last_val_loss']:.3f} (last check): {trend}."
        )
    rows = {r["rung"]: r for _, r in ladder.iterrows()}
    if "finetune" in rows and "tfidf" in rows:
        ft_r, tf_r = rows["finetune"], rows["tfidf"]
        text += (
            f" Serving cost on this CPU: fine-tune {ft_r['examples_per_s']:,.0f} reviews/s at batch "
            f"32 and {ft_r['latency_b1_p50_ms']:.1f} ms for one review; TF-IDF "
            f"{tf_r['examples_per_s']:,.0f} reviews/s and {tf_r['latency_b1_p50_ms']:.1f} ms."
        )
    return text


def calibration_reading(summary: dict, cal: pd.DataFrame, rel: pd.DataFrame | None) -> str:
    lines = []
    for _, r in cal.iterrows():
        change = "lowered" if r["ece_after"] < r["ece_before"] else "did not lower"
        lines.append(
            f"{r['model']}: temperature {r['temperature']:.2f} {change} ECE "
            f"({r['ece_before']:.3f} -> {r['ece_after']:.3f}); target <= {ECE_TARGET} "
            f"{'met' if r['ece_after'] <= ECE_TARGET else 'missed'}."
        )
    if rel is not None:
        for model, bins in rel[rel["model"].str.endswith("+ temperature")].groupby("model"):
            used = bins[bins["count"] > 0].sort_values("lower")
            low = used.iloc[0]
            gap = (used["mean_predicted"] - used["observed"]).abs()
            worst = used.loc[gap.idxmax()]
            lines.append(
                f"{model}: the lowest probability it shows is in bin {low['lower']:.1f}-"
                f"{low['upper']:.1f} ({int(low['count'])} reviews, {low['observed']:.0%} recommended);"
                f" the largest gap is bin {worst['lower']:.1f}-{worst['upper']:.1f} (mean shown "
                f"{worst['mean_predicted']:.2f}, observed {worst['observed']:.2f}, "
                f"{int(worst['count'])} reviews)."
            )
    return "\n\n".join(lines)


def slices_reading(slices: pd.DataFrame) -> str:
    lines = []
    for (model, name), group in slices.groupby(["model", "slice"], sort=False):
        big = group[group["n"] >= 100]
        if len(big) < 2:
            continue
        lo, hi = big.loc[big["accuracy"].idxmin()], big.loc[big["accuracy"].idxmax()]
        overlap = lo["accuracy_hi"] >= hi["accuracy_lo"]
        lines.append(
            f"{model}, {name}: highest accuracy {hi['group']} ({hi['accuracy']:.3f}), lowest "
            f"{lo['group']} ({lo['accuracy']:.3f}); their intervals "
            f"{'overlap' if overlap else 'do not overlap'}."
        )
    return (
        "Groups with at least 100 test reviews:\n\n" + "\n".join(f"- {line}" for line in lines)
        if lines
        else ""
    )


def robustness_reading(rob: pd.DataFrame, n_examples: int) -> str:
    if not {"flip_rate_finetune", "flip_rate_tfidf"} <= set(rob.columns):
        return ""
    one_flip = 1 / n_examples
    rob = rob[rob["perturbation"] != "none"]
    gap = rob["flip_rate_finetune"] - rob["flip_rate_tfidf"]
    noise = 3 * one_flip
    more_ft = rob.loc[gap > noise, "perturbation"].tolist()
    more_tf = rob.loc[gap < -noise, "perturbation"].tolist()
    same = rob.loc[gap.abs() <= noise, "perturbation"].tolist()
    untouched = rob.loc[rob["flip_rate_finetune"] == 0, "perturbation"].tolist()
    return (
        f"{n_examples} reviews per perturbation, so one flip is {one_flip:.1%}; gaps of three "
        f"flips or fewer ({noise:.1%}) are treated as noise. Flips the fine-tune more: "
        f"{', '.join(more_ft) or 'none'}. Flips TF-IDF more: {', '.join(more_tf) or 'none'}. "
        f"Within noise: {', '.join(same) or 'none'}. No fine-tune flips at all: "
        f"{', '.join(untouched) or 'none'}."
    )


def errors_reading(kinds: pd.DataFrame, errors: pd.DataFrame) -> str:
    total = int(kinds["count"].sum())
    top = kinds.sort_values("count", ascending=False).iloc[0]
    fp = int(((errors["label"] == 0) & (errors["predicted"] == 1)).sum())
    return (
        f"Of these {total} errors, {fp} are 'not recommended' reviews called 'recommended' and "
        f"{total - fp} the other way round; the most common kind is {top['kind']} "
        f"({int(top['count'])} of {total}); "
        f"the least confident of them was still shown at {errors['confidence'].min():.2f}."
    )
