"""Where training time goes: data wait vs compute, throughput, peak memory, torch.profiler traces.

One code path for CPU and CUDA: CUDA work is synchronised before a step is timed (when torch sees
a GPU), and peak memory is the CUDA allocator's peak when present, process RSS otherwise.
"""

from __future__ import annotations

import contextlib
import os
import resource
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any


def _cuda_available() -> bool:
    torch = sys.modules.get("torch")
    return bool(torch is not None and torch.cuda.is_available())


def _sync() -> None:
    if _cuda_available():
        sys.modules["torch"].cuda.synchronize()


def _default_size(batch: Any) -> int:
    first = batch[0] if isinstance(batch, list | tuple) else batch
    if isinstance(first, dict):
        first = next(iter(first.values()))
    return len(first)


class StepTimer:
    """Wrap a batch iterable: time spent in next() is data wait, time until the next request is compute.

    timer = StepTimer()
    for x, y in timer.wrap(loader):
        train_step(x, y)
    timer.summary()["data_wait_fraction"]

    skip_first=N leaves the first N steps (warm-up: lazy initialisation, cuDNN autotuning, a
    compile) out of every total; they still run, and summary()["warmup_steps"] counts them.
    """

    def __init__(self, batch_size: Callable[[Any], int] = _default_size, sync_cuda: bool = True,
                 skip_first: int = 0):  # fmt: skip
        if skip_first < 0:
            raise ValueError(f"skip_first={skip_first}: at least 0")
        self.batch_size = batch_size
        self.sync_cuda = sync_cuda
        self.skip_first = skip_first
        self.skipped = 0
        self.data_seconds = 0.0
        self.compute_seconds = 0.0
        self.steps = 0
        self.samples = 0

    def wrap(self, iterable: Iterable[Any]) -> Iterator[Any]:
        iterator = iter(iterable)
        while True:
            started = time.perf_counter()
            try:
                batch = next(iterator)
            except StopIteration:
                return
            fetched = time.perf_counter()
            yield batch
            if self.sync_cuda:
                _sync()
            self.record(fetched - started, time.perf_counter() - fetched, self.batch_size(batch))

    def record(self, data_seconds: float, compute_seconds: float, samples: int) -> None:
        """One step (also for callers that time steps themselves, e.g. a Lightning callback); a
        warm-up step (one of the first skip_first) is counted as skipped and nothing else."""
        if self.skipped < self.skip_first:
            self.skipped += 1
            return
        self.data_seconds += data_seconds
        self.compute_seconds += compute_seconds
        self.steps += 1
        self.samples += samples

    def summary(self) -> dict[str, float]:
        total = self.data_seconds + self.compute_seconds
        return {
            "warmup_steps": self.skipped,
            "steps": self.steps,
            "samples": self.samples,
            "data_seconds": self.data_seconds,
            "compute_seconds": self.compute_seconds,
            "data_wait_fraction": self.data_seconds / total if total else 0.0,
            "samples_per_s": self.samples / total if total else 0.0,
        }


def _vm_hwm_kib() -> int | None:
    """This process's own peak RSS. ru_maxrss is inherited across fork, so a child spawned by a
    big parent would report the parent's peak; /proc's VmHWM starts fresh at exec."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return None


def peak_memory() -> dict[str, Any]:
    """Peak CUDA allocation (None without a GPU) and the process's peak resident set size."""
    rss_kib = _vm_hwm_kib() or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    cuda_peak = None
    if _cuda_available():
        cuda_peak = int(sys.modules["torch"].cuda.max_memory_allocated())
    return {"cuda_peak_bytes": cuda_peak, "rss_peak_bytes": int(rss_kib) * 1024}


def measure_throughput(
    fn: Callable[[], Any], items: int, repeats: int = 5, warmup: int = 1
) -> dict:
    """Median wall time of fn() over repeats, as items/s and latency percentiles (seconds)."""
    import numpy as np

    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        _sync()
        started = time.perf_counter()
        fn()
        _sync()
        times.append(time.perf_counter() - started)
    times_arr = np.asarray(times)
    median = float(np.median(times_arr))
    return {
        "items_per_s": items / median if median else float("inf"),
        "p50_s": median,
        "p95_s": float(np.quantile(times_arr, 0.95)),
        "repeats": repeats,
    }


@contextlib.contextmanager
def torch_profile(out_dir: str | Path, row_limit: int = 20, record_shapes: bool = False):
    """Profile the block with torch.profiler; write trace.json (Chrome) and top_ops.md/.csv."""
    # Kineto's C++ logger prints start/stop markers at every profile and, without a GPU, an
    # "ERROR ... gpuGetDeviceCount failed": log noise, not a failure. Level 6 silences it before
    # the first profile; set KINETO_LOG_LEVEL lower to debug the profiler itself.
    os.environ.setdefault("KINETO_LOG_LEVEL", "6")
    import torch
    from torch.profiler import ProfilerActivity, profile

    from mlcraft.files import atomic_write_text

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    activities = [ProfilerActivity.CPU]
    if torch.cuda.is_available():
        activities.append(ProfilerActivity.CUDA)
    with profile(activities=activities, record_shapes=record_shapes) as prof:
        yield prof
    _sync()
    prof.export_chrome_trace(str(out_dir / "trace.json"))
    sort_key = "self_cuda_time_total" if torch.cuda.is_available() else "self_cpu_time_total"
    averages = prof.key_averages()
    atomic_write_text(
        out_dir / "top_ops.txt", averages.table(sort_by=sort_key, row_limit=row_limit)
    )
    rows = sorted(averages, key=lambda e: e.self_cpu_time_total, reverse=True)[:row_limit]
    lines = ["op,calls,self_cpu_ms,cpu_total_ms"]
    for event in rows:
        name = event.key.replace(",", ";")
        lines.append(
            f"{name},{event.count},{event.self_cpu_time_total / 1e3:.3f},{event.cpu_time_total / 1e3:.3f}"
        )
    atomic_write_text(out_dir / "top_ops.csv", "\n".join(lines) + "\n")
