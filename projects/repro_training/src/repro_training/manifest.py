"""`verify`: rerun a run from its manifest and say whether the weights come out bitwise equal.

It also lists what differs between the recorded environment and this one (git sha, uv.lock, data,
CPU, thread count), because those are the usual reasons a rerun does not match.
"""

from __future__ import annotations

import json
from pathlib import Path

from mlcraft.errors import UserInputError
from mlcraft.files import new_run_dir
from mlcraft.tracking import environment_fingerprint

from repro_training import data as data_mod
from repro_training.config import Config


def read_manifest(run_dir: str | Path) -> dict:
    path = Path(run_dir) / "manifest.json"
    if not path.is_file():
        raise UserInputError(f"no manifest.json in {run_dir}")
    manifest = json.loads(path.read_text())
    if manifest.get("status") != "finished" or not manifest.get("weights_sha256"):
        raise UserInputError(f"run {run_dir} did not finish (status {manifest.get('status')!r})")
    return manifest


def environment_diff(recorded: dict, current: dict) -> dict:
    keys = {
        "git_sha": lambda e: e["git_sha"],
        "git_dirty": lambda e: e["git_dirty"],
        "uv_lock_sha256": lambda e: e["uv_lock_sha256"],
        "torch": lambda e: e["packages"].get("torch"),
        "cpu_model": lambda e: e["hardware"]["cpu_model"],
        "data": lambda e: {k: v["sha256"] for k, v in e["data"].items()},
    }
    diff = {}
    for name, get in keys.items():
        a, b = get(recorded), get(current)
        if a != b:
            diff[name] = {"recorded": a, "now": b}
    return diff


def verify(run_dir: str | Path) -> dict:
    from repro_training.train import fit, runs_root

    run_dir = Path(run_dir)
    manifest = read_manifest(run_dir)
    cfg = Config.model_validate(manifest["config"])
    # The thread count is part of the recipe on CPU (it changes reduction order): pin it.
    cfg.train.threads = manifest["threads"]
    cfg.tracking = False
    split = data_mod.load(cfg.data)
    if split.digest != manifest["data_digest"]:
        data_note = "data differs from the recorded run: a mismatch is expected"
    else:
        data_note = "data identical"
    rerun_dir = new_run_dir(runs_root(cfg), f"verify-{run_dir.name}")
    result = fit(cfg, manifest["seed"], rerun_dir)
    return {
        "run_dir": str(run_dir),
        "rerun_dir": str(rerun_dir),
        "recorded_weights_sha256": manifest["weights_sha256"],
        "rerun_weights_sha256": result.weights_sha256,
        "weights_match": result.weights_sha256 == manifest["weights_sha256"],
        "recorded_test_accuracy": manifest["test_accuracy"],
        "rerun_test_accuracy": result.test_accuracy,
        "data": data_note,
        "environment_diff": environment_diff(
            manifest["environment"], environment_fingerprint(split.files)
        ),
    }
