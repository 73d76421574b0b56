"""The Reproduce section's facts, from published runs only: which rungs ran twice with the same
inputs on the same CPU model and thread count and whether their scores repeated to the last stored
digit, whether any training run on other hardware is published, and the seed-to-seed spread that
says what "within noise" means. What no published run measured is said to be not measured."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from text_classifier.narrative import NAMES

# The ladder values a rung's repeat must match: test scores, their intervals, the decision rule.
SCORES = [
    f"{metric}{end}"
    for metric in ("accuracy", "macro_f1", "roc_auc", "log_loss")
    for end in ("", "_lo", "_hi")
] + ["temperature", "threshold"]
# The config sections besides data and seed that decide a rung's scores.
RUNG_INPUTS = {"tfidf": ["tfidf"], "frozen": ["frozen", "model"], "finetune": ["finetune", "model"]}


def _published(results: Path) -> list[tuple[str, dict, pd.DataFrame]]:
    runs = []
    for label, folder in (("reference", results), ("bigger budget", results / "full")):
        if (folder / "summary.json").is_file() and (folder / "ladder.csv").is_file():
            summary = json.loads((folder / "summary.json").read_text())
            runs.append((label, summary, pd.read_csv(folder / "ladder.csv")))
    return runs


def _machine(summary: dict) -> tuple:
    """CPU model, core count, GPU and torch thread count: what a bitwise repeat is tied to."""
    hw = summary["hardware"]
    threads = summary.get("torch_threads", summary["config"].get("torch_threads"))
    return hw["cpu_model"], hw["cpu_count"], (hw.get("gpu") or {}).get("model"), threads


def _same_machine(a: dict, b: dict) -> bool:
    """Same CPU model, cores and GPU; thread counts compared where both runs recorded one (runs
    before torch_threads was recorded ran with torch's default, which is not known after the
    fact, so a missing count is said, not assumed)."""
    ma, mb = _machine(a), _machine(b)
    return ma[:3] == mb[:3] and (ma[3] == mb[3] or None in (ma[3], mb[3]))


def _same_inputs(a: dict, b: dict, rung: str) -> bool:
    keys = RUNG_INPUTS[rung]
    return (
        a["seed"] == b["seed"]
        and _rows(a) == _rows(b)
        and a["token_lengths"]["max_length"] == b["token_lengths"]["max_length"]
        and all(a["config"].get(k) == b["config"].get(k) for k in keys)
    )


def _rows(summary: dict) -> dict:
    """Where every row went (the data table), without the file path and the row-id note."""
    return {k: v for k, v in summary["data_description"].items() if k not in {"source", "row_id"}}


def _equal(x, y) -> bool:
    return (pd.isna(x) and pd.isna(y)) or x == y


def repeats(a: tuple, b: tuple) -> list[dict]:
    """Per learned rung in both runs: repeated with the same inputs, and how many of its SCORES
    are equal to the last stored digit."""
    (_, sa, la), (_, sb, lb) = a, b
    ra, rb = la.set_index("rung"), lb.set_index("rung")
    out = []
    for rung in RUNG_INPUTS:
        if rung in ra.index and rung in rb.index:
            same = _same_inputs(sa, sb, rung)
            cols = [c for c in SCORES if c in ra.columns and c in rb.columns]
            equal = sum(_equal(ra.loc[rung, c], rb.loc[rung, c]) for c in cols)
            out.append({"rung": rung, "same_inputs": same, "equal": equal, "of": len(cols)})
    return out


def reproducibility_block(results: str | Path) -> str | None:
    runs = _published(Path(results))
    if not runs:
        return None
    ref = runs[0][1]
    cpu, cores, gpu, threads = _machine(ref)
    where = (
        f"{cores} cores of {cpu}"
        + (f", GPU {gpu}" if gpu else "")
        + (f", torch threads {threads}" if threads else ", torch's default threads")
    )
    lines = []
    found = [r for r in repeats(*runs[:2]) if r["same_inputs"]] if len(runs) > 1 else []
    same_machine = len(runs) > 1 and _same_machine(runs[1][1], ref)
    if not same_machine:
        found = []
    unrecorded = [label for label, s, _ in runs[:2] if _machine(s)[3] is None]
    said = [
        f"{NAMES[r['rung']]} ran in two published runs (commits "
        + ", ".join(str(s["git_sha"])[:7] for _, s, _ in runs[:2])
        + f") with the same data, split, seed and settings: {r['equal']} of {r['of']} test "
        "values (scores, CIs, temperature, threshold) "
        + ("identical" if r["equal"] == r["of"] else "equal, the rest not")
        for r in found
    ]
    if unrecorded:
        note = f" (the {', '.join(unrecorded)} run did not record its thread count)"
        said = [sentence + note for sentence in said]
    done = {r["rung"] for r in found}
    rest = [NAMES[r] for r in RUNG_INPUTS if r in set(runs[0][2]["rung"]) and r not in done]
    if rest:
        said.append(f"{', '.join(rest)}: **not measured** (no repeat with the same settings)")
    lines.append(f"- Bitwise, same CPU model and threads ({where}): " + "; ".join(said) + ".")
    other = any(not _same_machine(s, ref) for _, s, _ in runs)
    lines.append(
        "- Elsewhere (another CPU, thread count or a GPU): "
        + (
            "a published run ran on another machine; compare it in the budgets table."
            if other
            else "no training run published; staying within the CIs there is **not measured**."
        )
    )
    lines.append("- Within noise: " + seed_spread(runs))
    return "\n".join(lines)


def seed_spread(runs: list[tuple]) -> str:
    """The sd of test macro-F1 over seeds wherever a published learning curve ran several."""
    for label, summary, _ in runs:
        curve = summary.get("learning_curve")
        if not curve:
            continue
        table = pd.DataFrame(curve["summary"])
        multi = table[table["seeds"] >= 2]
        if multi.empty:
            continue
        sizes = sorted(multi["train_reviews"].unique())
        parts = [
            f"{int(size):,} training reviews, {int(part['seeds'].max())} seeds: "
            + ", ".join(f"{r['model']} {r['test_macro_f1_sd']:.4f}" for _, r in part.iterrows())
            for size, part in multi.groupby("train_reviews")
        ]
        budget = (runs[0][1].get("rung_details", {}).get("finetune") or {}).get("train_examples")
        return (
            f"seed-to-seed sd of test macro-F1 ({label} run) at "
            + "; ".join(parts)
            + ("." if budget in sizes else "; at the reference budget **not measured**.")
        )
    return "the seed-to-seed spread is **not measured** (no published run repeats seeds)."
