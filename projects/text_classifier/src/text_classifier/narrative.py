"""Generated README sentences: every number and every "better / worse / met / missed" the README
states is computed here from results/, so the hand-written prose never has to restate one."""

from __future__ import annotations

import math

import pandas as pd
from mlcraft.bench import not_judged, warmup_included
from mlcraft.calibration import ece_change_reading
from mlcraft.reporting import markdown_table
from mlcraft.stats import verdict

# The issue's targets (spec values, not results).
ECE_TARGET = 0.02
WALL_TARGET_MIN = 30.0
BUCKETING_TARGET = 1.5
MIN_TIMED_BATCHES = 5  # fewer batches per pass give no meaningful bootstrap interval

NAMES = {"majority": "majority class", "tfidf": "TF-IDF", "frozen": "frozen MiniLM probe",
         "finetune": "fine-tuned MiniLM"}  # fmt: skip


def _name(rung: str) -> str:
    return NAMES.get(rung, rung)


def on_reference_data(summary: dict) -> bool:
    """A run on the reference data set (the reviews), not on your own data.path."""
    return summary["config"]["data"].get("path") is None


def noun(summary: dict, plural: bool = True) -> str:
    """What one row of the run's data is: a review on the reference data set, a text on yours."""
    word = "review" if on_reference_data(summary) else "text"
    return word + "s" if plural else word


def _judged(lo: float, hi: float, target: float, higher_is_better: bool = True) -> str:
    """mlcraft.stats.verdict on the interval, with why when the data cannot tell."""
    word = verdict(lo, hi, target, higher_is_better)
    return f"**{word}**" + (" (the CI spans the target)" if word == "inconclusive" else "")


def _ece_ci(head: dict) -> tuple[float, float] | None:
    lo, hi = head.get("ece_after_temperature_lo"), head.get("ece_after_temperature_hi")
    return None if lo is None or hi is None else (lo, hi)


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
                "target": "fine-tune minus TF-IDF test macro-F1 > 0 (paired bootstrap)",
                "measured": f"{comp['diff']:+.3f} [95% CI {comp['lo']:+.3f}, {comp['hi']:+.3f}]",
                "result": _judged(comp["lo"], comp["hi"], 0.0),
            }
        )
    ece_ci = _ece_ci(head)
    if ece_ci is not None:
        rows.append(
            {
                "target": f"ECE after temperature scaling <= {ECE_TARGET} ({head['ece_model']})",
                "measured": f"{head['ece_after_temperature']:.3f} "
                f"[95% CI {ece_ci[0]:.3f}, {ece_ci[1]:.3f}]",
                "result": _judged(*ece_ci, ECE_TARGET, higher_is_better=False),
            }
        )
    minutes = summary["wall_seconds"] / 60
    if on_reference_data(summary):  # the time budget is the reference run's, on its data
        rows.append(
            {
                "target": f"reference run <= {WALL_TARGET_MIN:.0f} min on "
                f"{summary['hardware']['cpu_count']} CPU cores",
                "measured": f"{minutes:.1f} min (one run: no interval)",
                "result": _judged(minutes, minutes, WALL_TARGET_MIN, higher_is_better=False),
            }
        )
    bucket = summary.get("bucketing") or {}
    if bucket.get("speedup_lo") is not None:
        rows.append(
            {
                "target": f"length bucketing >= {BUCKETING_TARGET}x faster than fixed padding",
                "measured": f"{bucket['speedup']:.2f}x "
                f"[95% CI {bucket['speedup_lo']:.2f}, {bucket['speedup_hi']:.2f}]",
                "result": _judged(bucket["speedup_lo"], bucket["speedup_hi"], BUCKETING_TARGET),
            }
        )
    return rows


def bucketing_verdict(bucket: dict) -> str:
    """The speed-up target judged on the batch-bootstrap interval (a run from before the interval
    was recorded gets no verdict)."""
    if bucket.get("speedup_lo") is None:
        return (
            f"No interval for the speed-up (fewer than {MIN_TIMED_BATCHES} batches per pass, or a "
            "run from before intervals were recorded), so no verdict on the target."
        )
    lo, hi = bucket["speedup_lo"], bucket["speedup_hi"]
    return (
        f"Speed-up {bucket['speedup']:.2f}x [95% CI {lo:.2f}, {hi:.2f}] (batches resampled) vs "
        f"target >= {BUCKETING_TARGET}x: {_judged(lo, hi, BUCKETING_TARGET)}."
    )


