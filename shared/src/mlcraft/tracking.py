"""Run tracking: an MLflow run plus an environment fingerprint, and an atomic summary.json.

    with TrackedRun("tabular_ladder", config=cfg_dict, seed=0, run_folder=run) as run:
        run.add_data_file("adult", path, rows=48842)
        run.log_metrics({"cv_auc": 0.92})
        run.write_summary({"test_auc": 0.93})

The tracking store defaults to `sqlite:///<repo>/runs/mlflow.db`; MLFLOW_TRACKING_URI overrides it.
Each MLflow run carries the pid and host of its process; opening the store marks the RUNNING runs
of dead processes on this host FAILED, so a SIGKILLed run does not stay RUNNING forever.
"""

from __future__ import annotations

import importlib.metadata as md
import importlib.util
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mlcraft.config import flatten
from mlcraft.files import atomic_write_json, default_runs_dir, repo_root, sha256_file
from mlcraft.runs import Run, is_dead, process_identity

TRACKED_PACKAGES = (
    "numpy", "pandas", "scikit-learn", "scipy", "lightgbm", "optuna", "mlflow", "torch",
    "lightning", "timm", "transformers", "tokenizers",
)  # fmt: skip


def default_tracking_uri() -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{default_runs_dir() / 'mlflow.db'}"


def _git(*args: str, cwd: Path) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _gpu_info() -> dict[str, Any] | None:
    """GPU model, driver and CUDA version when torch sees a GPU; None otherwise (or without torch)."""
    if importlib.util.find_spec("torch") is None:
        return None
    import torch

    if not torch.cuda.is_available():
        return None
    driver = None
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
            capture_output=True, text=True, timeout=10,
        )  # fmt: skip
        driver = out.stdout.strip().splitlines()[0] if out.returncode == 0 else None
    except (OSError, subprocess.TimeoutExpired, IndexError):
        pass
    return {
        "model": torch.cuda.get_device_name(0),
        "count": torch.cuda.device_count(),
        "driver": driver,
        "cuda": torch.version.cuda,
    }


def package_versions(names: tuple[str, ...] = TRACKED_PACKAGES) -> dict[str, str]:
    versions = {}
    for name in names:
        try:
            versions[name] = md.version(name)
        except md.PackageNotFoundError:
            continue
    return versions


