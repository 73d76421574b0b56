"""The README's generated blocks, rendered from a results folder (no config, no training).

`python -m vision_transfer report` renders them into README.md and docs/*.md (each block in the
page holding its markers) from the published results/; every train run renders the same blocks
from its own results/ into its REPORT.md. A run may lack optional tables or rungs (a forker's run with fewer rungs, analyses switched off, another data set): the
blocks that need them are left out, while a block whose inputs are present is always rendered.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from mlcraft import gputests
from mlcraft.bench import published_block as bench_block
from mlcraft.calibration import ece, ece_change
from mlcraft.compress import published_block as compress_block
from mlcraft.elpv import published_band, published_caption
from mlcraft.errors import UserInputError
from mlcraft.loadtest import published_block
from mlcraft.plots import ladder_figure
from mlcraft.reporting import format_value, markdown_table, read_table
from mlcraft.review import review_band_block
from scipy.special import expit, logit

from . import readings
from .audit import audit_block
from .budgets import BUDGETS, answer_sentence, budgets_block, recipe_block
from .reproduce import reproduce_block


def _ci(frame: pd.DataFrame, name: str) -> list[str]:
    out = []
    for point, lo, hi in zip(frame[name], frame[f"{name}_lo"], frame[f"{name}_hi"], strict=True):
        out.append("n/a" if pd.isna(point) else f"{point:.3f} [{lo:.3f}, {hi:.3f}]")
    return out


def _diff_ci(frame: pd.DataFrame) -> list[str]:
    """Signed differences in percentage points with their CIs ("" for the first row)."""
    out = []
    for d, lo, hi in zip(
        frame["diff_vs_above"], frame["diff_vs_above_lo"], frame["diff_vs_above_hi"], strict=True
    ):
        out.append("" if pd.isna(d) else f"{100 * d:+.1f} [{100 * lo:+.1f}, {100 * hi:+.1f}] pts")
    return out


def blocks(results: str | Path) -> dict[str, str]:
    results = Path(results)
    summary_path = results / "summary.json"
    if not summary_path.is_file():
        raise UserInputError(
            f"{summary_path} not found: run `python -m vision_transfer train` first"
        )
    summary = json.loads(summary_path.read_text())
    head = summary["headline"]
    out: dict[str, str] = {}
    audit = audit_block(results)  # the data audit's banner, right under the question and answer
    if audit:
        out["audit"] = audit

    hw = summary["hardware"]
    gpu = (hw.get("gpu") or {}).get("model")
    out["headline"] = markdown_table(
        [{"metric": k, "value": format_value(v, 4).replace(",", "")} for k, v in head.items()]
    ) + (
        f"\n\nThis run: {head['wall_seconds']:.0f} s wall on {hw['cpu_model']} "
        f"({hw['cpu_count']} cores{', GPU ' + gpu if gpu else ', no GPU'}), "
        f"started {summary['started_utc']}, git {str(summary['git_sha'])[:10]}"
        f"{' (dirty)' if summary['git_dirty'] else ''}."
    )

    split = read_table(results, "split")
    if split is not None:
        out["split"] = markdown_table(split)

    ladder = read_table(results, "ladder")
    if ladder is not None:
        binary = "recall" in ladder  # positive-class metrics exist only for two classes
        new_columns = "tta" in ladder  # runs before TTA labelling and paired tests lack these
        table = pd.DataFrame(
            {
                "rung": ladder["rung"],
                **({"TTA": ladder["tta"]} if new_columns else {}),
                "accuracy": _ci(ladder, "accuracy"),
                **(
                    {"accuracy, single view": _ci(ladder, "accuracy_no_tta")} if new_columns else {}
                ),
                # a one-rung ladder has nothing to compare
                **(
                    {"single-view acc. minus rung above": _diff_ci(ladder)}
                    if "diff_vs_above" in ladder
                    else {}
                ),
                "balanced acc.": _ci(ladder, "balanced_accuracy"),
                **(
                    {
                        "defective recall": _ci(ladder, "recall"),
                        "defective precision": _ci(ladder, "precision"),
                        "ROC AUC": _ci(ladder, "roc_auc"),
                    }
                    if binary
                    else {}
                ),
                "threshold (before T)": ladder["threshold"],
                "train s": ladder["train_seconds"].round(1),
                "train img/s": ladder["train_images_per_s"].round(1),
                "infer img/s": ladder["infer_images_per_s"].round(1),
            }
        )
        notes = "\n".join(
            f"- **{r}**: {n}" for r, n in zip(ladder["rung"], ladder["notes"], strict=True)
        )
        legend = (
            "\n\nTTA: the mean over the 8 flips and 90-degree turns; single view is like for "
            "like; differences: paired bootstrap 95% CIs. Train s: wall time, validation and "
            "any rung it starts from included; img/s: networks over training steps only, probes "
            "over feature extraction, HOG over its train s."
            if new_columns
            else ""
        )
        out["ladder"] = markdown_table(table, digits=2) + legend + "\n\n" + notes
        # The readings compare the full fine-tune with the other rungs and with the published
        # ELPV results and targets: they say nothing true about another data set.
        elpv = summary["config"]["data"]["kind"] == "elpv"
        if elpv and ladder["rung"].str.startswith("full fine-tune").any():
            comparisons = read_table(results, "comparisons")
            out["summary"] = readings.summary_block(
                summary, ladder, read_table(results, "slices"), comparisons
            )
            out["targets"] = readings.targets_block(summary, ladder, comparisons)
            out["answer"] = readings.answer_block(summary, ladder, comparisons)
            bigger = answer_sentence(results)  # results/full/ beside the reference
            if bigger:
                out["answer"] += "\n\n" + bigger
        if elpv:
            out["ladder_readings"] = readings.ladder_block(ladder)
        if elpv and summary.get("hero_reference"):  # runs since the band was drawn
            redraw_hero(results, ladder)
            out["hero"] = published_caption(summary["hero_reference"])
        elif elpv and new_columns:  # train drew the published line once ladders labelled TTA
            out["hero"] = (
                f"The dashed line is the published VGG-19 accuracy of Deitsch et al. "
                f"({100 * readings.PUBLISHED_CNN:.2f}%; Solar Energy 2019, arXiv 1807.02894), on "
                "their own split at 300 px: comparable in kind, not to the decimal."
            )

    per_class = read_table(results, "per_class")
    if per_class is not None:
        table = pd.DataFrame(
            {
                "class": per_class["class"],
                "test n": per_class["n"],
                "precision": _ci(per_class, "precision"),
                "recall": _ci(per_class, "recall"),
                "F1": _ci(per_class, "f1"),
            }
        )
        out["per_class"] = markdown_table(table) + (
            f"\n\nRung: {per_class['rung'].iloc[0]}; one-vs-rest, 95% bootstrap CIs."
        )

    ablation = read_table(results, "ablation")
    if ablation is not None:
        binary = "recall" in ablation
        table = pd.DataFrame(
            {
                "augmentation": ablation["augmentation"],
                "val accuracy": ablation["val_accuracy"].round(3),
                **(
                    {"val balanced acc.": ablation["val_balanced_accuracy"].round(3)}
                    if "val_balanced_accuracy" in ablation
                    else {}
                ),
                "test accuracy": _ci(ablation, "accuracy"),
                **(
                    {
                        "test defective recall": _ci(ablation, "recall"),
                        "test ROC AUC": _ci(ablation, "roc_auc"),
                    }
                    if binary
                    else {}
                ),
                "train s": ablation["train_seconds"].round(1),
            }
        )
        choice = summary.get("augmentation")  # runs before the decision rule lack it
        if choice is None:
            rule = f"Best by validation accuracy: **{head['best_augmentation']}**."
        else:
            rule = (
                f"Decision rule (`ablation.select={choice['rule']}`, on validation, never test): "
                f"**{head['best_augmentation']}**. The main run's `finetune.augment` is "
                f"`{choice['configured']}`, so every trained rung used **{choice['used']}**."
            )
        out["ablation"] = markdown_table(table) + "\n\n" + rule
        if binary:
            out["ablation_readings"] = readings.ablation_block(
                ablation, str(head["best_augmentation"])
            )

    calibration = read_table(results, "calibration")
    if calibration is not None:
        row = calibration.iloc[0]
        rows = [
            {"": name, "before": row[f"{key}_before"], "after temperature": row[f"{key}_after"]}
            for key, name in (
                ("ece", "ECE (15 bins)"),
                ("mce", "MCE"),
                ("brier", "Brier"),
                ("nll", "NLL"),
            )
            if f"{key}_before" in row
        ]
        measured = row.get("probability", "P(defective)")  # runs before k > 2 support
        out["calibration"] = markdown_table(rows, digits=4) + (
            f"\n\nOn the test set, of {measured}. "
            f"Fitted temperature T = {row['temperature']:.3f} (on validation logits)."
        )
        out["calibration_readings"] = readings.calibration_block(row, _ece_change(results, row))
    experts = read_table(results, "expert_agreement")
    if experts is not None:
        out["experts"] = markdown_table(experts.drop(columns="threshold", errors="ignore"))
        if "threshold" in experts:  # one threshold: the slices' and the review band's
            out["experts"] += (
                f"\n\nFlagged: P(defective) >= {experts['threshold'].iloc[0]:.3f} after "
                "temperature, the decision threshold of the slices and the review band."
            )
        out["expert_readings"] = readings.experts_block(experts)

    slices = read_table(results, "slices")
    if slices is not None:
        table = pd.DataFrame(
            {
                "slice": slices["slice"],
                "group": slices["group"].astype(str),
                "n": slices["n"],
                "defective share": slices["positive_rate"].round(3),
                "accuracy": _ci(slices, "accuracy"),
                "defective recall": _ci(slices, "defective_recall"),
            }
        )
        out["slices"] = markdown_table(table) + (
            "\n\nTest cells grouped by cell type and by the experts' defect grade; accuracy and "
            "defective recall (the share of defective cells flagged) at the run's decision "
            "threshold, with 95% bootstrap CIs; defective share = the group's share of defective "
            "cells."
        )
        out["slice_readings"] = readings.slices_block(slices)

    band = read_table(results, "review_band")
    if band is not None:
        ladder = read_table(results, "ladder")  # the analyses read its last rung
        last = None if ladder is None else ladder["threshold"].iloc[-1]
        before = None if last is None or pd.isna(last) else float(last)
        out["review_band"] = review_band_block(
            band.iloc[0], "analysis.review_max_error", "cells", " after temperature", before
        )

    budgets = budgets_block(results)  # the reference beside results/full/ and results/gpu/
    if budgets:
        out["budgets"] = budgets
    for name in BUDGETS:
        recipe = recipe_block(results / name) if (results / name).is_dir() else None
        if recipe:
            out[f"recipe_{name}"] = recipe

    reproduce = reproduce_block(results, summary)  # bitwise, within noise, the noise
    if reproduce:
        out["reproduce"] = reproduce

    gallery = read_table(results, "failure_gallery")
    if gallery is not None:
        out["gallery_readings"] = readings.gallery_block(
            gallery, read_table(results, "test_predictions")
        )

    profiling = read_table(results, "profiling")
    if profiling is not None:
        timer = summary.get("final_fit", {}).get("timer", {})
        memory = summary.get("peak_memory", {})
        lines = [
            f"- full fine-tune: {timer.get('samples', 0):,} training images in "
            f"{timer.get('data_seconds', 0) + timer.get('compute_seconds', 0):.1f} s of steps, "
            f"{timer.get('samples_per_s', float('nan')):.1f} img/s, data wait "
            f"{100 * timer.get('data_wait_fraction', np.nan):.1f}% of step time",
            f"- peak process RSS {memory.get('rss_peak_bytes', 0) / 2**20:,.0f} MiB"
            + (
                f", peak CUDA {memory['cuda_peak_bytes'] / 2**20:,.0f} MiB"
                if memory.get("cuda_peak_bytes")
                else ""
            ),
        ]
        out["profiling"] = markdown_table(profiling) + "\n\n" + "\n".join(lines)
        out["profiling_readings"] = readings.profiling_block(profiling)

    data = summary.get("data", {})
    if data:
        out["data_files"] = markdown_table(
            [{"file": k, "sha256": v["sha256"], "rows": v["rows"]} for k, v in data.items()]
        )

    faults = read_table(results, "faults")
    if faults is not None:
        columns = ["fault", "exit_code", "message", "files_left", "results_unchanged"]
        out["faults"] = markdown_table(faults[columns])
    compress = compress_block(results)  # published from a compress run
    if compress:
        out["compress"] = compress
    bench = bench_block(results, readings.bench_target)  # published from a bench run
    if bench:
        out["bench"] = bench
    # the GPU's: a bench on CUDA (results/gpu/bench/), the CUDA tests' record (results/gpu/tests/)
    out.update(gputests.gpu_blocks(results, readings.bench_target))
    serve = published_block(results)  # published from a loadtest run
    if serve:
        out["serve"] = serve
    return out


def plot_ladder(frame: pd.DataFrame, png: Path, elpv: bool) -> dict | None:
    """The hero figure: test accuracy per rung with its CI, each rung's TTA in its label, and
    (ELPV) the published VGG-19 accuracy of Deitsch et al. as a band (mlcraft.elpv.published_band).
    Returns the band drawn, or None."""
    rows = [
        {
            "name": f"{rung}" + (" (8-view TTA)" if tta != "none" else ""),
            "value": acc, "lo": lo, "hi": hi,
        }
        for rung, tta, acc, lo, hi in zip(
            frame["rung"], frame["tta"], frame["accuracy"], frame["accuracy_lo"],
            frame["accuracy_hi"], strict=True,
        )
    ]  # fmt: skip
    reference = published_band() if elpv else None
    ladder_figure(rows, "test accuracy", png, reference=reference,
                  title="Test accuracy per rung")  # fmt: skip
    return reference


def redraw_hero(results: Path, ladder: pd.DataFrame) -> Path:
    """ladder.png is a drawing of ladder.csv and nothing else, so the report redraws it: a fix to
    the drawing (the legend's place) reaches the published figure without a retrain,
    and the figure can never disagree with the table beside it. Same table, same bytes."""
    png = results / "ladder.png"
    plot_ladder(ladder, png, elpv=True)
    return png


def _ece_change(results: Path, cal: pd.Series) -> dict | None:
    """ECE after minus before temperature with its paired bootstrap CI, from the published test
    predictions (calibrated P(positive)) and the fitted temperature T: for two classes the
    uncalibrated probability is logit^-1(T * logit(p)). None for k > 2 classes, without the
    predictions, or when the recovered probabilities do not reproduce the recorded ECEs."""
    preds = read_table(results, "test_predictions")
    measured = str(cal.get("probability", "P(defective)"))
    if preds is None or not measured.startswith("P("):
        return None
    y = (preds["true"].astype(str) == measured[2:-1]).to_numpy().astype(int)
    after = np.clip(preds["p_positive"].to_numpy(dtype=float), 1e-12, 1 - 1e-12)
    before = expit(cal["temperature"] * logit(after))
    recorded = (cal["ece_after"], cal["ece_before"])
    if not np.allclose((ece(y, after), ece(y, before)), recorded, rtol=0, atol=1e-6):
        return None
    return ece_change(y, after, before)
