"""`bench`: how fast a project's own training step and inference run on the hardware at hand.

A benchmark, not a timed test: it measures and reports; nothing fails on a number. One row per
phase (train, inference): examples/s, the share of the timed loop spent waiting for data, peak
memory (the CUDA allocator's on a GPU, the process's resident set otherwise), FLOPs per example
and MFU: the achieved FLOP/s over the dense-matmul rate measured on the same device and dtype in
the same process. The ceiling is measured, not a datasheet peak, so CPU and GPU rows are computed
the same way and say how much of what the chip can do on matrix work the model's step gets.

FLOPs: torch.utils.flop_counter counts the forward pass on real inputs; a training step counts as
TRAIN_FLOPS_PER_FORWARD forwards (the backward pass is about twice the forward, the usual
convention), because the counter overcounts the backward of grouped convolutions by the group
count (measured on torch 2.15: a 64-group depthwise 3x3 convolution's backward at 65x its
forward), which would inflate EfficientNet's MFU many times over.

Warm-up: the first steps of a loop pay for lazy CUDA/kernel initialisation, cuDNN autotuning
(again for every new batch shape, such as an epoch's partial last batch) and any compile; timed
from the first step, a short GPU bench measures mostly that. So every bench runs untimed warm-up
steps first (at least --warmup, mlcraft.cli.BENCH_WARMUP by default; warmup_steps raises it to
cover every batch shape the timed steps see), its timer skipping them (StepTimer(skip_first=)),
and times inference on a second pass over the same inputs. bench.json records both
(warmup_steps, inference_warmup); a table without them was timed from the first step, warm-up
included, and published_block says so.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

# what phase_row writes for every project; any other column is the project's own
STANDARD_COLUMNS = ("phase", "batch_size", "precision", "examples", "seconds", "examples_per_s",
                    "data_wait_fraction", "gflops_per_example", "achieved_tflops",
                    "matmul_tflops", "mfu", "peak_memory_mib")  # fmt: skip
TRAIN_FLOPS_PER_FORWARD = 3  # forward + backward (about 2x the forward)
INFERENCE_WARMUP = "timed on a second pass over the same inputs, after an untimed first pass"
VERB = "bench"
FOLDER = "bench"  # results/bench/: bench.csv|.md and bench.json


def device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def sync(where: str) -> None:
    if where == "cuda":
        import torch

        torch.cuda.synchronize()


def count_flops(forward: Callable[[], Any]) -> int:
    """FLOPs of one call of `forward`, summed over its aten ops (matmuls and convolutions)."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        forward()
    return int(counter.get_total_flops())


def matmul_rate(where: str, dtype_name: str = "float32", seconds: float = 1.0) -> float:
    """FLOP/s of a square matmul on `where` in `dtype_name`, timed for about `seconds` after a
    warm-up: the ceiling MFU is measured against."""
    import torch

    size = 8192 if where == "cuda" else 1024
    dtype = getattr(torch, dtype_name)
    a = torch.randn(size, size, device=where, dtype=dtype)
    b = torch.randn(size, size, device=where, dtype=dtype)
    for _ in range(3):
        a @ b
    sync(where)
    calls, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        for _ in range(5):
            a @ b
        sync(where)
        calls += 5
    return 2 * size**3 * calls / (time.perf_counter() - started)


def warmup_steps(minimum: int, steps: int, per_epoch: int, partial_last: bool) -> int:
    """Untimed steps to run before `steps` timed ones so that every batch shape the timed steps see
    has run once untimed: `minimum`, raised to a full epoch of `per_epoch` steps when the epoch
    ends in a partial batch (a shape of its own) that the timed steps would otherwise reach."""
    if partial_last and minimum < per_epoch <= minimum + steps:
        return per_epoch
    return minimum


def warmup_included(meta: dict) -> bool:
    """Whether a bench.json's training rate was timed from the first step, warm-up included: no
    warmup_steps recorded (a table from before the untimed warm-up) or none run (--warmup 0)."""
    return not meta.get("warmup_steps")


def not_judged(target: str, rate: str) -> str:
    """A project's GPU-target sentence for a table timed from the first step (warmup_included)."""
    return (f"{target} not judged: this bench's timing includes warm-up, so its {rate} is not a "
            "steady-state rate.")  # fmt: skip


def timing_note(meta: dict) -> str:
    """One sentence on what the timed loop left out, from bench.json."""
    if warmup_included(meta):
        return (
            "Timing started at the first step, warm-up included: these rates are not steady state."
        )
    steps = meta.get("steps")
    timed = f"{steps} training steps" if steps else "the training steps"
    inference = meta.get("inference_warmup")
    return (f"Timed after warm-up: {timed} after {meta['warmup_steps']} untimed ones"
            + (f"; inference {inference}." if inference else "."))  # fmt: skip


def reset_peak_memory(where: str) -> None:
    if where == "cuda":
        import torch

        torch.cuda.reset_peak_memory_stats()


