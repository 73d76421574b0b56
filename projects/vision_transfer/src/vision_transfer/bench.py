"""`python -m vision_transfer bench --config configs/default.yaml [--steps N] [--warmup N]`: the
project's own training step (train.fit: its batching, augmentation, loss and AdamW step) and
inference (evaluate.predict_logits, one view) timed on whatever hardware runs it, through
mlcraft.bench, after untimed warm-up: each fit's first steps (at least --warmup, a full epoch where
the timed steps reach the epoch's partial last batch) and one whole inference pass.

Writes results/bench/bench.csv|.md (one train row per augmentation policy: the configured one,
or every policy of the ablation when finetune.augment=auto; one inference row) and bench.json
(the config, code, hardware). `publish --run-dir <bench run>` makes it results/bench/.
"""

from __future__ import annotations

import copy

import pandas as pd
import torch
from mlcraft import bench
from mlcraft.accel import device_batch
from mlcraft.config import config_to_dict
from mlcraft.seeding import seed_everything
from mlcraft.tracking import environment_fingerprint

from . import data, models
from .analyses import decide_accel
from .augment import Normalizer, epoch_batches
from .config import Config
from .evaluate import predict_logits
from .pipeline import resolve_device
from .train import fit


def run_bench(cfg: Config, run, args) -> None:
    fingerprint = environment_fingerprint()  # the code as it was when the bench started
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    seed_everything(cfg.seed)
    where = resolve_device(cfg)
    dataset, split = args.checked.dataset, args.checked.split
    torch.manual_seed(cfg.seed)
    reference = models.build(cfg.model, len(dataset.classes), pretrained=cfg.model.pretrained)
    mean, std = models.input_stats(reference)
    given = cfg
    cfg, _ = decide_accel(cfg, lambda: models.build(cfg.model, len(dataset.classes), pretrained=False),
                          dataset.images[split["train"]], {"mean": mean, "std": std}, where)  # fmt: skip
    norm = Normalizer(mean, std, channels_last=cfg.channels_last, device=where)
    precision = "bf16 autocast" if cfg.bf16 else "fp32"
    ceiling = bench.matmul_rate(where, "bfloat16" if cfg.bf16 and where == "cuda" else "float32")
    # the config's size, and the recipe search's larger ones (configs/gpu.yaml: 224 and 300 px)
    sizes = [cfg.data.image_size, *(cfg.recipe.image_sizes if cfg.recipe.enabled else [])]
    batch = device_batch(where, cfg.finetune.batch_size, cfg.finetune.gpu_batch_size,
                         cfg.finetune.lr_scaling).batch_size  # fmt: skip
    warmup = bench.warmup_steps(args.warmup, args.steps, *epoch_batches(len(split["train"]), batch))
    rows = []
    for size in dict.fromkeys(sizes):
        if size != dataset.images.shape[-1]:
            dataset = data.load(cfg.data.model_copy(update={"image_size": size}), cfg.seed)
        common = {"ceiling": ceiling, "precision": precision, "image_size": size}
        rows += _train_rows(cfg, reference, dataset, split, norm, args.steps, warmup, where, common)
        rows.append(_inference_row(cfg, reference, dataset.images[split["test"]], norm, where,
                                   common))  # fmt: skip
    bench.write_bench(
        run, pd.DataFrame(rows), config_to_dict(given), fingerprint, device=where, steps=args.steps,
        warmup_steps=warmup, inference_warmup=bench.INFERENCE_WARMUP,
        what=f"{cfg.model.name}, {args.steps} training steps per augmentation policy and image "
        f"size, inference over the {len(split['test']):,} test images (one view).",
    )  # fmt: skip


def _train_rows(cfg, reference, dataset, split, norm, steps, warmup, where, common) -> list[dict]:
    """One row per augmentation policy (the configured one, or the ablation's when auto): train.fit
    for `warmup` + `steps` steps from the pretrained weights, its own timer leaving the warm-up
    out and splitting data wait from compute."""
    ft = cfg.finetune.model_copy(update={"patience": 10**6})  # time steps, never stop early
    images, labels = dataset.images, dataset.labels
    size = device_batch(where, ft.batch_size, ft.gpu_batch_size, ft.lr_scaling).batch_size
    batch = images[split["train"][:size]]
    flops = bench.TRAIN_FLOPS_PER_FORWARD * _forward_flops(reference, batch, norm, cfg.bf16)
    per_epoch, _ = epoch_batches(len(split["train"]), size)
    epochs = -(-(warmup + steps) // max(per_epoch, 1))  # enough for the warm-up and the steps
    rows = []
    for policy in cfg.ablation.variants if ft.augment == "auto" else [ft.augment]:
        print(f"bench: train at {common['image_size']} px, augment={policy}, {steps} steps of "
              f"{size} after {warmup} untimed on {where}")  # fmt: skip
        bench.reset_peak_memory(where)
        timer = fit(
            copy.deepcopy(reference), images, labels, split["train"], split["val"][:size],
            ft.model_copy(update={"augment": policy}), norm, cfg.seed, epochs=epochs,
            autocast=cfg.bf16, max_steps=warmup + steps, warmup_steps=warmup,
        ).timer  # fmt: skip
        rows.append(bench.phase_row(
            "train", examples=int(timer["samples"]),
            seconds=timer["data_seconds"] + timer["compute_seconds"],
            data_seconds=timer["data_seconds"], flops_per_example=flops,
            memory_mib=bench.peak_memory_mib(where), batch_size=size, augment=policy,
            **common,
        ))  # fmt: skip
    return rows


def _inference_row(cfg, reference, test, norm, where, common) -> dict:
    """evaluate.predict_logits over the test images, one view: the second of two passes, the first
    an untimed warm-up over the same images (so every batch shape, the partial last one too)."""
    print(f"bench: inference at {common['image_size']} px, one view, on {where}")
    model = copy.deepcopy(reference).to(where).eval()
    predict_logits(model, test, norm, autocast=cfg.bf16)  # warm-up
    bench.reset_peak_memory(where)
    _, rate = predict_logits(model, test, norm, autocast=cfg.bf16)
    flops = _forward_flops(model, test[:8], norm, cfg.bf16)
    return bench.phase_row(
        "inference", examples=len(test), seconds=len(test) / rate, data_seconds=None,
        flops_per_example=flops, memory_mib=bench.peak_memory_mib(where), batch_size=128,
        augment="none", **common,
    )  # fmt: skip


def _forward_flops(model, batch, norm: Normalizer, autocast: bool) -> float:
    """Forward FLOPs per image on `batch` (uint8), on a copy of the model."""
    model = copy.deepcopy(model).to(norm.device).eval()

    @torch.no_grad()
    def forward():
        with torch.autocast(norm.device, dtype=torch.bfloat16, enabled=autocast):
            model(norm(norm.to_unit(batch)))

    return bench.count_flops(forward) / len(batch)
