"""The README's generated blocks, rendered from a results folder (never typed by hand).

`blocks(results)` serves both `python -m repro_training report` (README from the published
results/) and each train run's REPORT.md. A run with some checks off lacks their tables: those
blocks are left out, not filled with a placeholder; a table or key that the run should have
written and did not is still an error.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from mlcraft.reporting import format_value, markdown_table

HEADLINE_KEYS = [
    "test_accuracy", "test_accuracy_ci95", "numpy_mlp_test_accuracy", "bitwise_identical",
    "threads_bitwise_identical", "resume_identical", "ddp_test_accuracy", "ddp_within_seed_range",
    "data_wait_fraction", "smoke_epoch_seconds", "wall_seconds",
]  # fmt: skip
FAULT_COLUMNS = ["fault", "exit_code", "message", "files_left", "results_unchanged"]


def _fmt(value) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(format_value(v, 3) for v in value) + "]"
    return format_value(value, 3)


def _table(results: Path, name: str, digits: int = 3) -> str | None:
    """The table as markdown, or None when this run did not write it (a check that was off)."""
    path = results / f"{name}.csv"
    if not path.is_file():
        return None
    return markdown_table(pd.read_csv(path), digits=digits)


def blocks(results: Path) -> dict[str, str]:
    results = Path(results)
    s = json.loads((results / "summary.json").read_text())
    h = s["headline"]
    headline = markdown_table(
        [{"metric": k, "value": _fmt(h.get(k))} for k in HEADLINE_KEYS if k in h]
    )
    hw = s["hardware"]
    out = {
        "headline": headline,
        "reproduce": (
            f"Run: {format_value(s['wall_seconds'], 0)} s wall on {hw['cpu_count']} CPU "
            f"cores ({hw['cpu_model']}), torch {s['packages'].get('torch')}, git "
            f"`{(s['git_sha'] or 'unknown')[:10]}`{' (dirty)' if s['git_dirty'] else ''}, "
            f"uv.lock sha256 `{(s['uv_lock_sha256'] or '')[:12]}`, started {s['started_utc']}."
        ),
    }
    if (results / "evaluation.csv").is_file():  # an evaluate run: one model scored, no ladder
        return out
    ladder = _table(results, "ladder")
    if ladder is None:
        raise FileNotFoundError(f"{results / 'ladder.csv'}: every train run writes the ladder")
    mlp = s.get("numpy_mlp")
    if mlp:
        ladder += (
            f"\n\nGradient check against torch autograd (float64): max |difference| "
            f"{mlp['max_abs_grad_diff']:.1e}, loss difference {mlp['loss_diff']:.1e}."
        )
    out["ladder"] = ladder
    for name, digits in (("seeds", 3), ("slices", 3), ("determinism", 6), ("hardware", 1)):
        table = _table(results, name, digits)
        if table is not None:
            out[name] = table
    resume = _resume(s, results)
    if resume:
        out["resume"] = resume
    ddp = s.get("ddp")
    if ddp:
        out["ddp"] = markdown_table([
            {"run": "single process, seed 0", "devices": 1, "global_batch": ddp["global_batch"],
             "per_device_batch": ddp["global_batch"],
             "test_accuracy": s["seeds_test_accuracy"][0],
             "train_seconds": ddp["single_process_seed0_train_seconds"]},
            {"run": "DDP (gloo), seed 0", "devices": ddp["devices"],
             "global_batch": ddp["global_batch"], "per_device_batch": ddp["per_device_batch"],
             "test_accuracy": h["ddp_test_accuracy"], "train_seconds": ddp["train_seconds"]},
        ])  # fmt: skip
    prof = s.get("profile")
    if prof:
        ops = pd.read_csv(results / "profile_top_ops.csv").head(8)
        out["profile"] = (
            f"{prof['steps']} training steps: data wait {format_value(prof['data_seconds'], 2)} s, "
            f"compute {format_value(prof['compute_seconds'], 2)} s, data-wait fraction "
            f"{format_value(prof['data_wait_fraction'], 3)} -> bottleneck: **{prof['bottleneck']}**"
            f" ({format_value(prof['samples_per_s'], 0)} samples/s).\n\n"
            + markdown_table(ops, digits=1)
        )
    if (results / "faults.csv").is_file():
        faults = pd.read_csv(results / "faults.csv")
        out["faults"] = markdown_table(faults[FAULT_COLUMNS])
    return out


def _resume(s: dict, results: Path) -> str:
    text = ""
    kill = s.get("resume_kill")
    if kill:
        text = (
            f"Real SIGKILL (exit code {kill['returncode']}) after the checkpoint at global step "
            f"{kill['checkpoint_global_step']} (epoch {kill['checkpoint_epoch']}, step "
            f"{kill['checkpoint_step_in_epoch']} of the epoch); "
        )
        if "history_identical" in kill:
            text += (
                "the resumed run against the uninterrupted one: weights identical "
                f"**{_fmt(kill['weights_identical'])}**, final state (optimizer, scheduler, scaler, "
                f"RNGs) identical **{_fmt(kill['final_state_identical'])}**, recorded "
                f"per-epoch history identical **{_fmt(kill['history_identical'])}**.\n\n"
            )
        else:  # a run from before the history was checkpointed
            text += (
                "resumed run's weights identical to the uninterrupted run: "
                f"**{_fmt(s['headline'].get('resume_identical'))}**.\n\n"
            )
    var = s.get("resume_variants")
    if var:
        table = _table(results, "resume_variants")
        if table is None:
            raise FileNotFoundError(f"{results / 'resume_variants.csv'}: summary names it")
        text += (
            f"On {var['data']} ({var['steps_per_epoch']} steps per epoch), stopped at step "
            f"{var['stop_step']} and resumed with one piece of state deliberately not restored:"
            "\n\n" + table
        )
    return text
