"""The bigger-budget blocks: the reference run and each bigger-budget run (results/full/,
results/gpu/) side by side, and the recipe search behind a bigger-budget run, rendered from
their own summary.json and tables (never typed)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from mlcraft.publish import BUDGETS  # configs/<name>.yaml -> results/<name>/
from mlcraft.reporting import markdown_table, read_table
from mlcraft.stats import verdict

from .readings import TARGET_BIGGER_BUDGET


def budget_runs(results: Path) -> list[tuple[str, Path]]:
    """(label, results folder) of every run to show: a bigger-budget run's own results alone,
    else the reference and each published bigger-budget run beside it."""
    if (results / "recipe_search.csv").is_file():
        return [("this run", results)]
    runs = [("reference (configs/default.yaml)", results)]
    return runs + [
        (f"bigger budget (configs/{name}.yaml)", results / name)
        for name in BUDGETS
        if (results / name / "summary.json").is_file()
    ]


def _acc(row: pd.Series) -> str:
    return f"{row['accuracy']:.3f} [{row['accuracy_lo']:.3f}, {row['accuracy_hi']:.3f}]"


def budget_row(label: str, folder: Path) -> dict:
    summary = json.loads((folder / "summary.json").read_text())
    config = summary["config"]
    final = (summary.get("recipe") or {}).get("final")
    recipe = final["name"].removeprefix("final: ") if final else (
        f"{config['model']['name']}, {config['data']['image_size']} px, "
        + ("soft labels" if config["finetune"].get("soft_labels") else "hard labels")
    )  # fmt: skip
    ladder = read_table(folder, "ladder")
    top = ladder.iloc[-1]
    seeds, ensemble = read_table(folder, "seeds"), read_table(folder, "ensemble")
    hw = summary["hardware"]
    gpu = (hw.get("gpu") or {}).get("model")
    return {
        "run": label,
        "recipe": recipe.replace("tf_efficientnet_", "EfficientNet-").replace("lite", "Lite"),
        "seed 0 test acc.": _acc(top) + (" (8-view TTA)" if top.get("tta") == "8-view" else ""),
        "seeds: mean, sd": (
            f"{seeds['accuracy'].mean():.3f}, {seeds['accuracy'].std(ddof=1):.3f} "
            f"({len(seeds)} seeds)"
            if seeds is not None and len(seeds) > 1
            else ""
        ),
        "ensemble test acc.": _acc(ensemble.iloc[0]) if ensemble is not None else "",
        "hardware": f"GPU {gpu}" if gpu else f"{hw['cpu_count']} cores, {hw['cpu_model']}",
        "wall min": f"{summary['headline']['wall_seconds'] / 60:.1f}",
        "git": str(summary["git_sha"])[:7] + (" (dirty)" if summary["git_dirty"] else ""),
    }


def budgets_block(results: Path) -> str | None:
    """The budgets table and, per bigger-budget run, its answer: the final recipe against the
    base recipe (paired, single view) and its best estimate against the goal, each with a
    computed verdict."""
    runs = budget_runs(results)
    bigger = [(label, folder) for label, folder in runs if (folder / "recipe_search.csv").is_file()]
    if not bigger:
        return None
    lines = [markdown_table(pd.DataFrame([budget_row(label, folder) for label, folder in runs]))]
    for label, folder in bigger:
        versus = read_table(folder, "recipe_vs_base")
        ensemble = read_table(folder, "ensemble")
        best = ensemble.iloc[0] if ensemble is not None else read_table(folder, "ladder").iloc[-1]
        last = versus.iloc[-1]
        lo, hi = last["diff_lo"], last["diff_hi"]
        lines.append(
            f"{label}: {last['rung']} minus the base recipe (seed 0, same schedule, both single "
            f"view, paired bootstrap 95% CI) **{100 * last['diff']:+.1f} points "
            f"[{100 * lo:+.1f}, {100 * hi:+.1f}]**: "
            f"**{_gain_words(lo, hi)}**. Goal test accuracy >= {TARGET_BIGGER_BUDGET}: "
            f"{best['accuracy']:.3f} [{best['accuracy_lo']:.3f}, {best['accuracy_hi']:.3f}] "
            f"({best['rung']}): **{verdict(best['accuracy_lo'], best['accuracy_hi'], TARGET_BIGGER_BUDGET)}**."
        )
    if runs[0][0] == "this run":  # a run's own REPORT.md: the search behind it too
        lines.append(recipe_block(results))
    return "\n\n".join(lines)


def _gain_words(lo: float, hi: float) -> str:
    outcome = verdict(lo, hi, 0.0)
    return {"met": "the final recipe is better", "missed": "the base recipe is better"}.get(
        outcome, "no difference shown (the CI spans 0)"
    )


def recipe_block(folder: Path) -> str | None:
    """The recipe search of one bigger-budget run: every variant's validation scores, the rule's
    choice, and the test comparison read once after it."""
    search = read_table(folder, "recipe_search")
    if search is None:
        return None
    summary = json.loads((folder / "summary.json").read_text())
    recipe = summary["recipe"]
    select = recipe["select"]
    table = search[["name", "factor", "val_accuracy", "val_balanced_accuracy", "best_epoch",
                    "epochs_run", "train_seconds", "train_images_per_s"]]  # fmt: skip
    versus = read_table(folder, "recipe_vs_base")
    comparison = pd.DataFrame(
        {
            "final recipe": versus["rung"],
            "test acc. (single view)": versus["accuracy"].map("{:.3f}".format),
            "base recipe": versus["base_accuracy"].map("{:.3f}".format),
            "difference [95% CI]": [
                f"{100 * d:+.1f} [{100 * lo:+.1f}, {100 * hi:+.1f}] pts"
                for d, lo, hi in zip(
                    versus["diff"], versus["diff_lo"], versus["diff_hi"], strict=True
                )  # fmt: skip
            ],
        }
    )
    seeds = read_table(folder, "seeds")
    stopped = ""
    if seeds is not None:
        epochs = ", ".join(f"{int(b)} of {int(n)}" for b, n in
                           zip(seeds["best_epoch"], seeds["epochs_run"], strict=True))  # fmt: skip
        at_end = bool((seeds["best_epoch"] == seeds["epochs_run"]).all())
        stopped = (
            f"\n\nBest epoch of each final seed: {epochs}"
            + (": validation loss was still falling when the schedule ended, so more epochs "
               "are the next thing to try." if at_end else ".")
        )  # fmt: skip
    return (
        f"Validation only, seed 0, one change at a time from the base:\n\n"
        f"{markdown_table(table)}\n\n"
        f"Rule (`recipe.select={select}`): per factor the best change is kept if it beats the "
        f"base on validation (a tie keeps the base). Chosen: **{recipe['final']['name']}**.\n\n"
        f"Test, read once after the choice (paired bootstrap against the base recipe):\n\n"
        f"{markdown_table(comparison)}{stopped}"
    )


def answer_sentence(results: Path) -> str | None:
    """One line for the README's opening answer per published bigger-budget run: its best
    estimate, recipe, hardware and wall time, and the paired gain over the base recipe."""
    lines = []
    for name in BUDGETS:
        folder = results / name
        if not (folder / "recipe_search.csv").is_file():
            continue
        row = budget_row(name, folder)
        versus = read_table(folder, "recipe_vs_base").iloc[-1]
        best = (f"ensemble {row['ensemble test acc.']}" if row["ensemble test acc."]
                else f"seed 0 {row['seed 0 test acc.']}")  # fmt: skip
        lines.append(
            f"**Bigger budget** ([results/{name}/](results/{name}/summary.json)): {best} "
            f"({row['recipe']}; {row['hardware']}, {row['wall min']} min), "
            f"{100 * versus['diff']:+.1f} points [{100 * versus['diff_lo']:+.1f}, "
            f"{100 * versus['diff_hi']:+.1f}] over the base recipe, paired."
        )
    return "\n\n".join(lines) or None
