"""`python -m repro_training bench --config configs/default.yaml [--steps N] [--warmup N]`: the
project's own training step (train.train_step: the batch built and augmented on the CPU, SGD with
the gradient scaler, the config's precision) and inference (train.predict_proba over the test
split), timed on whatever hardware runs it, through mlcraft.bench, after untimed warm-up: --warmup
steps first (every batch is full: the sampler drops the last partial one), and inference timed on
a second pass over the test split.

Writes results/bench/bench.csv|.md (a train row and an inference row) and bench.json (the config,
code, hardware). `publish --run-dir <bench run>` makes it results/bench/.
"""

from __future__ import annotations

import copy
import itertools
import time

import numpy as np
import pandas as pd
import torch
from mlcraft import bench
from mlcraft.config import config_to_dict
from mlcraft.profiling import StepTimer
from mlcraft.seeding import seed_everything
from mlcraft.tracking import environment_fingerprint

from repro_training import data as data_mod
from repro_training.config import Config
from repro_training.train import _autocast, build_model, optimization, predict_proba, train_step


def run_bench(cfg: Config, run, args) -> None:
    fingerprint = environment_fingerprint()  # the code as it was when the bench started
    where = bench.device()
    seed = cfg.seeds[0]
    seed_everything(seed)
    if cfg.train.threads:
        torch.set_num_threads(cfg.train.threads)
    split = args.checked
    net = build_model(cfg, len(split.classes)).to(where)
    precision = "bf16 autocast" if cfg.train.precision == "bf16" else "fp32"
    ceiling = bench.matmul_rate(where, "bfloat16" if cfg.train.precision == "bf16" else "float32")
    batch, size = cfg.train.batch_size, split.x_train.shape[-1]
    x, _ = data_mod.make_batch(split, np.arange(batch), train=True, augment_on=False)
    flops = bench.TRAIN_FLOPS_PER_FORWARD * _forward_flops(net, x.to(where), cfg, where)
    print(f"bench: train, {args.steps} steps of {batch} at {size} px after {args.warmup} untimed "
          f"on {where}")  # fmt: skip
    bench.reset_peak_memory(where)
    timer = _timed_steps(cfg, net, split, args.steps, args.warmup, seed, where)
    rows = [bench.phase_row(
        "train", examples=int(timer["samples"]),
        seconds=timer["data_seconds"] + timer["compute_seconds"],
        data_seconds=timer["data_seconds"], flops_per_example=flops, ceiling=ceiling,
        memory_mib=bench.peak_memory_mib(where), batch_size=batch, precision=precision,
        image_size=size,
    )]  # fmt: skip
    print(f"bench: inference over {len(split.y_test):,} test images on {where}")
    predict_proba(net, split, cfg.train.precision)  # warm-up: the same pass, untimed
    bench.reset_peak_memory(where)
    bench.sync(where)
    started = time.perf_counter()
    predict_proba(net, split, cfg.train.precision)
    bench.sync(where)
    seconds = time.perf_counter() - started
    rows.append(bench.phase_row(
        "inference", examples=len(split.y_test), seconds=seconds, data_seconds=None,
        flops_per_example=flops / bench.TRAIN_FLOPS_PER_FORWARD, ceiling=ceiling,
        memory_mib=bench.peak_memory_mib(where), batch_size=512, precision=precision,
        image_size=size,
    ))  # fmt: skip
    bench.write_bench(
        run, pd.DataFrame(rows), config_to_dict(cfg), fingerprint, device=where, steps=args.steps,
        warmup_steps=timer["warmup_steps"], inference_warmup=bench.INFERENCE_WARMUP,
        what=f"the ResNet of {cfg.model.widths} channels at {size} px, {args.steps} "
        f"training steps, inference over the {len(split.y_test):,} test images.",
    )  # fmt: skip


def _timed_steps(cfg: Config, net, split, steps: int, warmup: int, seed: int, where: str) -> dict:
    """`warmup` + `steps` training steps on a copy of `net`, the batches drawn as a run draws them
    (epoch after epoch); the timer leaves the warm-up out and splits the wait for each batch from
    the step's compute."""
    net = copy.deepcopy(net).train()
    sampler = data_mod.EpochSampler(len(split.y_train), cfg.train.batch_size, seed, 0, 1)
    state = optimization(cfg, net, warmup + steps, where)

    def batches():
        for epoch in itertools.count():
            for _, idx in sampler.batches(epoch):
                x, y = data_mod.make_batch(split, idx, train=True, augment_on=cfg.train.augment)
                yield x.to(where), y.to(where)

    timer = StepTimer(skip_first=warmup)
    for x, y in timer.wrap(itertools.islice(batches(), warmup + steps)):
        train_step(net, x, y, state, cfg.train.precision, where, lambda loss: loss.backward())
    return timer.summary()


def _forward_flops(net, x, cfg: Config, where: str) -> float:
    """Forward FLOPs per image of one batch, on a copy of the model."""
    net = copy.deepcopy(net).eval()

    @torch.no_grad()
    def forward():
        with _autocast(cfg.train.precision, where):
            net(x)

    return bench.count_flops(forward) / len(x)
