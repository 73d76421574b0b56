"""The README's generated blocks, rendered from a results folder (never from memory or by hand).

`blocks(results)` serves both the README (`report`, from the published results/) and each train
run's REPORT.md (from that run's results/). A run with fewer rungs or analyses lacks some tables:
their blocks are left out (the README keeps its old block, REPORT.md skips the section); a table
that is present but malformed still raises, so a bug is never hidden.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from mlcraft import gputests
from mlcraft.bench import published_block as bench_block
from mlcraft.compress import published_block as compress_block
from mlcraft.errors import UserInputError
from mlcraft.loadtest import published_block
from mlcraft.reporting import format_ci, markdown_table, read_table
from mlcraft.review import review_band_block
from mlcraft.runs import read_run_info
from mlcraft.stats import verdict as stats_verdict

from text_classifier import narrative
from text_classifier.audit import audit_block
from text_classifier.repro import reproducibility_block

RUNG_NAMES = {
    "majority": "1. majority class",
    "tfidf": "2. TF-IDF word+char n-grams + LR (Optuna)",
    "frozen": "3. frozen MiniLM mean-pool + LR",
    "finetune": "4. fine-tuned MiniLM (Lightning)",
}


def _ci(row, name, digits=3) -> str:
    return format_ci(row[name], row[f"{name}_lo"], row[f"{name}_hi"], digits)


def blocks(results: str | Path) -> dict[str, str]:
    results = Path(results)
    path = results / "summary.json"
    if not path.is_file():
        raise UserInputError(f"{path} not found: run `python -m text_classifier train` first")
    ladder = pd.read_csv(results / "ladder.csv")  # every train run has at least one rung
    summary = json.loads(path.read_text())
    blocks: dict[str, str] = {}
    audit = audit_block(results)  # the data audit's banner, the first thing a reader sees
    if audit:
        blocks["audit"] = audit
    answer = narrative.answer_block(summary, ladder, (results / "ladder.png").is_file())
    full = _full_run(results)  # the bigger-budget run, published to results/full/
    if answer and full:
        answer = answer.replace("\n\n![", f" {narrative.full_answer(full[0])}\n\n![", 1)
    if answer:
        blocks["answer"] = answer

    budgets = [narrative.budget_row(run_label(results, summary), summary, ladder)]
    if full:
        budgets.append(narrative.budget_row("bigger budget (configs/full.yaml)", *full))
        blocks["full"] = narrative.learning_curve_block(
            full[0], (results / "full" / "learning_curve.png").is_file()
        )
    blocks["reproduce"] = markdown_table(pd.DataFrame(budgets))

    d = summary["data_description"]
    lengths = summary["token_lengths"]
    classes = d["classes"]
    rows = split_rows(d, summary["config"]["data"].get("val_subsample"))
    cfg_data = summary["config"]["data"]
    texts = narrative.noun(summary)  # "reviews" on the reference data, "texts" on yours
    empty = (
        "no title and no review"
        if narrative.on_reference_data(summary)
        else f"nothing in column '{cfg_data['text_column']}'"
    )
    train_share = 1 - cfg_data["val_fraction"] - cfg_data["test_fraction"]
    blocks["data"] = (
        f"Split: stratified {train_share:.0%} / {cfg_data['val_fraction']:.0%} / "
        f"{cfg_data['test_fraction']:.0%} (train / validation / test), seed {summary['seed']}. "
        f"Rows in file: {d['rows_in_file']:,}; dropped for empty text ({empty}): "
        f"{d['rows_dropped_empty_text']:,}; used: {d['rows_used']:,}. Every row of the file is "
        "in exactly one line of this table:\n\n"
        + markdown_table(rows)
        + f"\n\nToken lengths (training split, MiniLM WordPiece incl. [CLS]/[SEP]): median "
        f"{lengths['p50']:.0f}, p95 {lengths['p95']:.0f}, p99 {lengths['p99']:.0f}, max "
        f"{lengths['max']}. Chosen max length: {lengths['max_length']} "
        f"({lengths['truncated_fraction']:.1%} of training texts truncated)."
    )

    repro = reproducibility_block(results)  # what repeated bitwise, what was not measured
    if repro:
        blocks["reproducibility"] = repro
    blocks["summary"] = narrative.summary_block(summary, ladder)
    blocks["budget"] = narrative.budget_block(summary, ladder)
    details = summary.get("rung_details", {})
    analysis = summary["config"]["analysis"]
    table = []
    for _, r in ladder.iterrows():
        table.append(
            {
                "rung": RUNG_NAMES.get(r["rung"], r["rung"]),
                "accuracy": _ci(r, "accuracy"),
                "macro-F1": _ci(r, "macro_f1"),
                "ROC AUC": _ci(r, "roc_auc"),
                "log loss": _ci(r, "log_loss"),
                "train s": r["train_seconds"],
                "ex/s (b32)": r["examples_per_s"],
                "p50/p95 ms b1": f"{r['latency_b1_p50_ms']:.1f} / {r['latency_b1_p95_ms']:.1f}",
                "p50/p95 ms b32": f"{r['latency_b32_p50_ms']:.1f} / {r['latency_b32_p95_ms']:.1f}",
            }
        )
    text = (
        f"Test split, {d['test_rows']:,} {texts}; bootstrap 95% intervals "
        f"({analysis['n_boot']:,} resamples)"
        + (
            f"; TF-IDF's train time includes its {summary['config']['tfidf']['n_trials']} "
            "Optuna trials"
            if "tfidf" in set(ladder["rung"])
            else ""
        )
        + ".\n\n"
        + markdown_table(table, digits=1)
    )
    ft = details.get("finetune")
    if ft:
        hist = "; ".join(
            f"val check {i + 1} (epoch {h['epoch'] + 1}): val loss {h['val_loss']:.4f}, "
            f"val acc {h['val_accuracy']:.4f}"
            for i, h in enumerate(ft["history"])
        )
        text += (
            f"\n\nFine-tune budget: {ft['train_examples']:,} training {texts}, {ft['steps']} "
            f"optimizer steps ({hist}). Thresholds (macro-F1 on val) and temperatures (NLL on val): "
            + ", ".join(
                f"{r['rung']} T={r['temperature']:.2f}"
                + (f" t={r['threshold']:.2f}" if pd.notna(r["threshold"]) else "")
                for _, r in ladder.iterrows()
            )
            + "."
        )
    if details.get("tfidf"):
        bp = details["tfidf"]["best_params"]
        text += f" TF-IDF best: C={bp['C']:.3g}, char weight={bp['char_weight']:.2f}."
    comp = summary.get("finetune_vs_tfidf_macro_f1")
    if comp:
        verdict = {
            "met": "the fine-tuned model is better beyond bootstrap noise",
            "missed": "the fine-tuned model is worse beyond bootstrap noise",
            "inconclusive": "the interval includes zero: no significant difference",
        }[stats_verdict(comp["lo"], comp["hi"], 0.0)]
        text += (
            f"\n\nPaired bootstrap, test macro-F1 fine-tuned minus TF-IDF: {comp['diff']:+.4f} "
            f"[95% CI {comp['lo']:+.4f}, {comp['hi']:+.4f}], P(fine-tuned not better) = "
            f"{comp['p_a_not_better']:.3f}: {verdict}."
        )
    reading = narrative.ladder_reading(summary, ladder)
    blocks["ladder"] = text + ("\n\n" + reading if reading else "")

    cal = read_table(results, "calibration")
    if cal is not None:
        cols = ["model", "temperature", "ece_before", "ece_after", "ece_equal_mass_before",
                "ece_equal_mass_after", "nll_before", "nll_after", "brier_before", "brier_after"]  # fmt: skip
        cols += [c for c in ("bins", "ece_after_lo", "ece_after_hi") if c in cal]
        text = markdown_table(cal[cols], digits=4)
        for name, band in summary.get("shown_probability", {}).items():
            if not band["n"]:
                continue  # no test text in that band: nothing to say
            text += (
                f"\n\n{name}: of the {band['n']} test texts shown a {band['band']} probability of "
                f"class '{classes[-1]}' (mean shown {band['mean_shown']:.3f}), "
                f"{band['observed']:.1%} were."
            )
        blocks["calibration"] = (
            text
            + "\n\n"
            + narrative.calibration_reading(summary, cal, read_table(results, "reliability"))
        )

    errors = read_table(results, "errors")
    if errors is not None:  # the reading quotes the most confident with their row ids
        kinds = read_table(results, "error_kinds")
        blocks["errors"] = (
            narrative.errors_reading(kinds, errors, "row_id" in d)
            + f"\n\nAll {len(errors)} with their kind"
            + (", star rating" if narrative.on_reference_data(summary) else "")
            + " and full text: `results/errors.csv`."
        )

    band = read_table(results, "review_band")  # from a run since the band was added
    if band is not None:
        blocks["review_band"] = review_band_block(
            band.iloc[0], "analysis.review_max_error", texts, " after temperature"
        )

    con = summary.get("rating_contradictions")
    if con:
        blocks["contradictions"] = (
            f"Of {con['rows']:,} reviews, {con['recommended_with_1_or_2_stars']:,} are recommended "
            f"with 1-2 stars and {con['not_recommended_with_4_or_5_stars']:,} are not recommended "
            f"with 4-5 stars: a contradiction rate of {con['contradiction_rate']:.2%}. The "
            f"{con['three_star_rows']:,} three-star reviews are recommended "
            f"{con['three_star_recommended_rate']:.1%} of the time. Even a rule that saw the star "
            f"rating itself would reach only {con['rating_oracle_accuracy']:.3f} accuracy."
        )

    per_class = read_table(results, "per_class")
    if per_class is not None:
        blocks["per_class"] = (
            "Each class against the rest, on the test split, at each rung's decision rule; "
            "bootstrap 95% intervals.\n\n"
            + markdown_table(
                [
                    {
                        "rung": r["rung"],
                        "class": r["class"],
                        "support": int(r["support"]),
                        "precision": _ci(r, "precision"),
                        "recall": _ci(r, "recall"),
                        "F1": _ci(r, "f1"),
                    }  # fmt: skip
                    for _, r in per_class.iterrows()
                ]
            )
        )

    slices = read_table(results, "slices")
    if slices is not None:
        # A run from before the rename wrote positive_rate: the share whose label index is 1.
        slices = slices.rename(columns={"positive_rate": "share with label index 1"})
        blocks["slices"] = slices_table(slices)
        reading = narrative.slices_reading(slices, texts)
        if reading:
            blocks["slices"] += "\n\n" + reading

    rob = read_table(results, "robustness")
    if rob is not None:
        text = markdown_table(rob)
        reading = narrative.robustness_reading(rob, analysis["perturb_examples"], texts)
        sample = narrative.robustness_sample(summary, ladder, rob)
        if sample:
            reading = sample + ("\n\n" + reading if reading else "")
        if reading:
            text += "\n\n" + reading
        blocks["robustness"] = text

    bucket = summary.get("bucketing")
    if bucket:
        blocks["bucketing"] = (
            f"One training pass over the same {bucket['examples']} training {texts} from the same "
            f"start weights (batch {bucket['batch_size']}): padded to max length "
            f"{bucket['max_length']} {bucket['fixed_padding_seconds']:.1f} s, length-bucketed with "
            f"dynamic padding {bucket['bucketed_seconds']:.1f} s: **{bucket['speedup']:.2f}x**. "
            f"Projected to one epoch over the full training split: "
            f"{bucket['projected_epoch_seconds_fixed'] / 60:.1f} min vs "
            f"{bucket['projected_epoch_seconds_bucketed'] / 60:.1f} min. That is "
            f"{bucket['examples'] // bucket['batch_size']} batches each way. "
            + narrative.bucketing_verdict(bucket)
        )

    compress = compress_block(results)  # published from a compress run
    if compress:
        blocks["compress"] = compress
    bench = bench_block(results, narrative.bench_target)  # published from a bench run
    if bench:
        blocks["bench"] = bench
    # the GPU's: a bench on CUDA (results/gpu/bench/), the CUDA tests' record (results/gpu/tests/)
    blocks.update(gputests.gpu_blocks(results, narrative.bench_target))

    faults = read_table(results, "faults")
    if faults is not None:
        columns = ["fault", "exit_code", "message", "files_left", "results_unchanged"]
        blocks["faults"] = (
            f"{int(faults['ok'].sum())} of {len(faults)} drills behaved as a user should see "
            "(expected exit code, one line, no traceback, nothing left behind, results/ and "
            "README unchanged); exit -9 is the drill's own SIGKILL.\n\n"
            + markdown_table(faults[columns])
        )
    serve = published_block(results)  # published from a loadtest run
    if serve:
        blocks["serve"] = serve
    return blocks


def run_label(results: Path, summary: dict) -> str:
    """The budgets table's name for a run: the published reference, or (a run's REPORT.md) the
    config its run.json records and, on your own data, the data file."""
    config = read_run_info(results.parent).get("config")
    if config is None:
        return "reference (configs/default.yaml)"
    path = summary["config"]["data"].get("path")
    return f"this run ({config}" + (f", data {Path(path).name})" if path else ")")


def _full_run(results: Path) -> tuple[dict, pd.DataFrame] | None:
    folder = results / "full"
    if not (folder / "summary.json").is_file():
        return None
    summary = json.loads((folder / "summary.json").read_text())
    if not summary.get("learning_curve"):
        return None
    return summary, pd.read_csv(folder / "ladder.csv")


def split_rows(d: dict, val_subsample: int | None) -> list[dict]:
    """Where every row of the file went: train, validation, test, each subsample's leftovers and
    the rows dropped for empty text; the last line is the file. A run from before the leftovers
    were recorded shows the rows it did not account for as such."""
    classes = d["classes"]

    def line(name, rows, counts=None):
        row = {"rows": name, "count": rows}
        for index, label in enumerate(classes):
            row[f"label {label}"] = counts[index] if counts is not None else ""
        return row

    names = {"train": "train", "val": "validation (used)", "test": "test"}
    rows = [line(names[s], d[f"{s}_rows"], d[f"{s}_class_counts"]) for s in names]
    unused = d.get("rows_not_used", {})
    unused_counts = d.get("rows_not_used_class_counts", {})
    for reason, count in unused.items():
        rows.append(line(f"not used: {reason}", count, unused_counts.get(reason)))
    rest = d["rows_used"] - sum(d[f"{s}_rows"] for s in names)
    rest -= sum(v for k, v in unused.items() if "max_rows" not in k)
    if rest:
        reason = "validation rows outside data.val_subsample" if val_subsample else "unrecorded"
        rows.append(line(f"not used: {reason}", rest))
    rows.append(line("dropped: empty text", d["rows_dropped_empty_text"]))
    rows.append(line("= rows in file", sum(r["count"] for r in rows)))
    return rows


def slices_table(slices: pd.DataFrame) -> str:
    """One row per group, each model's accuracy with its interval side by side (macro-F1 per group
    is in results/slices.csv)."""
    shares = [c for c in slices.columns if c.startswith("share ")]
    rows = []
    for (name, group), part in slices.groupby(["slice", "group"], sort=False):
        first = part.iloc[0]
        row = {"slice": name, "group": group, "n": int(first["n"])}
        row |= {column: first[column] for column in shares}
        row |= {f"accuracy {r['model']}": _ci(r, "accuracy") for _, r in part.iterrows()}
        rows.append(row)
    return markdown_table(rows)