def answer_block(summary: dict, ladder: pd.DataFrame, figure: bool) -> str | None:
    """The README's opening answer: fine-tune vs TF-IDF with the paired CI, the hero figure,
    hardware and wall time."""
    comp = summary.get("finetune_vs_tfidf_macro_f1")
    rows = {r["rung"]: r for _, r in ladder.iterrows()}
    if not comp or not {"finetune", "tfidf"} <= set(rows):
        return None
    word = verdict(comp["lo"], comp["hi"], 0.0)
    answer = {
        "met": "yes, the fine-tune is better",
        "missed": "no, TF-IDF is better",
        "inconclusive": "not on this budget: the two are statistically tied",
    }[word]
    hw = summary["hardware"]
    text = (
        f"**Answer: {answer}.** Test macro-F1 {_ci_text(rows['finetune'], 'macro_f1')} "
        f"(fine-tune) vs {_ci_text(rows['tfidf'], 'macro_f1')} (TF-IDF); paired difference "
        f"{comp['diff']:+.3f} [95% CI {comp['lo']:+.3f}, {comp['hi']:+.3f}]. Hardware: "
        f"{hw['cpu_count']} CPU cores ({hw['cpu_model']}), GPU: "
        f"{hw['gpu']['model'] if hw['gpu'] else 'none'}; wall time "
        f"{summary['wall_seconds'] / 60:.1f} min for the whole run."
    )
    if figure:
        text += "\n\n![Test macro-F1 per rung with bootstrap 95% CIs](results/ladder.png)"
    return text


def _ci_text(row, name: str) -> str:
    return f"{row[name]:.3f} [{row[f'{name}_lo']:.3f}, {row[f'{name}_hi']:.3f}]"


def robustness_sample(summary: dict, ladder: pd.DataFrame, rob: pd.DataFrame) -> str:
    """Why the robustness table's clean accuracy differs from the ladder's, from numbers: the
    test split's own predictions for the sample's rows (their accuracy, and how often they agree
    with the clean robustness predictions) beside the whole split's interval."""
    sample = summary.get("robustness_sample")
    rows = {r["rung"]: r for _, r in ladder.iterrows()}
    clean = rob[rob["perturbation"] == "none"]
    if not sample or clean.empty:
        return ""
    models = [m for m in ("finetune", "tfidf") if f"accuracy_{m}" in clean and m in rows]
    vs = "; ".join(
        f"{_name(m)} {clean[f'accuracy_{m}'].iloc[0]:.3f} vs {_ci_text(rows[m], 'accuracy')}"
        for m in models
    )
    text = (
        f"Clean accuracy ('none') on a {sample['selection']} sample of {sample['rows']:,} of the "
        f"{sample['of_test_rows']:,} test {noun(summary)} (seed {sample['seed']}) vs the whole "
        f"split: {vs}."
    )
    same = {m: sample[m] for m in models if m in sample}
    if not same:
        return text + (
            " This run did not record the test split's own predictions for those rows, so it "
            "cannot tell a harder draw from a scoring difference."
        )
    agree = all(v["agreement_with_test_split"] == 1.0 for v in same.values())
    return text + (
        " The test split's own predictions for the same rows score "
        + ", ".join(
            f"{v['test_split_accuracy_same_rows']:.3f} ({_name(m)})" for m, v in same.items()
        )
        + " and agree with the clean ones on "
        + ", ".join(f"{v['agreement_with_test_split']:.1%}" for v in same.values())
        + " of rows: "
        + (
            "the gap is the draw of rows, not the robustness code."
            if agree
            else "the robustness path does not score as the ladder does."
        )
    )


