"""Hardware literacy on CPU: throughput and peak memory of fp32 vs bf16 autocast, with and without
gradient checkpointing, and a profile of where a training step's time goes (data vs compute).

Each table cell runs in a fresh process (`python -m repro_training hardware-cell ...`) so its peak
resident memory (ru_maxrss, a high-water mark) belongs to that cell alone.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np


def _status_bytes(field: str) -> int:
    # /proc/self/status, not getrusage: ru_maxrss of a child inherits the parent's high-water mark
    # across fork+exec, VmHWM belongs to this process's own address space.
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def _reset_peak_rss() -> None:
    """Linux: writing 5 to clear_refs resets VmHWM to the current RSS."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def bench_cell(precision: str, grad_ckpt: bool, batch_size: int, size: int, steps: int,
               widths: list[int], stem_stride: int, deterministic: bool = False) -> dict:  # fmt: skip
    import torch
    from mlcraft.seeding import set_deterministic

    from repro_training.models import ResNet
    from repro_training.train import _autocast

    set_deterministic(deterministic)
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

    # Baseline before the first step: the peak above it is gradients, optimizer state and the
    # activations kept for backward (what gradient checkpointing trades for recompute).
    _reset_peak_rss()
    baseline = _status_bytes("VmRSS")
    step()  # warm-up (oneDNN kernel selection), not timed
    times = []
    for _ in range(steps):
        started = time.perf_counter()
        step()
        times.append(time.perf_counter() - started)
    # The fastest step is the least disturbed by other processes on a shared machine.
    best, median = float(np.min(times)), float(np.median(times))
    return {
        "precision": precision,
        "grad_checkpointing": grad_ckpt,
        "deterministic_mode": deterministic,
        "batch_size": batch_size,
        "image_px": size,
        "samples_per_s_best": batch_size / best,
        "step_ms_best": 1e3 * best,
        "step_ms_median": 1e3 * median,
        "peak_rss_mib": _status_bytes("VmHWM") / 2**20,
        "peak_rss_over_idle_mib": (_status_bytes("VmHWM") - baseline) / 2**20,
        "threads": torch.get_num_threads(),
        "step_ms_all": [1e3 * t for t in times],  # every timed step: a CI, not one number
    }


CELL_KEYS = ("precision", "grad_checkpointing", "deterministic_mode")


def hardware_table(cfg, batch_size: int = 128, steps: int = 8) -> tuple[list[dict], list[dict]]:
    """The table (one row per cell) and every timed step of every cell (one row per step: the
    report's CIs of step-time ratios, e.g. the cost of deterministic kernels, come from these)."""
    rows, step_rows = [], []
    cells = [(p, g, False) for p in ("fp32", "bf16") for g in (False, True)]
    cells.append(("fp32", False, True))  # the price of torch.use_deterministic_algorithms
    for precision, grad_ckpt, deterministic in cells:
        cmd = [sys.executable, "-m", "repro_training", "hardware-cell", "--precision", precision,
               "--batch-size", str(batch_size), "--size", str(cfg.data.size if
               cfg.data.name == "elpv" else 28), "--steps", str(steps),
               "--widths", ",".join(map(str, cfg.model.widths)),
               "--stem-stride", str(cfg.model.stem_stride)]  # fmt: skip
        if grad_ckpt:
            cmd.append("--grad-checkpointing")
        if deterministic:
            cmd.append("--deterministic")
        out = subprocess.run(cmd, capture_output=True, text=True, check=True)
        speed = json.loads(out.stdout.strip().splitlines()[-1])
        # Memory in a second process where large blocks go through mmap, so freed
        # activations leave the RSS and the peak is honest (but page faults slow the steps).
        env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536"}
        cmd[cmd.index("--steps") + 1] = "1"
        out = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env)
        memory = json.loads(out.stdout.strip().splitlines()[-1])
        speed["peak_rss_over_idle_mib"] = memory["peak_rss_over_idle_mib"]
        del speed["peak_rss_mib"]
        cell = {key: speed[key] for key in CELL_KEYS}
        step_rows += [{**cell, "step": i, "step_ms": ms}
                      for i, ms in enumerate(speed.pop("step_ms_all"))]  # fmt: skip
        rows.append(speed)
    return rows, step_rows


def profile_training(cfg, out_dir: str | Path, steps: int = 12) -> dict:
    """A few real training steps under torch.profiler, each split into data wait and compute.

    The batch iterator does what the training loop does (index, augment on the CPU, to tensor), so
    the data-wait share says whether a DataLoader with workers would help. The "data" range wraps
    the `next()` call on the iterator and nothing else: a range opened inside a generator would
    stay open across its `yield`, and so count the compute of the step as data time.
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
    batches = (
        data_mod.make_batch(split, idx, train=True, augment_on=cfg.train.augment)
        for _, idx in sampler.batches(0)
    )
    timer = StepTimer()
    net.train()
    total = 0.0
    with torch_profile(out_dir, row_limit=15):
        for _ in range(min(steps, sampler.steps_per_epoch)):
            step_started = time.perf_counter()
            with torch.profiler.record_function("data: next(batches)"):
                x, y = next(batches)
            fetched = time.perf_counter()
            with torch.profiler.record_function("compute: forward+backward+step"):
                loss = torch.nn.functional.cross_entropy(net(x), y)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
            done = time.perf_counter()
            timer.record(fetched - step_started, done - fetched, len(x))
            total += done - step_started
    summary = timer.summary()
    summary["step_seconds"] = total  # whole steps: data + compute can never exceed it
    summary["bottleneck"] = "data loading" if summary["data_wait_fraction"] > 0.5 else "compute"
    return summary
