"""`train`: data -> split -> the ladder -> analyses, all into one run folder.

The run folder (mlcraft.runs) gets results/ (tables, plots, summary.json: the same files as the
published projects/vision_transfer/results/) and model/ (model.safetensors + model.json). Paths
recorded in outputs are relative to the run folder, which is renamed when the run completes.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from mlcraft.accel import device_batch
from mlcraft.config import config_to_dict
from mlcraft.profiling import peak_memory
from mlcraft.reporting import write_table
from mlcraft.runs import Run
from mlcraft.seeding import seed_everything
from mlcraft.tracking import TrackedRun

from . import analyses, ladder, models, recipe
from . import data as data_mod
from .audit import audit, write_audit
from .augment import Normalizer
from .chain import ensemble_row, expert_targets, finetune_chain, prefixed, repeat_row, seed_row
from .config import Config
from .evaluate import (
    accuracy_with_ci,
    balanced_accuracy,
    decide,
    paired_accuracy_diff,
    per_class_scores,
    scores_with_ci,
    tune_threshold,
)
from .preflight import Checked
from .report import plot_ladder
from .sources import project_dir
from .train import fit

PROJECT = "vision_transfer"


def resolve_device(cfg: Config) -> str:
    if cfg.device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if cfg.device == "cuda" and not torch.cuda.is_available():
        from mlcraft.errors import UserInputError

        raise UserInputError("device=cuda but torch sees no GPU; use device=auto")
    return cfg.device


def run_train(cfg: Config, run_folder: Run, checked: Checked | None = None) -> dict:
    """The whole train verb; writes only under run_folder. `checked`: pre-flight's loaded data."""
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    seed_everything(cfg.seed)
    device = resolve_device(cfg)
    results = run_folder.results
    if checked is None:
        dataset = data_mod.load(cfg.data, cfg.seed)
        split = data_mod.split(dataset, cfg.data, cfg.seed)
        findings = audit(cfg.data.audit, dataset, split)
    else:
        dataset, split, findings = checked.dataset, checked.split, checked.audit
    images, labels, k, positive = (
        dataset.images,
        dataset.labels,
        len(dataset.classes),
        dataset.positive,
    )
    print(
        f"data: {dataset.name} {len(labels)} images {images.shape[1:]} classes {dataset.classes}; "
        + ", ".join(f"{n} {len(i)}" for n, i in split.items())
        + (f"; skipped {dataset.skipped} unreadable" if dataset.skipped else "")
    )
    write_split(dataset, split, results)
    if cfg.data.audit != "off" and findings is not None:
        write_audit(results, findings)

    def build(pretrained: bool = True):
        torch.manual_seed(cfg.seed)  # the same fresh head for every rung
        return models.build(cfg.model, k, pretrained=pretrained)

    reference = build(pretrained=cfg.model.pretrained)
    mean, std = models.input_stats(reference)
    given = cfg  # what the run records; cfg below has channels_last and bf16 decided
    cfg, accel = analyses.decide_accel(
        cfg, lambda: build(pretrained=False), images[split["train"]], {"mean": mean, "std": std},
        device,
    )  # fmt: skip
    autocast = cfg.bf16
    batch = device_batch(device, cfg.finetune.batch_size, cfg.finetune.gpu_batch_size,
                         cfg.finetune.lr_scaling)  # fmt: skip
    accel["training"] = batch.describe(device)
    print(f"accel: {accel['training']}, channels_last {cfg.channels_last}, bf16 {cfg.bf16}")
    norm = Normalizer(mean, std, channels_last=cfg.channels_last, device=device)
    y_val, y_test = labels[split["val"]], labels[split["test"]]
    ft, lad = cfg.finetune, cfg.ladder
    soft = expert_targets(dataset.meta) if ft.soft_labels else None

    with TrackedRun(PROJECT, config_to_dict(given), cfg.seed, run_folder=run_folder) as run:
        for name, path, rows in dataset.data_files:
            run.add_data_file(name, path, rows)
        recipe_found = None
        if cfg.recipe.enabled:  # first: the ladder below trains the recipe it picks
            cfg, dataset, recipe_found = run_recipe_search(
                cfg, dataset, split, device, results, run
            )
            images, ft, lad = dataset.images, cfg.finetune, cfg.ladder
            reference = build(pretrained=cfg.model.pretrained)
            mean, std = models.input_stats(reference)
            norm = Normalizer(mean, std, channels_last=cfg.channels_last, device=device)
            soft = expert_targets(dataset.meta) if ft.soft_labels else None
        if cfg.ablation.enabled:  # first: finetune.augment=auto trains every rung with its choice
            ablation = run_ablation(cfg, dataset, split, norm, build, results, run)
            chosen = choose_augmentation(ablation, cfg.ablation.select)
            if ft.augment == "auto":
                ft = ft.model_copy(update={"augment": chosen})
                print(f"augmentation: {chosen} (best {cfg.ablation.select} in the ablation)")
        rungs: list[ladder.Rung] = [ladder.majority(labels, split, k)]
        if lad.classical:
            print("rung: classical (HOG + logistic regression)")
            rungs.append(ladder.classical(images, labels, split, cfg.seed))
        if lad.linear_probe:
            print("rung: linear probes (random-init and pretrained features)")
            rungs.append(
                ladder.linear_probe(
                    build(pretrained=False), images, labels, split, norm, cfg.seed,
                    "linear probe, random-init features",
                )
            )  # fmt: skip
            rungs.append(
                ladder.linear_probe(
                    reference, images, labels, split, norm, cfg.seed, "linear probe (pretrained)"
                )
            )
        if lad.scratch:
            print(f"rung: same architecture from scratch ({lad.scratch_epochs} epochs)")
            model = build(pretrained=False)
            scratch_ft = ft.model_copy(update={"lr_head": lad.scratch_lr})
            result = fit(
                model, images, labels, split["train"], split["val"], scratch_ft, norm, cfg.seed,
                epochs=lad.scratch_epochs, lr_backbone=lad.scratch_lr, autocast=autocast,
                on_epoch=lambda e, r: run.log_metrics(prefixed("scratch", r), e),
            )  # fmt: skip
            rungs.append(
                ladder.network_rung(
                    "from scratch", model, images, split, norm, result, lad.tta, autocast,
                    f"random init, all layers, {len(result.history)} epochs, lr {lad.scratch_lr}",
                )
            )  # fmt: skip
            del model
        final_model, final_fit = None, None
        if lad.last_stages or lad.full:
            chain, final_model, final_fit = finetune_chain(
                cfg, ft, reference, images, labels, split, norm, cfg.seed, autocast,
                run.log_metrics, soft,
            )  # fmt: skip
            rungs += chain
            write_history(final_fit, results)

        ladder_frame, comparisons = score_ladder(rungs, y_val, y_test, positive, lad, cfg)
        write_table(results, "ladder", ladder_frame)
        if len(comparisons):
            write_table(results, "comparisons", comparisons)
        band = plot_ladder(ladder_frame, results / "ladder.png", elpv=cfg.data.kind == "elpv")

        summary_extra: dict = {"splits": {n: int(len(i)) for n, i in split.items()}}
        if band is not None:  # the report's caption says what the figure drew
            summary_extra["hero_reference"] = band
        headline = headline_from(ladder_frame)
        if lad.repeat and final_model is not None:
            print(f"same-seed repeat: the fine-tune chain again with seed {cfg.seed}")
            started = time.perf_counter()
            again, again_model, _ = finetune_chain(
                cfg, ft, reference, images, labels, split, norm, cfg.seed, autocast, None, soft
            )
            row = repeat_row(cfg.seed, rungs[-1], final_model, again[-1], again_model,
                             time.perf_counter() - started)  # fmt: skip
            write_table(results, "repeat", pd.DataFrame([row]))
            del again, again_model
        if lad.seeds and final_model is not None:
            print(f"seed spread: the fine-tune chain again with seeds {lad.seeds}")
            tops = [rungs[-1]]
            for seed in lad.seeds:
                chain, _, _ = finetune_chain(
                    cfg, ft, reference, images, labels, split, norm, seed, autocast, None, soft
                )
                tops.append(chain[-1])
            seeds = [seed_row(seed, top, y_val, y_test, positive, lad)
                     for seed, top in zip([cfg.seed, *lad.seeds], tops, strict=True)]  # fmt: skip
            write_table(results, "seeds", pd.DataFrame(seeds))
            if lad.ensemble:
                ensemble = ensemble_row(tops, y_val, y_test, positive, lad, cfg.analysis.n_boot)
                write_table(results, "ensemble", pd.DataFrame([ensemble]))
                headline["test_accuracy_ensemble"] = ensemble["accuracy"]
        if recipe_found is not None and final_model is not None:
            final_tops = tops if lad.seeds else [rungs[-1]]
            summary_extra["recipe"] = recipe_found["summary"]
            comparison = recipe.compare_with_base(recipe_found["base"], final_tops, y_val, y_test,
                                                  positive, lad, cfg.analysis.n_boot)  # fmt: skip
            write_table(results, "recipe_vs_base", comparison)
            headline["test_accuracy_diff_vs_base_recipe"] = float(comparison["diff"].iloc[-1])
        last = rungs[-1]
        per_class = per_class_scores(
            y_test, last.test_prob, last.extra["threshold"], dataset.classes, cfg.analysis.n_boot
        )
        write_table(results, "per_class", per_class.assign(rung=last.name))
        if final_model is not None:
            headline["train_images_per_s"] = final_fit.train_images_per_s
            headline["data_wait_fraction"] = final_fit.timer["data_wait_fraction"]
            summary_extra["final_fit"] = {
                "history": final_fit.history,
                "best_epoch": final_fit.best_epoch,
                "timer": final_fit.timer,
            }
            extras = run_analyses(
                cfg, dataset, split, final_model, last, norm, device, build, results
            )
            headline.update(extras.pop("headline"))
            extras_threshold = extras.get("threshold_calibrated", last.extra.get("threshold"))
            summary_extra.update(extras)
            models.save_model(
                run_folder.model,
                final_model,
                {
                    "arch": cfg.model.name,
                    "classes": dataset.classes,
                    "image_size": cfg.data.image_size,
                    "channels": dataset.channels,
                    "mean": mean,
                    "std": std,
                    "temperature": headline.get("temperature", 1.0),
                    # on temperature-scaled probabilities (what predict outputs)
                    "threshold": extras_threshold,
                    "positive": positive,
                    "tta": lad.tta,
                    "config": config_to_dict(cfg),
                },
            )
            summary_extra["model_dir"] = "model"  # relative to the run folder
            print(f"model saved to {run_folder.final / 'model'}")
        if cfg.ablation.enabled:
            headline["best_augmentation"] = chosen
            summary_extra["ablation"] = ablation
        summary_extra["augmentation"] = {
            "configured": cfg.finetune.augment,
            "used": ft.augment,
            "rule": cfg.ablation.select,
        }
        summary_extra["accel"] = accel
        summary_extra["peak_memory"] = peak_memory()
        summary_extra["skipped_images"] = dataset.skipped
        if cfg.faults:  # not part of the run's wall time (TrackedRun's clock); timed on their own
            with run.untimed():
                summary_extra["faults_seconds"] = run_fault_drills(results)
        summary = run.write_summary(headline, summary_extra)
        for png in results.glob("*.png"):
            run.log_artifact(png)
    print("headline:", {k: v for k, v in summary["headline"].items()})
    return summary