def summary_block(summary: dict, ladder: pd.DataFrame) -> str:
    head = summary["headline"]
    d = summary["data_description"]
    counts = d["all_class_counts"]
    lines = [
        f"Data: {d['rows_used']:,} usable texts, {counts[-1] / sum(counts):.0%} labelled "
        f"'{d['classes'][-1]}'; "
        f"every rung is scored once on the same full test split of {d['test_rows']:,} "
        f"{noun(summary)}."
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
        ft, tf = rows["finetune"], rows["tfidf"]  # the difference itself: the answer, targets
        budget = finetune_budget(summary)
        if budget:
            lines.append(
                f"\n\nThe fine-tune saw {budget['train_examples']:,} training {noun(summary)} for "
                f"{budget['steps']} optimizer steps ({ft['train_seconds']:.0f} s); TF-IDF trained "
                f"on all {d['train_rows']:,} in {tf['train_seconds']:.0f} s (its Optuna search "
                f"included)."
            )
        ratio = tf["examples_per_s"] / ft["examples_per_s"]
        lines.append(
            f"At batch 32 on this CPU TF-IDF scores {ratio:,.0f}x as many {noun(summary)} per "
            "second as the fine-tune."
        )
    if head.get("ece_after_temperature") is not None:
        lines.append(
            f"The {_name(head['ece_model'])}'s ECE is {head['ece_before_temperature']:.3f} before "
            f"and {head['ece_after_temperature']:.3f} after temperature scaling."
        )
    text = " ".join(lines).replace(" \n\n", "\n\n")
    judged = targets(summary)  # none for a run on your data with no comparison or ECE
    if not judged:
        return text
    return (
        text
        + "\n\nTargets (from the issue), judged from the numbers above:\n\n"
        + markdown_table(judged)
    )


def budget_block(summary: dict, ladder: pd.DataFrame) -> str:
    cfg = summary["config"]
    d = summary["data_description"]
    ft = finetune_budget(summary)
    rows, row = noun(summary), noun(summary, plural=False)
    parts = []
    seconds = ladder.set_index("rung")["train_seconds"]
    if ft and "finetune" in seconds:
        ft["train_seconds"] = float(seconds["finetune"])
        parts.append(
            f"Fine-tune: a stratified {ft['train_examples']:,}-{row} subsample of the "
            f"{d['train_rows']:,}-{row} training split, {cfg['finetune']['epochs']} epoch(s) "
            f"planned ({ft['planned_steps']} optimizer steps of {cfg['finetune']['batch_size']} "
            f"{rows}), validated {cfg['finetune']['val_checks_per_epoch']} times per epoch with "
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
        f"Validation (every rung): {val_n:,} {rows}"
        + (
            " (a stratified subsample of the validation split)"
            if cfg["data"].get("val_subsample")
            else " (the whole validation split)"
        )
        + (f"; frozen-embedding probe: {probe:,} training {rows}" if "frozen" in ran else "")
        + (
            f"; TF-IDF: the whole training split, {cfg['tfidf']['n_trials']} Optuna trials"
            if "tfidf" in ran
            else ""
        )
        + f"; test: all {d['test_rows']:,} {rows}."
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
            f" Serving cost on this CPU: fine-tune {ft_r['examples_per_s']:,.0f} "
            f"{noun(summary)}/s at batch 32 and {ft_r['latency_b1_p50_ms']:.1f} ms for one "
            f"{noun(summary, plural=False)}; TF-IDF {tf_r['examples_per_s']:,.0f} {noun(summary)}/s "
            f"and {tf_r['latency_b1_p50_ms']:.1f} ms."
        )
    return text


def _ece_change(r: pd.Series) -> str:
    """Whether the temperature lowered ECE: a verdict on the paired bootstrap CI of after minus
    before, or, for a run that recorded no such CI, the two numbers and no claim."""
    bins = f", {int(r['bins'])} equal-width bins" if "bins" in r else ""
    numbers = f"{r['ece_before']:.3f} -> {r['ece_after']:.3f}{bins}"
    if pd.isna(r.get("ece_change_lo")):
        return f"ECE {numbers} (no CI of the change recorded, so no claim)"
    lo, hi = r["ece_change_lo"], r["ece_change_hi"]
    return (f"{ece_change_reading(lo, hi)} ({numbers}; after minus before {r['ece_change']:+.3f} "
            f"[95% CI {lo:+.3f}, {hi:+.3f}], paired bootstrap)")  # fmt: skip


def calibration_reading(summary: dict, cal: pd.DataFrame, rel: pd.DataFrame | None) -> str:
    lines = []
    for _, r in cal.iterrows():
        line = f"{r['model']}: temperature {r['temperature']:.2f}: {_ece_change(r)}"
        if "ece_after_lo" in r:
            line += (
                f"; ECE {r['ece_after']:.3f} [95% CI {r['ece_after_lo']:.3f}, "
                f"{r['ece_after_hi']:.3f}] vs target <= {ECE_TARGET}: "
                f"{_judged(r['ece_after_lo'], r['ece_after_hi'], ECE_TARGET, False)}"
            )
        lines.append(line + ".")
    if rel is not None:
        for model, bins in rel[rel["model"].str.endswith("+ temperature")].groupby("model"):
            lines.append(f"{model}: " + reliability_gaps(bins, noun=noun(summary)))
    return "\n\n".join(lines)


def reliability_gaps(
    bins: pd.DataFrame, min_count: int = 30, big_gap: float = 0.1, noun: str = "reviews"
) -> str:
    """The bin that adds most to ECE (largest count-weighted gap) and every bin with at least
    min_count rows (`noun`: what a row is) whose |shown - observed| exceeds big_gap."""
    used = bins[bins["count"] > 0].sort_values("lower")
    gap = used["mean_predicted"] - used["observed"]
    worst = used.loc[(gap.abs() * used["count"]).idxmax()]

    def describe(b) -> str:
        return (
            f"bin {b['lower']:.2f}-{b['upper']:.2f} (mean shown {b['mean_predicted']:.2f}, "
            f"observed {b['observed']:.2f}, {int(b['count'])} {noun})"
        )

    big = used[(used["count"] >= min_count) & (gap.abs() > big_gap)]
    text = f"the largest count-weighted gap is {describe(worst)}; "
    if big.empty:
        return text + f"no bin with {min_count}+ {noun} is off by more than {big_gap}."
    return text + (
        f"bins with {min_count}+ {noun} off by more than {big_gap}: "
        + "; ".join(describe(b) for _, b in big.iterrows())
        + "."
    )


def slices_reading(slices: pd.DataFrame, noun: str = "reviews") -> str:
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
        f"Groups with at least 100 test {noun}:\n\n" + "\n".join(f"- {line}" for line in lines)
        if lines
        else ""
    )