def peak_memory_mib(where: str) -> float:
    """The CUDA allocator's peak since the last reset on a GPU; the process's peak RSS on a CPU
    (which cannot be reset: the larger of the two phases shows in both)."""
    from mlcraft.profiling import peak_memory

    peak = peak_memory()
    key = "cuda_peak_bytes" if where == "cuda" else "rss_peak_bytes"
    return round(peak[key] / 2**20, 1)


def phase_row(phase: str, *, examples: int, seconds: float, data_seconds: float | None,
              flops_per_example: float, ceiling: float, memory_mib: float, batch_size: int,
              precision: str, **extra: Any) -> dict:  # fmt: skip
    """One phase's row from what was timed: `examples` in `seconds` of the timed loop, of which
    `data_seconds` waiting for batches (None: not separable from compute); `ceiling` is
    matmul_rate's FLOP/s."""
    rate = examples / seconds
    achieved = flops_per_example * rate
    wait = float("nan") if data_seconds is None else data_seconds / seconds
    return {
        "phase": phase, "batch_size": batch_size, "precision": precision, **extra,
        "examples": examples, "seconds": round(seconds, 3), "examples_per_s": rate,
        "data_wait_fraction": wait, "gflops_per_example": flops_per_example / 1e9,
        "achieved_tflops": achieved / 1e12, "matmul_tflops": ceiling / 1e12,
        "mfu": achieved / ceiling, "peak_memory_mib": memory_mib,
    }  # fmt: skip


def hardware_label(hardware: dict) -> str:
    gpu = hardware.get("gpu")
    if gpu:
        return f"1 x {gpu.get('model', 'GPU')}"
    return f"{hardware.get('cpu_count')} cores ({hardware.get('cpu_model')})"


def write_bench(run, table: pd.DataFrame, config: dict, fingerprint: dict, **meta: Any) -> Path:
    """results/bench/bench.csv|.md and bench.json (the config measured, code, hardware): what
    `publish` copies into the published results/bench/."""
    from mlcraft.files import atomic_write_json
    from mlcraft.reporting import write_table

    print(table.to_string(index=False))
    out = run.results / FOLDER
    write_table(out, VERB, table, digits=4)
    atomic_write_json(out / f"{VERB}.json", {
        "model_config": config, "device": meta.pop("device"),
        **{key: fingerprint[key] for key in ("git_sha", "git_dirty", "hardware", "python")},
        **meta,
    })  # fmt: skip
    return out


def published_block(results: str | Path, target: Callable[[dict, pd.DataFrame], str] | None = None
                    ) -> str | None:  # fmt: skip
    """The README/docs text for a published bench (results/bench/), or None when there is none.
    target(meta, table): the project's sentence on its throughput target for that hardware."""
    from mlcraft.reporting import markdown_table

    folder = Path(results) / FOLDER
    if not (folder / f"{VERB}.json").is_file() or not (folder / f"{VERB}.csv").is_file():
        return None
    meta = json.loads((folder / f"{VERB}.json").read_text())
    table = pd.read_csv(folder / f"{VERB}.csv")
    # the project's own columns (augmentation, image size, max length) name what each row ran
    own = [c for c in table.columns if c not in STANDARD_COLUMNS]
    shown = pd.DataFrame({
        "phase": table["phase"], **{c.replace("_", " "): table[c] for c in own},
        "batch": table["batch_size"], "precision": table["precision"],
        "examples/s": table["examples_per_s"].map(lambda v: f"{v:,.1f}"),
        "data wait": table["data_wait_fraction"].map(lambda v: "n/a" if pd.isna(v) else f"{v:.1%}"),
        "GFLOPs/example": table["gflops_per_example"].map(lambda v: f"{v:.2f}"),
        "achieved TFLOP/s": table["achieved_tflops"].map(lambda v: f"{v:.3f}"),
        "MFU": table["mfu"].map(lambda v: f"{v:.1%}"),
        "peak memory (MiB)": table["peak_memory_mib"].map(lambda v: f"{v:,.0f}"),
    })  # fmt: skip
    ceiling = table["matmul_tflops"].iloc[0]
    memory = "CUDA allocator peak" if meta["device"] == "cuda" else "process peak RSS"
    lines = [
        f"Measured by `bench` on {hardware_label(meta['hardware'])} ({meta['device']}), git "
        f"`{meta['git_sha'][:10]}`: {meta.get('what', '')} {timing_note(meta)}",
        "",
        markdown_table(shown),
        "",
        f"MFU: achieved FLOP/s (forward FLOPs per example counted by torch.utils.flop_counter, "
        f"x{TRAIN_FLOPS_PER_FORWARD} for a training step, times examples/s) over a "
        f"{ceiling:.3f} TFLOP/s dense matmul measured on the same device and dtype. "
        f"Memory: {memory}.",
    ]
    if target is not None:
        lines += ["", target(meta, table)]
    return "\n".join(lines)
