"""The recipe search of the bigger-budget run (configs/full.yaml, `recipe:`).

One change at a time from the base recipe (the config's backbone, image size and hard or soft
labels): soft labels, each listed image size, each listed backbone. Every variant is the same
fine-tune chain with the same seed and a short schedule, scored on VALIDATION only. The final
recipe keeps each factor's best change that beat the base on validation and is then trained by
the ladder as usual; test is read once, after that choice, for the paired comparison against the
base (written by `compare_with_base`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import numpy as np
import pandas as pd
import torch

from . import models
from .augment import Normalizer
from .chain import expert_targets, finetune_chain
from .config import Config
from .evaluate import balanced_accuracy, decide, paired_accuracy_diff, tune_threshold


@dataclass(frozen=True)
class Variant:
    name: str
    factor: str  # base | labels | resolution | backbone
    image_size: int
    backbone: str
    soft_labels: bool


# factor -> the Variant field its changes set
FACTOR_FIELDS = {"labels": "soft_labels", "resolution": "image_size", "backbone": "backbone"}


def variants(cfg: Config) -> list[Variant]:
    """The base recipe, then each single change the config lists (a change equal to the base is
    not a change and is left out)."""
    base = Variant("base", "base", cfg.data.image_size, cfg.model.name, cfg.finetune.soft_labels)
    out = [base]
    if cfg.recipe.soft_labels and not base.soft_labels:
        out.append(replace(base, name="soft labels", factor="labels", soft_labels=True))
    for size in cfg.recipe.image_sizes:
        if size != base.image_size:
            out.append(replace(base, name=f"{size} px", factor="resolution", image_size=size))
    for name in cfg.recipe.backbones:
        if name != base.backbone:
            out.append(replace(base, name=name, factor="backbone", backbone=name))
    return out


def with_variant(cfg: Config, variant: Variant) -> Config:
    """`cfg` with the variant's image size, backbone and labels (everything else unchanged)."""
    return cfg.model_copy(
        update={
            "data": cfg.data.model_copy(update={"image_size": variant.image_size}),
            "model": cfg.model.model_copy(update={"name": variant.backbone}),
            "finetune": cfg.finetune.model_copy(update={"soft_labels": variant.soft_labels}),
        }
    )


def final_variant(rows: list[dict], select: str) -> Variant:
    """The decision rule: per factor, the change with the best validation score if it beats the
    base's strictly (ties keep the base); the kept changes combined."""
    base_row = rows[0]
    chosen = Variant(**{k: base_row[k] for k in Variant.__dataclass_fields__})
    for factor in FACTOR_FIELDS:
        tried = [r for r in rows if r["factor"] == factor]
        if not tried:
            continue
        best = tried[int(np.argmax([r[select] for r in tried]))]  # the first of equals
        if best[select] > base_row[select]:
            field = FACTOR_FIELDS[factor]
            chosen = replace(chosen, **{field: best[field]})
    parts = [
        chosen.backbone,
        f"{chosen.image_size} px",
        "soft labels" if chosen.soft_labels else "hard labels",
    ]
    return replace(chosen, name="final: " + ", ".join(parts), factor="final")


def search(cfg: Config, split, load_images, device: str, log_metrics) -> tuple[list, list]:
    """Train every variant; returns the table rows (validation scores) and each variant's top
    rung (its test probabilities stay unread until `compare_with_base`)."""
    rows, tops = [], []
    ft = cfg.finetune.model_copy(
        update={
            "epochs": cfg.recipe.epochs,
            "patience": min(cfg.finetune.patience, cfg.recipe.epochs),
        }
    )
    short = cfg.model_copy(update={"ladder": cfg.ladder.model_copy(update={"tta": False})})
    for variant in variants(cfg):
        print(f"recipe search: {variant.name} ({variant.backbone}, {variant.image_size} px, "
              f"{'soft' if variant.soft_labels else 'hard'} labels)")  # fmt: skip
        dataset = load_images(variant.image_size)
        torch.manual_seed(cfg.seed)  # the same fresh head as the ladder's build
        reference = models.build(cfg.model.model_copy(update={"name": variant.backbone}),
                                 len(dataset.classes))  # fmt: skip
        mean, std = models.input_stats(reference)
        norm = Normalizer(mean, std, channels_last=cfg.channels_last, device=device)
        targets = expert_targets(dataset.meta) if variant.soft_labels else None
        chain, _, fit_result = finetune_chain(
            short, ft, reference, dataset.images, dataset.labels, split, norm, cfg.seed,
            cfg.bf16, None, targets,
        )  # fmt: skip
        top = chain[-1]
        y_val = dataset.labels[split["val"]]
        val_pred = top.val_prob.argmax(1)
        row = {
            **asdict(variant),
            "val_accuracy": float(np.mean(val_pred == y_val)),
            "val_balanced_accuracy": balanced_accuracy(y_val, val_pred),
            "best_epoch": fit_result.best_epoch,
            "epochs_run": len(fit_result.history),
            "train_seconds": top.train_seconds,
            "train_images_per_s": top.train_images_per_s,
        }
        log_metrics({f"recipe_{variant.factor}_{variant.name}_val_accuracy": row["val_accuracy"]})
        rows.append(row)
        tops.append(top)
    return rows, tops


def compare_with_base(base, final_tops, y_val, y_test, positive, lad, n_boot: int) -> pd.DataFrame:
    """Test, read once after the choice: each final seed and their ensemble against the base
    recipe (one seed, the search's schedule, single view), paired on the same test rows.
    Both sides are scored single-view so that TTA is not counted as part of the recipe."""

    def decisions(val_prob, test_prob):
        threshold = tune_threshold(y_val, val_prob, lad.threshold) if positive else None
        return decide(test_prob, threshold)

    base_pred = decisions(*base.single_view())
    sides = [(f"final recipe, seed {i}", top.single_view()) for i, top in enumerate(final_tops)]
    if len(final_tops) > 1:
        views = [top.single_view() for top in final_tops]
        sides.append(
            (
                f"final recipe, ensemble of {len(final_tops)} seeds",
                (np.mean([v for v, _ in views], axis=0), np.mean([t for _, t in views], axis=0)),
            )
        )
    rows = []
    for name, (val_prob, test_prob) in sides:
        pred = decisions(val_prob, test_prob)
        diff = paired_accuracy_diff(y_test, pred, base_pred, n_boot)
        rows.append(
            {
                "rung": name,
                "tta": "none",
                "accuracy": float(np.mean(pred == y_test)),
                "vs": "base recipe (seed 0, search schedule)",
                "base_accuracy": float(np.mean(base_pred == y_test)),
                "diff": diff["diff"],
                "diff_lo": diff["lo"],
                "diff_hi": diff["hi"],
            }
        )
    return pd.DataFrame(rows)
