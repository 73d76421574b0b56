"""`report`: render the README's generated blocks from results/ (never typed by hand)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from mlcraft.errors import UserInputError
from mlcraft.reporting import format_value, markdown_table, render_readme

PROJECT_DIR = Path(__file__).resolve().parents[2]
HEADLINE_KEYS = [
    "test_accuracy", "test_accuracy_ci95", "numpy_mlp_test_accuracy", "bitwise_identical",
    "threads_bitwise_identical", "resume_identical", "ddp_test_accuracy", "ddp_within_seed_range",
    "data_wait_fraction", "smoke_epoch_seconds", "wall_seconds",
]  # fmt: skip


def _fmt(value) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(format_value(v, 3) for v in value) + "]"
    return format_value(value, 3)


def _table(results: Path, name: str, digits: int = 3) -> str:
    path = results / f"{name}.csv"
    if not path.is_file():
        return f"_{name}.csv not produced by the reference run_"
    return markdown_table(pd.read_csv(path), digits=digits)


def blocks(results: Path | None = None) -> dict[str, str]:
    results = results or PROJECT_DIR / "results"
    path = results / "summary.json"
    if not path.is_file():
        raise UserInputError(f"no {path}: run `uvx nox -s train-repro` first")
    s = json.loads(path.read_text())
    h = s["headline"]
    headline = markdown_table(
        [{"metric": k, "value": _fmt(h.get(k))} for k in HEADLINE_KEYS if k in h]
    )
    hw = s["hardware"]
    reproduce = (
        f"Reference run: {format_value(s['wall_seconds'], 0)} s wall on {hw['cpu_count']} CPU "
        f"cores ({hw['cpu_model']}), torch {s['packages'].get('torch')}, git "
        f"`{(s['git_sha'] or 'unknown')[:10]}`{' (dirty)' if s['git_dirty'] else ''}, "
        f"uv.lock sha256 `{(s['uv_lock_sha256'] or '')[:12]}`, started {s['started_utc']}."
    )
    kill = s.get("resume_kill", {})
    resume = ""
    if kill:
        resume = (
            f"Real SIGKILL (exit code {kill['returncode']}) after the checkpoint at global step "
            f"{kill['checkpoint_global_step']} (epoch {kill['checkpoint_epoch']}, step "
            f"{kill['checkpoint_step_in_epoch']} of the epoch); resumed run's weights identical to "
            f"the uninterrupted run: **{_fmt(h.get('resume_identical'))}**.\n\n"
        )
    var = s.get("resume_variants", {})
    if var:
        resume += (
            f"On {var['data']} ({var['steps_per_epoch']} steps per epoch), stopped at step "
            f"{var['stop_step']} and resumed with one piece of state deliberately not restored:"
            "\n\n" + _table(results, "resume_variants")
        )
    ddp = s.get("ddp", {})
    ddp_text = "_DDP check off_"
    if ddp:
        ddp_text = markdown_table([
            {"run": "single process, seed 0", "devices": 1, "global_batch": ddp["global_batch"],
             "per_device_batch": ddp["global_batch"],
             "test_accuracy": s["seeds_test_accuracy"][0],
             "train_seconds": ddp["single_process_seed0_train_seconds"]},
            {"run": "DDP (gloo), seed 0", "devices": ddp["devices"],
             "global_batch": ddp["global_batch"], "per_device_batch": ddp["per_device_batch"],
             "test_accuracy": h["ddp_test_accuracy"], "train_seconds": ddp["train_seconds"]},
        ])  # fmt: skip
    prof = s.get("profile", {})
    profile = "_profile check off_"
    if prof:
        ops = pd.read_csv(results / "profile_top_ops.csv").head(8)
        profile = (
            f"{prof['steps']} training steps: data wait {format_value(prof['data_seconds'], 2)} s, "
            f"compute {format_value(prof['compute_seconds'], 2)} s, data-wait fraction "
            f"{format_value(prof['data_wait_fraction'], 3)} -> bottleneck: **{prof['bottleneck']}**"
            f" ({format_value(prof['samples_per_s'], 0)} samples/s).\n\n"
            + markdown_table(ops, digits=1)
        )
    mlp = s.get("numpy_mlp", {})
    grad = (
        f"Gradient check against torch autograd (float64): max |difference| "
        f"{mlp.get('max_abs_grad_diff', float('nan')):.1e}, loss difference "
        f"{mlp.get('loss_diff', float('nan')):.1e}."
    )
    return {
        "headline": headline,
        "reproduce": reproduce,
        "ladder": _table(results, "ladder") + "\n\n" + grad,
        "seeds": _table(results, "seeds"),
        "slices": _table(results, "slices"),
        "determinism": _table(results, "determinism", digits=6),
        "resume": resume,
        "ddp": ddp_text,
        "hardware": _table(results, "hardware", digits=1),
        "profile": profile,
    }


def render(readme: Path | None = None) -> list[str]:
    return render_readme(readme or PROJECT_DIR / "README.md", blocks())
