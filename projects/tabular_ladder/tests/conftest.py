"""Shared fixtures: one smoke run per session (the real train entrypoint on tiny data), with run
folders, MLflow and Optuna redirected to a temp dir so tests never touch runs/ or results/."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[1]
SMOKE = PROJECT / "configs" / "smoke.yaml"


def fingerprint(*paths: Path) -> str:
    """sha256 over every file (name and bytes) under the given files and folders."""
    digest = hashlib.sha256()
    for root in paths:
        for path in sorted(root.rglob("*")) if root.is_dir() else [root]:
            if path.is_file():
                digest.update(str(path).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory):
    root = tmp_path_factory.mktemp("sandbox")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLCRAFT_RUNS_DIR", str(root / "runs"))
        mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root / 'runs' / 'mlflow.db'}")
        mp.setenv("OPTUNA_STORAGE", f"sqlite:///{root / 'runs' / 'optuna.db'}")
        mp.chdir(root)
        yield root


@pytest.fixture(scope="session")
def smoke_run(sandbox):
    """The smoke config through the CLI into the default run folder; returns
    (run folder, summary, published fingerprint before, published fingerprint after)."""
    from tabular_ladder.__main__ import main

    published = (PROJECT / "results", PROJECT / "README.md", PROJECT / "docs")
    runs = sandbox / "runs" / "tabular_ladder"
    existing = set(runs.iterdir()) if runs.is_dir() else set()
    before = fingerprint(*published)
    assert main(["train", "--config", str(SMOKE)]) == 0
    after = fingerprint(*published)
    (run,) = set(runs.iterdir()) - existing
    return run, json.loads((run / "results" / "summary.json").read_text()), before, after


@pytest.fixture(scope="session")
def smoke_results(smoke_run):
    return smoke_run[0] / "results"