def run_fault_drills(results: Path) -> float:
    """Every drill of vision_transfer.faults through the real CLI, in a scratch folder;
    the table goes to results/faults.csv (and .md). Returns the seconds it took."""
    from mlcraft.faults import run_drills

    from .faults import FAULTS

    started = time.perf_counter()
    print(f"fault drills: {len(FAULTS)}")
    with tempfile.TemporaryDirectory(prefix="vision_transfer-faults-") as scratch:
        frame = run_drills(PROJECT, project_dir(), FAULTS, Path(scratch))
    write_table(results, "faults", frame)
    return round(time.perf_counter() - started, 1)


def headline_from(frame: pd.DataFrame) -> dict:
    def get(prefix: str, column: str):
        rows = frame[frame["rung"].str.startswith(prefix)]
        return float(rows[column].iloc[-1]) if len(rows) and column in rows else None

    head = {
        "test_accuracy_finetuned": get("full fine-tune", "accuracy"),
        "test_accuracy_finetuned_single_view": get("full fine-tune", "accuracy_no_tta"),
        "test_accuracy_last_stages": get("fine-tune last", "accuracy"),
        "test_accuracy_linear_probe": get("linear probe (pretrained)", "accuracy"),
        "test_accuracy_linear_probe_random_init": get("linear probe, random", "accuracy"),
        "test_accuracy_scratch": get("from scratch", "accuracy"),
        "test_accuracy_classical": get("HOG", "accuracy"),
        "test_accuracy_majority": get("majority", "accuracy"),
        "test_balanced_accuracy_finetuned": get("full fine-tune", "balanced_accuracy"),
        "test_defective_recall_finetuned": get("full fine-tune", "recall"),
        "test_defective_precision_finetuned": get("full fine-tune", "precision"),
        "test_roc_auc_finetuned": get("full fine-tune", "roc_auc"),
    }
    return {k: v for k, v in head.items() if v is not None}


