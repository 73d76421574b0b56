"""Shared fixtures: runs/, MLflow and Optuna in a scratch folder, and one smoke train run (through
the real CLI) shared by many tests."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[1]
SMOKE = str(PROJECT / "configs" / "smoke.yaml")
os.environ.setdefault("HF_HUB_OFFLINE", "1")  # tests never touch the network
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def tree_digest(*roots: Path) -> dict[str, str]:
    """sha256 of every file under the given folders/files (caches excluded)."""
    out = {}
    for root in roots:
        files = [root] if root.is_file() else sorted(root.rglob("*"))
        for path in files:
            skip = {"__pycache__", ".pytest_cache", ".ruff_cache"} & set(path.parts)
            if path.is_file() and not skip:
                out[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


@pytest.fixture(scope="session", autouse=True)
def scratch_runs(tmp_path_factory) -> Path:
    """Every run the tests make goes under a scratch runs/ (never <repo>/runs)."""
    runs = tmp_path_factory.mktemp("scratch") / "runs"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLCRAFT_RUNS_DIR", str(runs))
        patch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{runs / 'mlflow.db'}")
        patch.setenv("OPTUNA_STORAGE", f"sqlite:///{runs / 'optuna.db'}")
        yield runs


@pytest.fixture(scope="session")
def smoke_run(scratch_runs, tmp_path_factory):
    """The real `train` verb on configs/smoke.yaml into --run-dir; the project tree before/after."""
    from text_classifier.__main__ import main

    before = tree_digest(PROJECT)
    run_dir = tmp_path_factory.mktemp("smoke") / "run"
    assert main(["train", "--config", SMOKE, "--run-dir", str(run_dir)]) == 0
    summary = json.loads((run_dir / "results" / "summary.json").read_text())
    return summary, run_dir, before, tree_digest(PROJECT)
