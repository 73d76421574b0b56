"""Shared fixtures: tests never touch runs/ or results/ (run folders, MLflow and Optuna go to tmp).

The ELPV pixel cache (runs/cache) is the one shared thing: tests that read ELPV reuse it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[1]
SMOKE = str(PROJECT / "configs" / "smoke.yaml")


def snapshot(*paths: Path) -> dict[str, bytes]:
    """Every file under the paths, by path: compared before and after to prove nothing changed."""
    files = {}
    for root in paths:
        for path in [root] if root.is_file() else sorted(root.rglob("*")):
            if path.is_file():
                files[str(path)] = path.read_bytes()
    return files


def scratch_env(mp: pytest.MonkeyPatch, base: Path) -> Path:
    runs = base / "runs"
    mp.setenv("MLCRAFT_RUNS_DIR", str(runs))
    mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{runs / 'mlflow.db'}")
    mp.setenv("OPTUNA_STORAGE", f"sqlite:///{runs / 'optuna.db'}")
    return runs


@pytest.fixture(autouse=True)
def _isolated_tracking(tmp_path_factory, monkeypatch):
    base = tmp_path_factory.getbasetemp()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{base / 'mlflow.db'}")
    monkeypatch.setenv("OPTUNA_STORAGE", f"sqlite:///{base / 'optuna.db'}")


@pytest.fixture
def scratch_runs(tmp_path, monkeypatch) -> Path:
    """runs/ (MLCRAFT_RUNS_DIR), the MLflow store and Optuna storage under tmp_path."""
    return scratch_env(monkeypatch, tmp_path)


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory):
    """One smoke train through the real CLI entry (generated images), shared by several tests,
    with the published results/, README and docs/ snapshotted before and after."""
    from vision_transfer.__main__ import main

    base = tmp_path_factory.mktemp("smoke")
    watched = (PROJECT / "results", PROJECT / "README.md", PROJECT / "docs")
    before = snapshot(*watched)
    with pytest.MonkeyPatch.context() as mp:
        runs = scratch_env(mp, base)
        mp.chdir(base)  # nothing may land in the working directory either
        assert main(["train", "--config", SMOKE]) == 0
    (run,) = (runs / "vision_transfer").iterdir()
    return {
        "run": run,
        "runs": runs,
        "base": base,
        "results": run / "results",
        "summary": json.loads((run / "results" / "summary.json").read_text()),
        "published_before": before,
        "published_after": snapshot(*watched),
        "cwd_files": sorted(os.listdir(base)),
    }
