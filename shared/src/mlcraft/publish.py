"""Publishing: the only way projects/<p>/results/ changes.

`publish` takes a complete reference run, checks that its config is the reference config and its
data the reference data, and replaces results/ as a whole with the run's results/ folder: the new
folder is built beside the old one, then swapped in with two renames, so a reader never sees a mix
of two runs. A forker's run (other data or config) is refused with one line.

A train run of a bigger-budget config (configs/full.yaml, configs/gpu.yaml) publishes into
results/full/ or results/gpu/ only (publish_full), with the same checks against that config.

A run of a model-level verb (`loadtest`, `compress`) or a `bench` publishes into its own
results/<part>/ only (PARTS), and only when the model it measured was trained on (or the bench
measured) the reference config; on a bigger-budget config, into results/<budget>/<part>/; a bench
that ran on CUDA, into results/gpu/bench/, so it never replaces the CPU table.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mlcraft.errors import UserInputError
from mlcraft.runs import is_complete, read_run_info


def _summary(results: Path) -> dict[str, Any]:
    try:
        return json.loads((results / "summary.json").read_text())
    except (OSError, ValueError):
        return {}


def _data_hashes(summary: dict[str, Any]) -> dict[str, str]:
    return {name: str(entry.get("sha256")) for name, entry in (summary.get("data") or {}).items()}


def check_publishable(
    run_dir: Path, published: Path, reference_config: dict[str, Any], allow_dirty: bool
) -> dict[str, Any]:
    """The reasons a run may not become the published reference, as one UserInputError."""
    if not is_complete(run_dir):
        raise UserInputError(f"publish: {run_dir} is not a complete run (no run.json 'complete')")
    info = read_run_info(run_dir)
    if info.get("verb") != "train":
        raise UserInputError(f"publish: {run_dir} is a '{info.get('verb')}' run, not 'train'")
    summary = _summary(run_dir / "results")
    if not summary:
        raise UserInputError(f"publish: {run_dir}/results/summary.json is missing")
    config = summary.get("config")
    if config != reference_config:
        diff = sorted(_diff_keys(config or {}, reference_config))
        raise UserInputError(
            f"publish: {run_dir} did not run the reference config (differs at {', '.join(diff[:5])})"
        )
    old = _data_hashes(_summary(published))
    new = _data_hashes(summary)
    # every data set the run read must be the published one; a bigger-budget config may read
    # fewer of them (repro's gpu.yaml skips the digits checks), never another
    changed = sorted(k for k in new if old and old.get(k) != new[k])
    if changed:
        raise UserInputError(
            f"publish: {run_dir} used other data than the published reference ({', '.join(changed)})"
        )
    if summary.get("git_dirty") and not allow_dirty:
        raise UserInputError(
            f"publish: {run_dir} ran on a tree with uncommitted changes; commit and rerun "
            "(or pass --allow-dirty to publish it anyway, and say so)"
        )
    return summary


def _diff_keys(a: dict[str, Any], b: dict[str, Any], prefix: str = "") -> set[str]:
    keys = set()
    for key in a.keys() | b.keys():
        left, right = a.get(key), b.get(key)
        if isinstance(left, dict) and isinstance(right, dict):
            keys |= _diff_keys(left, right, f"{prefix}{key}.")
        elif left != right:
            keys.add(f"{prefix}{key}")
    return keys


def _copy_tree_synced(source: Path, target: Path) -> None:
    shutil.copytree(source, target)
    for folder, _, files in os.walk(target):
        for name in files:
            with open(Path(folder) / name, "rb") as handle:
                os.fsync(handle.fileno())


def _swap_in(source: Path, target: Path, tag: str, keep: list[Path] = ()) -> None:
    """Copy source beside target (synced to disk), then swap it in with two renames, so a reader
    sees the old folder or the new one, never a mix. Folders in `keep` are carried into the new
    one unless it has its own."""
    incoming = target.with_name(f".{target.name}.incoming-{tag}")
    outgoing = target.with_name(f".{target.name}.outgoing-{tag}")
    for leftover in (incoming, outgoing):
        shutil.rmtree(leftover, ignore_errors=True)
    _copy_tree_synced(source, incoming)
    for child in keep:
        if not (incoming / child.name).exists():
            shutil.copytree(child, incoming / child.name)
    if target.exists():
        os.rename(target, outgoing)
    os.rename(incoming, target)
    shutil.rmtree(outgoing, ignore_errors=True)


def publish(
    run_dir: str | os.PathLike,
    project_dir: str | os.PathLike,
    reference_config: dict[str, Any],
    allow_dirty: bool = False,
) -> Path:
    """Replace project_dir/results with run_dir/results, whole; returns the results folder."""
    run_dir, project_dir = Path(run_dir), Path(project_dir)
    published = project_dir / "results"
    check_publishable(run_dir, published, reference_config, allow_dirty)
    # results/full/, results/serve/ ...: other published parts travel along unchanged.
    keep = [c for c in published.iterdir() if c.is_dir()] if published.is_dir() else []
    _swap_in(run_dir / "results", published, run_dir.name, keep)
    return published


def publish_full(
    run_dir: str | os.PathLike,
    project_dir: str | os.PathLike,
    full_config: dict[str, Any],
    allow_dirty: bool = False,
    budget: str = "full",
) -> Path:
    """A bigger-budget run (configs/<budget>.yaml, one of BUDGETS) into results/<budget>/, whole,
    with the same checks as the reference (complete, its config, the published data, a clean
    tree); the reference results beside it are untouched."""
    if budget not in BUDGETS:
        raise ValueError(f"budget {budget!r} is not one of {BUDGETS}")
    run_dir, project_dir = Path(run_dir), Path(project_dir)
    check_publishable(run_dir, project_dir / "results", full_config, allow_dirty)
    target = project_dir / "results" / budget
    # its published parts (results/<budget>/bench/ ...) travel along unless the run has its own
    kept = (*PARTS.values(), "tests")  # the parts, and the CUDA tests' record (mlcraft.gputests)
    keep = [target / part for part in kept if (target / part).is_dir()]
    _swap_in(run_dir / "results", target, run_dir.name, keep)
    return target


# The bigger-budget configs: configs/<name>.yaml publishes to results/<name>/ (the CPU-hour run
# and the one sized for a GPU).
BUDGETS = ("full", "gpu")

# verb -> the results/ sub-folder it publishes; its meta file is results/<part>/<verb>.json
PARTS = {"loadtest": "serve", "compress": "compress", "bench": "bench"}


def publish_part(
    run_dir: str | os.PathLike,
    project_dir: str | os.PathLike,
    reference_config: dict[str, Any],
    allow_dirty: bool = False,
    normalize: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    budget: str | None = None,
) -> Path:
    """Replace project_dir/results/<part> (results/<budget>/<part> for a bigger-budget config)
    with the run's results/<part>, whole. normalize: the project's config validation, so a model
    trained before a config key with a default existed still counts as trained on the reference
    config."""
    run_dir, project_dir = Path(run_dir), Path(project_dir)
    if not is_complete(run_dir):
        raise UserInputError(f"publish: {run_dir} is not a complete run (no run.json 'complete')")
    verb = read_run_info(run_dir).get("verb")
    if verb not in PARTS:
        raise UserInputError(
            f"publish: {run_dir} is a '{verb}' run; parts come from {sorted(PARTS)}"
        )
    part = PARTS[verb]
    try:
        meta = json.loads((run_dir / "results" / part / f"{verb}.json").read_text())
    except (OSError, ValueError):
        raise UserInputError(f"publish: {run_dir}/results/{part}/{verb}.json is missing") from None
    model_config = meta.get("model_config")
    if normalize is not None and isinstance(model_config, dict):
        # a config the project no longer accepts stays as stored: not the reference config
        with contextlib.suppress(UserInputError):
            model_config = normalize(model_config)
    if model_config != reference_config:
        raise UserInputError(
            f"publish: {run_dir} measured model {meta.get('model_run')}, not a reference-config run"
        )
    if meta.get("git_dirty") and not allow_dirty:
        raise UserInputError(f"publish: {run_dir} ran on a tree with uncommitted changes")
    if verb == "bench" and budget is None and meta.get("device") == "cuda":
        budget = "gpu"  # a GPU's bench of the reference config never replaces the CPU table
    target = project_dir / "results" / (budget or "") / part
    _swap_in(run_dir / "results" / part, target, run_dir.name)
    return target
