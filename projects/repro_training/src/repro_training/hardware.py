"""Hardware literacy on CPU: throughput and peak memory of fp32 vs bf16 autocast, with and without
gradient checkpointing, and a profile of where a training step's time goes (data vs compute).

Each table cell runs in a fresh process (`python -m repro_training bench ...`) so its peak resident
memory (ru_maxrss, a high-water mark) belongs to that cell alone.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np


def _rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def bench_cell(precision: str, grad_ckpt: bool, batch_size: int, size: int, steps: int,
               widths: list[int], stem_stride: int) -> dict:  # fmt: skip
    import torch

    from repro_training.models import ResNet
    from repro_training.train import _autocast

    torch.manual_seed(0)
    net = ResNet(1, 2, tuple(widths), 0.1, grad_ckpt, stem_stride)
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    x, y = torch.randn(batch_size, 1, size, size), torch.randint(0, 2, (batch_size,))

    def step():
        with _autocast(precision):
            loss = torch.nn.functional.cross_entropy(net(x).float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    step()  # warm-up (allocations, oneDNN kernel selection) before the baseline is taken
    baseline = _rss_bytes()
    times = []
    for _ in range(steps):
        started = time.perf_counter()
        step()
        times.append(time.perf_counter() - started)
    median = float(np.median(times))
    return {
        "precision": precision,
        "grad_checkpointing": grad_ckpt,
        "batch_size": batch_size,
        "image_px": size,
        "samples_per_s": batch_size / median,
        "step_ms_median": 1e3 * median,
        "peak_rss_mib": _rss_bytes() / 2**20,
        "peak_rss_increase_mib": (_rss_bytes() - baseline) / 2**20,
        "threads": torch.get_num_threads(),
    }


def hardware_table(cfg, batch_size: int = 128, steps: int = 8) -> list[dict]:
    rows = []
    for precision in ("fp32", "bf16"):
        for grad_ckpt in (False, True):
            cmd = [sys.executable, "-m", "repro_training", "bench", "--precision", precision,
                   "--batch-size", str(batch_size), "--size", str(cfg.data.size if
                   cfg.data.name == "elpv" else 28), "--steps", str(steps),
                   "--widths", ",".join(map(str, cfg.model.widths)),
                   "--stem-stride", str(cfg.model.stem_stride)]  # fmt: skip
            if grad_ckpt:
                cmd.append("--grad-checkpointing")
            out = subprocess.run(cmd, capture_output=True, text=True, check=True)
            rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return rows


def profile_training(cfg, out_dir: str | Path, steps: int = 12) -> dict:
    """A few real training steps under torch.profiler, with batches timed by StepTimer.

    The batch iterator does what the training loop does (index, augment on the CPU, to tensor), so
    the data-wait share says whether a DataLoader with workers would help.
    """
    import torch
    from mlcraft.profiling import StepTimer, torch_profile
    from mlcraft.seeding import seed_everything

    from repro_training import data as data_mod
    from repro_training.train import build_model

    seed_everything(0)
    split = data_mod.load(cfg.data)
    net = build_model(cfg, len(split.classes))
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    sampler = data_mod.EpochSampler(len(split.y_train), cfg.train.batch_size, 0)

    def batches():
        for _, idx in sampler.batches(0):
            with torch.profiler.record_function("data: index+augment+to_tensor"):
                yield data_mod.make_batch(split, idx, train=True, augment_on=cfg.train.augment)

    timer = StepTimer()
    net.train()
    with torch_profile(out_dir, row_limit=15):
        for i, (x, y) in enumerate(timer.wrap(batches())):
            with torch.profiler.record_function("compute: forward+backward+step"):
                loss = torch.nn.functional.cross_entropy(net(x), y)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
            if i + 1 >= steps:
                break
    summary = timer.summary()
    summary["bottleneck"] = "data loading" if summary["data_wait_fraction"] > 0.5 else "compute"
    return summary