def robustness_reading(rob: pd.DataFrame, n_examples: int, noun: str = "reviews") -> str:
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
        f"{n_examples} {noun} per perturbation, so one flip is {one_flip:.1%}; gaps of three "
        f"flips or fewer ({noise:.1%}) are treated as noise. Flips the fine-tune more: "
        f"{', '.join(more_ft) or 'none'}. Flips TF-IDF more: {', '.join(more_tf) or 'none'}. "
        f"Within noise: {', '.join(same) or 'none'}. No fine-tune flips at all: "
        f"{', '.join(untouched) or 'none'}."
    )


def errors_reading(
    kinds: pd.DataFrame, errors: pd.DataFrame, file_rows: bool = True, quotes: int = 3
) -> str:
    """Counts by (true, predicted) pair and by kind (most common first), and the most confident
    errors quoted from errors.csv: file row, shown probability, kind and the start of the text.
    file_rows: the run's row_id is the file's row (data.ROW_ID); a run from before that numbered
    the rows left after the empty texts were dropped, so its rows are quoted without an id."""
    total = int(kinds["count"].sum())
    by_kind = kinds.sort_values("count", ascending=False, kind="stable")
    kind_text = ", ".join(f"{r['kind']} {int(r['count'])}" for _, r in by_kind.iterrows())
    pairs = errors.groupby(["label", "predicted"]).size().sort_values(ascending=False)
    pair_text = ", ".join(f"{n} true '{t}' called '{p}'" for (t, p), n in pairs.items())
    text = (
        f"Of these {total} errors: {pair_text}; by kind: {kind_text}; the least confident was "
        f"still shown at {errors['confidence'].min():.2f}."
    )
    quoted = []
    for _, e in errors.head(quotes).iterrows():
        words = " ".join(str(e["text"]).split())
        short = words if len(words) <= 80 else words[:80] + "…"
        row = f"row {int(e['row_id'])}, " if file_rows and "row_id" in errors else ""
        quoted.append(
            f"- {row}true '{e['label']}', shown {e['confidence']:.2f} for '{e['predicted']}', "
            f'{e["kind"]}: "{short}"'
        )
    where = (
        "row = 0-based data row of the source file"
        if file_rows and "row_id" in errors
        else "this run's row_id counts rows after the empty texts were dropped, not file rows, "
        "so none is named"
    )
    return text + f"\n\nThe most confident, from errors.csv ({where}):\n\n" + "\n".join(quoted)


VERDICT_WORDS = {"met": "the fine-tune is better", "missed": "TF-IDF is better",
                 "inconclusive": "a tie (the CI spans 0)"}  # fmt: skip


def budget_row(name: str, summary: dict, ladder: pd.DataFrame) -> dict:
    """One published run as a row of the budgets table: what it trained on and what it found."""
    rows = {r["rung"]: r for _, r in ladder.iterrows()}
    comp = summary.get("finetune_vs_tfidf_macro_f1") or {}
    tuned = summary.get("rung_details", {}).get("finetune") or {}
    hw = summary["hardware"]
    gpu = hw["gpu"]["model"] if hw.get("gpu") else None
    return {
        "run": name,
        f"fine-tune {noun(summary)}": tuned.get("train_examples"),
        "epochs run": tuned.get("epochs_run"),
        "fine-tune macro-F1": _ci_text(rows["finetune"], "macro_f1") if "finetune" in rows else "",
        "TF-IDF macro-F1": _ci_text(rows["tfidf"], "macro_f1") if "tfidf" in rows else "",
        "difference [95% CI]": (
            f"{comp['diff']:+.3f} [{comp['lo']:+.3f}, {comp['hi']:+.3f}]" if comp else ""
        ),  # fmt: skip
        "verdict": VERDICT_WORDS[verdict(comp["lo"], comp["hi"], 0.0)] if comp else "",
        "hardware": gpu or f"{hw['cpu_count']} cores, {hw['cpu_model']}",
        "wall min": f"{summary['wall_seconds'] / 60:.1f}",
        "git": str(summary["git_sha"])[:7] + (" (dirty)" if summary["git_dirty"] else ""),
    }


