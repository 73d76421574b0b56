from __future__ import annotations

import pytest
from repro_training.config import Config

# A model small enough that the SIGKILL, DDP and "forgot one state" tests stay within seconds.
TINY = {
    "seeds": [0],
    "data": {"name": "digits", "max_train": 1024},
    "model": {"widths": [8, 16], "stem_stride": 1},
    "train": {"epochs": 2, "batch_size": 32, "base_lr": 0.2, "base_batch_size": 32,
              "checkpoint_every_steps": 5, "grad_scaler": True, "threads": 1},
    "checks": {"numpy_mlp": False, "digits_cnn": False, "determinism": False, "threads": False,
               "resume": False, "ddp": False, "hardware": False, "profile": False},
    "tracking": False,
}  # fmt: skip


def tiny_config(**train_overrides) -> Config:
    raw = {**TINY, "train": {**TINY["train"], **train_overrides}}
    return Config.model_validate(raw)


@pytest.fixture(autouse=True, scope="session")
def _isolated_mlflow(tmp_path_factory):
    # Tests never touch the repo's runs/mlflow.db (session scope: module fixtures log too).
    db = tmp_path_factory.getbasetemp() / "mlflow.db"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{db}")
        yield


@pytest.fixture
def scratch_runs(tmp_path, monkeypatch):
    """Run folders in a scratch folder (MLCRAFT_RUNS_DIR): tests never touch the repo's runs/."""
    monkeypatch.setenv("MLCRAFT_RUNS_DIR", str(tmp_path / "runs"))
    return tmp_path / "runs"


@pytest.fixture(scope="session")
def reference_run(tmp_path_factory):
    """One uninterrupted tiny run, shared by the determinism and resume tests."""
    from repro_training.train import fit

    return fit(tiny_config(), 0, tmp_path_factory.mktemp("reference") / "run")


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "gpu: needs a CUDA GPU; run with `nox -s tests-gpu` (skipped, and said so, without)",
    )
