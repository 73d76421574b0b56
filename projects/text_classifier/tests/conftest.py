"""Shared fixtures: tracking and Optuna stores in tmp, and one smoke run shared by many tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[1]
os.environ.setdefault("HF_HUB_OFFLINE", "1")  # tests never touch the network
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def tmp_store(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("stores")
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{folder / 'mlflow.db'}"
    return folder


@pytest.fixture(scope="session")
def smoke_run(tmp_store, tmp_path_factory):
    """The real train entrypoint on configs/smoke.yaml, writing only under tmp."""
    from text_classifier.config import load
    from text_classifier.train import run

    runs = tmp_path_factory.mktemp("runs")
    cfg = load(PROJECT / "configs" / "smoke.yaml", [f"runs_dir={runs}"])
    summary = run(cfg)
    return summary, Path(summary["run_dir"])