def full_answer(full: dict) -> str:
    """The answer block's sentence for the bigger-budget run (results/full/)."""
    comp = full["finetune_vs_tfidf_macro_f1"]
    reviews = full["rung_details"]["finetune"]["train_examples"]
    return (
        f"With every training review ({reviews:,}, [results/full/](results/full/summary.json)): "
        f"paired difference {comp['diff']:+.3f} [95% CI {comp['lo']:+.3f}, {comp['hi']:+.3f}], "
        f"**{VERDICT_WORDS[verdict(comp['lo'], comp['hi'], 0.0)]}**."
    )


def learning_curve_block(full: dict, figure: bool) -> str:
    """The learning curve of the bigger-budget run: the seed spread, the figure, the tables."""
    curve = full["learning_curve"]
    summary = pd.DataFrame(curve["summary"])
    text = []
    spread = summary[summary["seeds"] >= 2]
    for size, part in spread.groupby("train_reviews"):
        sds = ", ".join(f"{r['model']} {r['test_macro_f1_sd']:.4f}" for _, r in part.iterrows())
        text.append(
            f"Seed-to-seed spread (sd of test macro-F1 over {int(part['seeds'].max())} seeds, "
            f"{size:,} reviews): {sds}."
        )
    if figure:
        text.append("![Learning curve, fine-tune vs TF-IDF](results/full/learning_curve.png)")
    diffs = pd.DataFrame(curve["differences"])
    diffs["verdict"] = [verdict(lo, hi, 0.0) for lo, hi in zip(diffs["lo"], diffs["hi"], strict=True)]  # fmt: skip
    points = "; ".join(
        f"{size:,}: "
        + ", ".join(
            f"{r['diff']:+.3f} [{r['lo']:+.3f}, {r['hi']:+.3f}]" for _, r in part.iterrows()
        )  # fmt: skip
        for size, part in diffs.groupby("train_reviews")
    )
    where = {"met": "above 0", "inconclusive": "across 0", "missed": "below 0"}
    groups = [
        f"{where[word]} at {', '.join(f'{n:,}' for n in part['train_reviews'].unique())}"
        for word, part in diffs.groupby("verdict", sort=False)
    ]
    text.append(
        f"Fine-tune minus TF-IDF on the same training reviews (paired 95% CI, one per seed): "
        f"{points}. The interval lies {'; '.join(groups)} reviews."
    )
    return "\n\n".join(text)


# The throughput target of issue-tracked GPU work: MiniLM-L6 at max length 128 on one GPU.
GPU_TARGET = {"train_examples_per_s": 2000, "max_length": 128}


def bench_target(meta: dict, table: pd.DataFrame) -> str:
    """The GPU target where it applies (a GPU, max length 128, timed after warm-up); on a CPU,
    what was measured."""
    train = table[table["phase"] == "train"].iloc[0]
    if meta["device"] != "cuda":
        return (f"No GPU: the GPU target ({GPU_TARGET['train_examples_per_s']:,} train examples/s "
                f"at max length {GPU_TARGET['max_length']}) is not measured here.")  # fmt: skip
    if int(train["max_length"]) != GPU_TARGET["max_length"]:
        return (f"The GPU target is set at max length {GPU_TARGET['max_length']}; this bench ran "
                f"at {int(train['max_length'])}, so it is not judged.")  # fmt: skip
    if warmup_included(meta):  # timed from the first step: mostly warm-up on a short GPU bench
        return not_judged(f"GPU target (>= {GPU_TARGET['train_examples_per_s']:,} train "
                          "examples/s)", f"{train['examples_per_s']:,.0f} examples/s")  # fmt: skip
    met = train["examples_per_s"] >= GPU_TARGET["train_examples_per_s"]
    return (f"GPU target (>= {GPU_TARGET['train_examples_per_s']:,} train examples/s): "
            f"{'met' if met else 'missed'} ({train['examples_per_s']:,.0f} examples/s).")  # fmt: skip
