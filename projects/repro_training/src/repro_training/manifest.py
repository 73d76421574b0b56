"""`verify`: rerun a run from its manifest and say whether the weights come out bitwise equal.

It also lists what differs between the recorded environment and this one (git sha, uv.lock, data,
CPU, thread count), because those are the usual reasons a rerun does not match.
"""

from __future__ import annotations

import json
from pathlib import Path

from mlcraft.errors import UserInputError
from mlcraft.files import atomic_write_json
from mlcraft.tracking import environment_fingerprint

from repro_training import data as data_mod
from repro_training.config import Config


def read_manifest(run_dir: str | Path, key: str = "RUN") -> dict:
    """The manifest of a single run folder, or of a train run's model/ (its first seed)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise UserInputError(f"{key}={run_dir}: no such run folder")
    folder = run_dir / "model" if (run_dir / "run.json").is_file() else run_dir
    path = folder / "manifest.json"
    if not path.is_file():
        raise UserInputError(f"{key}={run_dir}: no manifest.json (not a run folder)")
    try:
        manifest = json.loads(path.read_text())
    except ValueError as exc:
        raise UserInputError(f"{key}={run_dir}: manifest.json is not JSON ({exc})") from None
    if manifest.get("status") != "finished" or not manifest.get("weights_sha256"):
        raise UserInputError(
            f"{key}={run_dir}: the run did not finish (status {manifest.get('status')!r})"
        )
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


def verify(run_dir: str | Path, out_dir: str | Path | None = None) -> dict:
    """Rerun the run's recipe into a new verify run folder (mlcraft.runs); the report is also
    written there as results/verify.json."""
    from mlcraft.runs import open_run

    from repro_training.preflight import RUN_BYTES
    from repro_training.train import PROJECT, fit

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
    with open_run(PROJECT, "verify", None, out_dir, RUN_BYTES) as run:
        result = fit(cfg, manifest["seed"], run.path / "rerun")
        report = {
            "run_dir": str(run_dir),
            "rerun_dir": str(run.final / "rerun"),
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
        atomic_write_json(run.results / "verify.json", report)
    return report
