"""Shared fixtures: one smoke run per session (the real train entrypoint on tiny data), with
MLflow, Optuna and run folders redirected to a temp dir so tests never touch runs/."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[1]
SMOKE = PROJECT / "configs" / "smoke.yaml"


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory):
    root = tmp_path_factory.mktemp("sandbox")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root / 'mlflow.db'}")
        mp.setenv("OPTUNA_STORAGE", f"sqlite:///{root / 'optuna.db'}")
        mp.chdir(root)  # no uv.lock above it: default runs dir is <root>/runs
        yield root


@pytest.fixture(scope="session")
def smoke_run(sandbox):
    """The smoke config through the CLI; returns (results dir, summary)."""
    from tabular_ladder.__main__ import main

    out = sandbox / "smoke_results"
    assert main(["train", "--config", str(SMOKE), "--set", f"output={out}"]) == 0
    return out, json.loads((out / "summary.json").read_text())
