"""Shared fixtures: tests never touch runs/ or results/ (MLflow and Optuna go to tmp paths)."""

from __future__ import annotations

from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _isolated_tracking(tmp_path_factory, monkeypatch):
    store = tmp_path_factory.getbasetemp() / "mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{store}")
    monkeypatch.setenv(
        "OPTUNA_STORAGE", f"sqlite:///{tmp_path_factory.getbasetemp() / 'optuna.db'}"
    )


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory):
    """One smoke-config training run end to end (generated images), shared by several tests."""
    import os

    from vision_transfer.config import load
    from vision_transfer.pipeline import run_train

    base = tmp_path_factory.mktemp("smoke")
    old = os.environ.get("MLFLOW_TRACKING_URI")
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{base / 'mlflow.db'}"
    try:
        cfg = load(
            PROJECT / "configs" / "smoke.yaml",
            [f"output.results_dir={base / 'results'}", f"output.runs_dir={base / 'models'}"],
        )
        summary = run_train(cfg)
    finally:
        if old is None:
            os.environ.pop("MLFLOW_TRACKING_URI", None)
        else:
            os.environ["MLFLOW_TRACKING_URI"] = old
    return {"summary": summary, "results": base / "results", "cfg": cfg}