def write_split(dataset, split, results: Path) -> None:
    rows = []
    for name, idx in split.items():
        y = dataset.labels[idx]
        row = {"split": name, "n": len(idx)}
        for c, cls in enumerate(dataset.classes):
            row[cls] = int((y == c).sum())
        if "cell_type" in dataset.meta:
            row["mono"] = int((dataset.meta["cell_type"].iloc[idx] == "mono").sum())
        rows.append(row)
    write_table(results, "split", pd.DataFrame(rows))


def write_history(fit_result, results: Path) -> None:
    if fit_result is not None:
        write_table(results, "history", pd.DataFrame(fit_result.history), digits=4)


def score_ladder(rungs, y_val, y_test, positive, lad, cfg) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The ladder table (each rung's test metrics with CIs, its TTA, its single-view accuracy and
    a paired bootstrap test against the rung above) and the top rung's paired comparisons.

    Rungs are compared on single-view decisions (each with its own validation-tuned threshold),
    so a test-time-augmentation gain is never credited to fine-tuning."""
    n_boot = cfg.analysis.n_boot
    rows, single = [], {}
    for rung in rungs:
        threshold = tune_threshold(y_val, rung.val_prob, lad.threshold) if positive else None
        rung.extra["threshold"] = threshold
        scores = scores_with_ci(y_test, rung.test_prob, threshold, positive, n_boot)
        val_1, test_1 = rung.single_view()
        threshold_1 = tune_threshold(y_val, val_1, lad.threshold) if positive else None
        single[rung.name] = decide(test_1, threshold_1)
        acc_1, lo_1, hi_1 = accuracy_with_ci(y_test, test_1, threshold_1, n_boot)
        row = {
            "rung": rung.name,
            "tta": "8-view" if rung.tta else "none",
            **scores,
            "accuracy_no_tta": acc_1,
            "accuracy_no_tta_lo": lo_1,
            "accuracy_no_tta_hi": hi_1,
        }
        if rows:  # paired test against the rung above, single view both
            above = rows[-1]["rung"]
            diff = paired_accuracy_diff(y_test, single[rung.name], single[above], n_boot)
            row.update(
                {
                    "vs_above": above,
                    "diff_vs_above": diff["diff"],
                    "diff_vs_above_lo": diff["lo"],
                    "diff_vs_above_hi": diff["hi"],
                }
            )
        rows.append(
            {
                **row,
                "threshold": threshold if threshold is not None else np.nan,
                "train_seconds": rung.train_seconds,
                "train_images_per_s": rung.train_images_per_s,
                "infer_images_per_s": rung.infer_images_per_s,
                "notes": rung.notes,
            }
        )
    return pd.DataFrame(rows), top_rung_comparisons(rungs, single, y_test, positive, lad, n_boot)


def top_rung_comparisons(rungs, single, y_test, positive, lad, n_boot) -> pd.DataFrame:
    """Paired accuracy differences: the top rung minus every other rung (single view both),
    and the top rung with its TTA minus the same model without."""
    top = rungs[-1]
    rows = []
    for other in rungs[:-1]:
        diff = paired_accuracy_diff(y_test, single[top.name], single[other.name], n_boot)
        rows.append({"comparison": f"{top.name} - {other.name}", "tta": "none (both)", **diff})
    if top.tta:
        with_tta = decide(top.test_prob, top.extra["threshold"])
        diff = paired_accuracy_diff(y_test, with_tta, single[top.name], n_boot)
        rows.append({"comparison": f"{top.name}: 8-view TTA - single view", "tta": "8-view - none",
                     **diff})  # fmt: skip
    return pd.DataFrame(rows)


def run_analyses(cfg, dataset, split, model, rung, norm, device, build, results) -> dict:
    out: dict = {"headline": {}}
    an = cfg.analysis
    positive = dataset.positive
    labels, images = dataset.labels, dataset.images
    y_val, y_test = labels[split["val"]], labels[split["test"]]
    test_meta = dataset.meta.iloc[split["test"]].reset_index(drop=True)
    threshold = rung.extra.get("threshold") or 0.5
    temperature = 1.0
    if an.calibration and rung.val_logits is not None:
        print("analysis: calibration")
        calib = analyses.calibration(
            rung.val_logits, y_val, rung.test_logits, y_test, positive, dataset.classes,
            results / "reliability.png",
        )  # fmt: skip
        temperature = calib["temperature"]
        out["calibration"] = calib
        out["headline"].update(
            {
                "ece_before_temperature": calib["ece_before"],
                "ece_after_temperature": calib["ece_after"],
                "temperature": temperature,
            }
        )
        write_table(results, "calibration", pd.DataFrame([calib]), digits=4)
    from .evaluate import softmax

    p_test = softmax(rung.test_logits, temperature)[:, positive] if positive is not None else None
    # The threshold was tuned on uncalibrated validation probabilities; temperature scaling is
    # monotone, so the same decisions on calibrated probabilities use the mapped threshold.
    threshold = calibrated_threshold(threshold, temperature)
    out["threshold_calibrated"] = threshold
    if positive is not None:
        out["review_band"] = review_band_analysis(
            cfg, rung, y_val, y_test, p_test, temperature, threshold, results,
            f"P({dataset.classes[positive]})",
        )  # fmt: skip
        write_test_predictions(test_meta, dataset.classes, y_test, p_test, threshold, results)
    if positive is not None and "defect_probability" in test_meta:
        write_table(
            results, "expert_agreement", analyses.expert_agreement(test_meta, p_test, threshold)
        )
        if an.slices:
            print("analysis: slices")
            table = analyses.slices(test_meta, y_test, p_test, threshold, an.n_boot)
            write_table(results, "slices", table)
    if an.gallery and positive is not None:
        print("analysis: failure gallery + Grad-CAM")
        gallery = analyses.failure_gallery(
            model, images[split["test"]], y_test, p_test, test_meta, norm, dataset.classes,
            threshold, an.gallery_size, results / "failure_gallery.png",
        )  # fmt: skip
        if len(gallery):
            write_table(results, "failure_gallery", gallery)
    if an.profiling:
        print("analysis: profiling grid (channels_last x bf16)")
        mean, std = norm.mean.flatten().tolist(), norm.std.flatten().tolist()
        grid = analyses.profile_grid(
            lambda: build(pretrained=False), images[split["train"]],
            {"mean": mean, "std": std}, an.profiling_steps, device,
        )  # fmt: skip
        write_table(results, "profiling", grid)
        memory = peak_memory()
        out["profiling"] = {"grid": grid.to_dict("records"), "peak_memory": memory}
        out["headline"]["peak_rss_mib"] = memory["rss_peak_bytes"] / 2**20
    return out


def review_band_analysis(
    cfg, rung, y_val, y_test, p_test, temperature, threshold, results, probability: str
):
    """The human-review band chosen on validation by analysis.review_max_error, checked on test
    (mlcraft.review): results/risk_coverage.csv, review_band.csv and risk_coverage.png."""
    from mlcraft.review import review_band_analysis as analyse

    from .evaluate import softmax

    p_val = softmax(rung.val_logits, temperature)[:, 1]
    return analyse(
        y_val, p_val, y_test, p_test, threshold, cfg.analysis.review_max_error,
        cfg.analysis.n_boot, results, probability, items="cells",
    )  # fmt: skip


def write_test_predictions(meta, classes, y, p, threshold, results) -> None:
    """One row per test cell (file name, grade, type, truth, calibrated P, decision): the error
    analysis counts from it."""
    frame = pd.DataFrame(
        {
            "image": meta["image"] if "image" in meta else meta.get("path", range(len(y))),
            "true": [classes[i] for i in y],
            "p_positive": p,
            "flagged": p >= threshold,
        }
    )
    for column in ("defect_probability", "cell_type"):
        if column in meta:
            frame[column] = meta[column].to_numpy()
    write_table(results, "test_predictions", frame, digits=4)


def calibrated_threshold(threshold: float, temperature: float) -> float:
    """t on softmax(z) -> the same decision boundary on softmax(z / T) (binary)."""
    t = min(max(threshold, 1e-6), 1 - 1e-6)
    return float(1 / (1 + np.exp(-np.log(t / (1 - t)) / temperature)))


def run_recipe_search(cfg, dataset, split, device, results, run):
    """recipe.search over the variants, its table (results/recipe_search.csv) and the choice.
    Returns the config with the final recipe, the data at its image size, and what the paired
    comparison and the summary need."""
    loaded = {dataset.images.shape[-1]: dataset}

    def load_images(size: int):
        if size not in loaded:  # the same files and split, resized once from the originals
            sized = cfg.data.model_copy(update={"image_size": size})
            loaded[size] = data_mod.load(sized, cfg.seed)
        return loaded[size]

    rows, tops = recipe.search(cfg, split, load_images, device, run.log_metrics)
    final = recipe.final_variant(rows, cfg.recipe.select)
    write_table(results, "recipe_search", pd.DataFrame(rows))
    print(f"recipe: {final.name} (best {cfg.recipe.select} per factor on validation)")
    summary = {"select": cfg.recipe.select, "variants": rows, "final": asdict(final)}
    chosen = recipe.with_variant(cfg, final)
    return chosen, load_images(final.image_size), {"base": tops[0], "summary": summary}


def choose_augmentation(rows: list[dict], rule: str) -> str:
    """The decision rule for finetune.augment=auto, on validation only: the highest `rule`
    score; ties go to the policy listed first in ablation.variants."""
    scores = [row[rule] for row in rows]
    return str(rows[int(np.argmax(scores))]["augmentation"])  # argmax: the first of equals


def run_ablation(cfg, dataset, split, norm, build, results, run) -> list[dict]:
    ab, ft = cfg.ablation, cfg.finetune
    labels, images = dataset.labels, dataset.images
    size = ab.image_size or cfg.data.image_size
    if size != images.shape[-1]:
        from .train import _resize

        images = _resize(images, size)
    y_val, y_test = labels[split["val"]], labels[split["test"]]
    rows = []
    for variant in ab.variants:
        print(f"ablation: augmentation={variant} ({ab.epochs} epochs at {size}px)")
        model = build(pretrained=cfg.model.pretrained)
        variant_ft = ft.model_copy(update={"augment": variant, "patience": ab.epochs})
        result = fit(
            model, images, labels, split["train"], split["val"], variant_ft, norm, cfg.seed,
            epochs=ab.epochs,
        )  # fmt: skip
        rung = ladder.network_rung(variant, model, images, split, norm, result, False, False, "")
        threshold = (
            tune_threshold(y_val, rung.val_prob, cfg.ladder.threshold) if dataset.positive else None
        )
        scores = scores_with_ci(
            y_test, rung.test_prob, threshold, dataset.positive, cfg.analysis.n_boot
        )
        val_pred = rung.val_prob.argmax(1)
        rows.append(
            {
                "augmentation": variant,
                "val_accuracy": float(np.mean(val_pred == y_val)),
                "val_balanced_accuracy": balanced_accuracy(y_val, val_pred),
                **scores,
                "train_seconds": result.train_seconds,
                "train_images_per_s": result.train_images_per_s,
            }
        )
        run.log_metrics({f"ablation_{variant}_test_accuracy": scores["accuracy"]})
    write_table(results, "ablation", pd.DataFrame(rows))
    return rows