def environment_fingerprint(data_files: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """Everything needed to say which code, lock, data and hardware produced a result."""
    root = repo_root()
    sha = _git("rev-parse", "HEAD", cwd=root)
    status = _git("status", "--porcelain", "--untracked-files=no", cwd=root)
    lock = root / "uv.lock"
    return {
        "git_sha": sha,
        "git_dirty": None if status is None else bool(status),
        "uv_lock_sha256": sha256_file(lock) if lock.is_file() else None,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": package_versions(),
        "hardware": {"cpu_model": _cpu_model(), "cpu_count": os.cpu_count(), "gpu": _gpu_info()},
        "data": data_files or {},
    }


def mark_failed(run_id: str, tracking_uri: str | None = None) -> None:
    """Mark one MLflow run FAILED if it is still RUNNING (a run whose process was killed)."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri or default_tracking_uri())
    try:
        if client.get_run(run_id).info.status == "RUNNING":
            client.set_terminated(run_id, status="FAILED")
    except Exception:  # noqa: BLE001 - a store without that run: nothing to mark
        return


def reap_dead_runs(experiment_id: str, tracking_uri: str) -> list[str]:
    """RUNNING runs of this experiment whose process is dead on this host become FAILED."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri)
    reaped = []
    for run in client.search_runs([experiment_id], "attributes.status = 'RUNNING'"):
        tags = run.data.tags
        identity = {
            "host": tags.get("mlcraft.host"),
            "pid": int(tags.get("mlcraft.pid", 0) or 0),
            "pid_start": tags.get("mlcraft.pid_start"),
        }
        if is_dead(identity):
            client.set_terminated(run.info.run_id, status="FAILED")
            reaped.append(run.info.run_id)
    return reaped


def default_run_name(project: str) -> str:
    # Not from the (seeded) random module: every seed-0 run would get the same name.
    return f"{project}/{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}"


class TrackedRun:
    """An MLflow run that also writes summary.json with the fingerprint and headline metrics."""

    def __init__(
        self,
        project: str,
        config: dict[str, Any],
        seed: int,
        results_dir: str | os.PathLike | None = None,
        run_name: str | None = None,
        tracking_uri: str | None = None,
        run_folder: Run | None = None,
    ):
        self.project = project
        self.config = config
        self.seed = seed
        self.run_folder = run_folder
        if run_folder is not None:
            results_dir = results_dir or run_folder.results
            run_name = run_name or run_folder.mlflow_name
        self.results_dir = Path(results_dir) if results_dir else None
        self.run_name = run_name or default_run_name(project)
        self.tracking_uri = tracking_uri or default_tracking_uri()
        self.data_files: dict[str, dict[str, Any]] = {}
        self.run_id: str | None = None

    def __enter__(self) -> TrackedRun:
        import mlflow

        if self.tracking_uri.startswith("sqlite:///"):
            Path(self.tracking_uri.removeprefix("sqlite:///")).parent.mkdir(
                parents=True, exist_ok=True
            )
        mlflow.set_tracking_uri(self.tracking_uri)
        experiment = mlflow.get_experiment_by_name(self.project)
        if experiment is None:
            # Keep artifacts beside the store, not in ./mlruns of whatever folder we run from.
            artifacts = default_runs_dir() / "mlartifacts"
            if self.tracking_uri.startswith("sqlite:///"):
                artifacts = (
                    Path(self.tracking_uri.removeprefix("sqlite:///")).parent / "mlartifacts"
                )
            experiment_id = mlflow.create_experiment(
                self.project, artifact_location=artifacts.as_uri()
            )
        else:
            experiment_id = experiment.experiment_id
        reap_dead_runs(experiment_id, self.tracking_uri)
        self._started = time.time()
        self._untimed = 0.0
        # Code, lock and hardware as of the start: a commit landing mid-run must not be credited.
        self._fingerprint = environment_fingerprint()
        self.started_utc = datetime.now(UTC).isoformat(timespec="seconds")
        run = mlflow.start_run(experiment_id=experiment_id, run_name=self.run_name)
        self.run_id = run.info.run_id
        identity = process_identity()
        mlflow.set_tags({f"mlcraft.{key}": str(value) for key, value in identity.items()})
        if self.run_folder is not None:
            self.run_folder.record(mlflow_run_id=self.run_id, tracking_uri=self.tracking_uri)
        params = {k: str(v)[:6000] for k, v in flatten(self.config).items()}
        params["seed"] = str(self.seed)
        for start in range(0, len(params), 100):  # MLflow caps a batch at 100 params
            mlflow.log_params(dict(list(params.items())[start : start + 100]))
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        import mlflow

        try:
            self._log_fingerprint()
        except Exception:
            if exc_type is None:
                raise  # a failing store is a real error; after a failure, keep the first one
        finally:
            mlflow.end_run(status="FAILED" if exc_type else "FINISHED")

    def add_data_file(self, name: str, path: str | os.PathLike, rows: int | None = None) -> str:
        digest = sha256_file(path)
        self.data_files[name] = {"path": str(path), "sha256": digest, "rows": rows}
        return digest

    @contextmanager
    def untimed(self) -> Iterator[None]:
        """Work that is not part of the run's wall time (the fault drills after a reference run)."""
        started = time.time()
        try:
            yield
        finally:
            self._untimed += time.time() - started

    def log_metrics(self, metrics: dict[str, Any], step: int | None = None) -> None:
        import mlflow

        numeric = {k: float(v) for k, v in metrics.items() if _is_number(v)}
        if numeric:
            mlflow.log_metrics(numeric, step=step)

    def log_artifact(self, path: str | os.PathLike, artifact_path: str | None = None) -> None:
        import mlflow

        mlflow.log_artifact(str(path), artifact_path=artifact_path)

    def fingerprint(self) -> dict[str, Any]:
        return {**self._fingerprint, "data": dict(self.data_files)}

    def _log_fingerprint(self) -> dict[str, Any]:
        import mlflow

        fingerprint = self.fingerprint()
        tags = {
            "git_sha": str(fingerprint["git_sha"]),
            "git_dirty": str(fingerprint["git_dirty"]),
            "uv_lock_sha256": str(fingerprint["uv_lock_sha256"]),
            "python": fingerprint["python"],
            "cpu_model": fingerprint["hardware"]["cpu_model"],
            "cpu_count": str(fingerprint["hardware"]["cpu_count"]),
            "gpu": json.dumps(fingerprint["hardware"]["gpu"]),
        }
        mlflow.set_tags(tags)
        mlflow.log_dict(fingerprint, "fingerprint.json")
        return fingerprint

    def summary(
        self, headline: dict[str, Any], extra: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        fingerprint = self.fingerprint()
        # One wall time per run, measured here; a project's own clock would disagree with it.
        wall = round(time.time() - self._started - self._untimed, 1)
        return {
            "project": self.project,
            "config": self.config,
            "seed": self.seed,
            "git_sha": fingerprint["git_sha"],
            "git_dirty": fingerprint["git_dirty"],
            "uv_lock_sha256": fingerprint["uv_lock_sha256"],
            "data": fingerprint["data"],
            "hardware": fingerprint["hardware"],
            "python": fingerprint["python"],
            "packages": fingerprint["packages"],
            "started_utc": self.started_utc,
            "wall_seconds": wall,
            "mlflow_run_id": self.run_id,
            "headline": {**headline, "wall_seconds": wall},
            **(extra or {}),
        }

    def write_summary(
        self, headline: dict[str, Any], extra: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Write results_dir/summary.json atomically and log it (and the headline) to MLflow."""
        import mlflow

        summary = self.summary(headline, extra)
        self.log_metrics(summary["headline"])
        mlflow.log_dict(summary, "summary.json")
        if self.results_dir is not None:
            atomic_write_json(self.results_dir / "summary.json", summary)
        return summary


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
