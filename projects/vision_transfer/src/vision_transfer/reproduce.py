"""The README's Reproduce block: what repeats bitwise, what repeats only within noise, and the
noise itself, each read from a measurement in results/ or said to be "not measured".

- Same CPU model and threads: results/repeat.csv, the fine-tune chain rerun with the same seed
  in the same process (pipeline.py); two processes only when a published run beside it ran the
  same config on the same hardware (its test probabilities against these).
- Other hardware: a published run beside the reference (results/<budget>/) counts only when it
  ran the reference's own config on another machine; a bigger-budget config is another recipe.
- Within noise: results/seeds.csv, the chain's seed-to-seed spread on the same split.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from mlcraft.publish import BUDGETS  # configs/<name>.yaml -> results/<name>/
from mlcraft.reporting import read_table

NOT_MEASURED = "not measured"


def where(summary: dict) -> str:
    """The run's CPU model, cores and torch threads, from summary.json."""
    hw, threads = summary["hardware"], summary["config"].get("threads")
    gpu = (hw.get("gpu") or {}).get("model")
    return (
        f"{hw['cpu_model']}, {hw['cpu_count']} cores, "
        + (f"{threads} torch threads" if threads else "torch's default threads")
        + (f", GPU {gpu}" if gpu else "")
    )


def repeat_sentence(repeat: pd.DataFrame) -> str:
    """Whether the same seed repeated the ladder's model bitwise in one process
    (results/repeat.csv)."""
    r = repeat.iloc[0]
    if r["weights_bitwise"] and r["test_prob_bitwise"]:
        verdict = (f"gave bitwise the same weights (sha256 `{r['weights_sha256']}`) and test "
                   "probabilities")  # fmt: skip
    else:
        verdict = (f"did not repeat bitwise: weights sha256 `{r['weights_sha256']}` then "
                   f"`{r['repeat_weights_sha256']}`, test probabilities apart by up to "
                   f"{r['test_prob_max_abs_diff']:.1e}")  # fmt: skip
    return (f"the fine-tune chain rerun with seed {int(r['seed'])} in the same process "
            f"({r['repeat_seconds']:.0f} s) {verdict}")  # fmt: skip


def seeds_sentence(seeds: pd.DataFrame) -> str:
    """The seed-to-seed spread of the fine-tune chain (results/seeds.csv): the yardstick for
    "within noise" between two runs of this recipe on the same split."""
    acc = seeds["accuracy"]
    per_seed = ", ".join(
        f"seed {int(r['seed'])} {r['accuracy']:.3f} (best epoch {int(r['best_epoch'])} of "
        f"{int(r['epochs_run'])})"
        for _, r in seeds.iterrows()
    )
    return (
        f"the fine-tune chain's seed-to-seed spread on the same split ({seeds['rung'].iloc[0]}, "
        f"{seeds['tta'].iloc[0]} TTA, {len(seeds)} seeds): test accuracy {per_seed}; mean "
        f"{acc.mean():.3f}, sd {acc.std(ddof=1):.3f}, range {acc.max() - acc.min():.3f}"
    )


def published_runs(results: Path, summary: dict):
    """(name, summary, folder) of each published run beside this one (results/<budget>/) that
    ran this run's own config, and a note for each that did not."""
    same, notes = [], []
    for name in BUDGETS:
        folder = results / name
        if not folder.is_dir():
            continue
        path = folder / "summary.json"
        if not path.is_file():
            notes.append(f"results/{name}/ holds no training run")
            continue
        other = json.loads(path.read_text())
        if other["config"] != summary["config"]:
            notes.append(f"results/{name}/ trains another config")
            continue
        same.append((name, other, folder))
    return same, notes


def separate_processes(results: Path, summary: dict) -> str:
    """This config run again in another process on the same hardware: are the published test
    probabilities bitwise equal?"""
    same, _ = published_runs(results, summary)
    mine = read_table(results, "test_predictions")
    for name, other, folder in same:
        theirs = read_table(folder, "test_predictions")
        if other["hardware"] != summary["hardware"] or mine is None or theirs is None:
            continue
        a, b = mine["p_positive"].to_numpy(), theirs["p_positive"].to_numpy()
        gap = float(abs(a - b).max()) if len(a) == len(b) else float("inf")
        return f"results/{name}/, test probabilities " + (
            "bitwise the same" if gap == 0 else f"apart by up to {gap:.1e}"
        )
    return NOT_MEASURED


def other_hardware(results: Path, summary: dict) -> str:
    """The reference's config rerun on another machine, from the published runs beside it: its
    top rung's test accuracy against this run's CI; else "not measured" and what each published
    run is instead."""
    same, notes = published_runs(results, summary)
    found = []
    for name, other, folder in same:
        if other["hardware"] == summary["hardware"]:
            notes.append(f"results/{name}/ ran on the same hardware")
            continue
        top, mine = read_table(folder, "ladder").iloc[-1], read_table(results, "ladder").iloc[-1]
        inside = mine["accuracy_lo"] <= top["accuracy"] <= mine["accuracy_hi"]
        found.append(
            f"on {where(other)} (results/{name}/), test accuracy {top['accuracy']:.3f}, "
            f"{'inside' if inside else 'outside'} this run's CI [{mine['accuracy_lo']:.3f}, "
            f"{mine['accuracy_hi']:.3f}]"
        )
    if found:
        return "; ".join(found) + "."
    return NOT_MEASURED + (f" ({'; '.join(notes)})." if notes else ".")


def reproduce_block(results: Path, summary: dict) -> str | None:
    """Three bullets, each from results/ or "not measured"; None for a run that measured
    neither a repeat nor a seed spread."""
    seeds, repeat = read_table(results, "seeds"), read_table(results, "repeat")
    has_seeds = seeds is not None and len(seeds) > 1
    if repeat is None and not has_seeds:
        return None
    same = repeat_sentence(repeat) if repeat is not None else f"same seed twice: {NOT_MEASURED}"
    spread = seeds_sentence(seeds) if has_seeds else NOT_MEASURED
    return "\n".join(
        [
            f"- **Same CPU model and threads** ({where(summary)}): {same}; two separate "
            f"processes: {separate_processes(results, summary)}.",
            f"- **Other hardware**: {other_hardware(results, summary)}",
            f"- **Within noise**: {spread}; test sampling noise: the 95% CIs.",
        ]
    )
