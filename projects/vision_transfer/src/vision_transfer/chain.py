"""The fine-tune chain (head + last stages, then all layers from there) and what is built on
it: the expert soft targets, one seed's scores and the seeds' probability-averaged ensemble."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import torch
from torch import nn

from . import ladder
from .evaluate import accuracy_with_ci, decide, metric_fns, paired_accuracy_diff, tune_threshold
from .train import FitResult, fit


def prefixed(name: str, row: dict) -> dict:
    return {f"{name}_{k}": v for k, v in row.items() if k != "epoch"}


def expert_targets(meta: pd.DataFrame) -> np.ndarray:
    """(N, 2) soft targets from the experts' defect probabilities: [P(functional), P(defective)]."""
    p = meta["defect_probability"].to_numpy(np.float32)
    return np.stack([1 - p, p], axis=1)


def finetune_chain(cfg, ft, reference, images, labels, split, norm, seed, autocast,
                   log_metrics=None, targets=None) -> tuple[list, nn.Module, FitResult]:  # fmt: skip
    """The fine-tune rungs from a copy of the pretrained `reference`, drawing from `seed`: head +
    last stages, then all layers starting from there. Returns the rungs, the final model, its fit.
    targets: soft training targets (finetune.soft_labels), else the labels.
    """
    lad = cfg.ladder
    # Dropout draws from torch's global generator: seeding it here makes a chain a function of
    # (the pretrained copy, the data, seed) alone, whatever ran before it in the process.
    torch.manual_seed(seed)

    def logged(prefix: str):
        return None if log_metrics is None else (lambda e, r: log_metrics(prefixed(prefix, r), e))

    model, rungs, result = copy.deepcopy(reference), [], None
    spent, spent_images = 0.0, 0
    if lad.last_stages:
        print(f"rung: fine-tune head + last {lad.last_stages_blocks} stages (seed {seed})")
        result = fit(
            model, images, labels, split["train"], split["val"], ft, norm, seed,
            last_stages=lad.last_stages_blocks, epochs=lad.last_stages_epochs,
            lr_backbone=ft.lr_head, autocast=autocast, on_epoch=logged("last_stages"),
            targets=targets,
        )  # fmt: skip
        spent, spent_images = result.train_seconds, result.timer["samples"]
        rungs.append(
            ladder.network_rung(
                f"fine-tune last {lad.last_stages_blocks} stages", model, images, split,
                norm, result, lad.tta, autocast,
                f"pretrained, head + last {lad.last_stages_blocks} stages trainable, "
                f"{len(result.history)} epochs",
            )
        )  # fmt: skip
    if lad.full:
        print(
            f"rung: full fine-tune ({ft.epochs} epochs, backbone lr {ft.lr_backbone}, seed {seed})"
        )
        model = copy.deepcopy(model)
        result = fit(
            model, images, labels, split["train"], split["val"], ft, norm, seed + 1,
            autocast=autocast, on_epoch=logged("full"), targets=targets,
        )  # fmt: skip
        result.train_seconds += spent  # it starts from the last-stages model
        rung = ladder.network_rung(
            "full fine-tune", model, images, split,
            norm, result, lad.tta, autocast,
            f"starts from the rung above; all layers, backbone lr {ft.lr_backbone}, "
            f"head lr {ft.lr_head}, warmup {ft.warmup_epochs} ep + cosine, "
            f"best of {len(result.history)} epochs (epoch {result.best_epoch}) on val loss",
        )  # fmt: skip
        rung.extra["total_images"] = spent_images + result.timer["samples"]
        rungs.append(rung)
    return rungs, model, result


def seed_row(seed, rung, y_val, y_test, positive, lad) -> dict:
    """One seed of the fine-tune chain: its top rung's test scores, scored as the ladder does."""
    threshold = tune_threshold(y_val, rung.val_prob, lad.threshold) if positive else None
    fns = metric_fns(threshold, positive)  # the ladder's own metric functions
    scores = {name: float(fns[name](y_test, rung.test_prob))
              for name in ("accuracy", "balanced_accuracy", "recall") if name in fns}  # fmt: skip
    fit_result = rung.extra["fit"]
    return {"seed": seed, "rung": rung.name, "tta": "8-view" if rung.tta else "none", **scores,
            "best_epoch": fit_result.best_epoch, "epochs_run": len(fit_result.history)}  # fmt: skip


def repeat_row(seed: int, first, first_model: nn.Module, again, again_model: nn.Module,
               seconds: float) -> dict:  # fmt: skip
    """The fine-tune chain twice with one seed in one process: are the final weights (sha256 over
    every tensor's bytes) and the top rung's test probabilities bitwise equal?"""
    from mlcraft.seeding import tensor_digest

    weights = tensor_digest(first_model.state_dict()), tensor_digest(again_model.state_dict())
    return {"seed": seed, "rung": first.name, "weights_sha256": weights[0][:16],
            "repeat_weights_sha256": weights[1][:16], "weights_bitwise": weights[0] == weights[1],
            "test_prob_bitwise": bool(np.array_equal(first.test_prob, again.test_prob)),
            "test_prob_max_abs_diff": float(np.max(np.abs(first.test_prob - again.test_prob))),
            "repeat_seconds": seconds}  # fmt: skip


def ensemble_row(tops, y_val, y_test, positive, lad, n_boot: int) -> dict:
    """The seeds' top rungs averaged (probabilities), thresholded on validation like any rung,
    with its test accuracy CI and a paired test against the run's own single-seed rung."""
    val_prob = np.mean([top.val_prob for top in tops], axis=0)
    test_prob = np.mean([top.test_prob for top in tops], axis=0)
    threshold = tune_threshold(y_val, val_prob, lad.threshold) if positive else None
    acc, lo, hi = accuracy_with_ci(y_test, test_prob, threshold, n_boot)
    single = tops[0]
    single_threshold = tune_threshold(y_val, single.val_prob, lad.threshold) if positive else None
    diff = paired_accuracy_diff(y_test, decide(test_prob, threshold),
                                decide(single.test_prob, single_threshold), n_boot)  # fmt: skip
    return {"rung": f"ensemble of {len(tops)} seeds ({single.name})",
            "tta": "8-view" if single.tta else "none", "accuracy": acc, "accuracy_lo": lo,
            "accuracy_hi": hi, "threshold": threshold if threshold is not None else np.nan,
            "vs": f"{single.name}, one seed", "diff": diff["diff"], "diff_lo": diff["lo"],
            "diff_hi": diff["hi"]}  # fmt: skip
