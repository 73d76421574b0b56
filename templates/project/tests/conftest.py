import pytest


@pytest.fixture
def scratch_runs(tmp_path, monkeypatch):
    """Runs, the MLflow store and Optuna storage in a scratch folder: tests never touch runs/."""
    monkeypatch.setenv("MLCRAFT_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/runs/mlflow.db")
    return tmp_path / "runs"
