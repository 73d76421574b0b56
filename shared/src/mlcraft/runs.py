"""Run folders: every train, search and evaluate writes only into its own runs/<project>/<run-id>/.

Lifecycle of one run:
1. pre-flight checks pass (nothing is created before that);
2. a staging folder `<run-id>.partial/` appears, with run.json saying `running` and the pid;
3. the run writes results/ (tables, figures, summary.json), model/ and REPORT.md into it;
4. run.json says `complete` and the folder is renamed to `<run-id>/` (one atomic rename).

A run that fails or gets SIGTERM removes its staging folder. A SIGKILLed run leaves
`<run-id>.partial/` behind with a dead pid: the next run of the project (or `reap_stale`) marks
its MLflow run FAILED and removes the folder, so an incomplete run is never mistaken for a result.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mlcraft.errors import UserInputError
from mlcraft.files import atomic_write_json, default_runs_dir

PARTIAL = ".partial"
# A compress run's model/source.json: {"model_run": the train run its graph was made from}
COMPRESS_SOURCE = "source.json"
RUN_FILE = "run.json"


def process_start_time(pid: int) -> str | None:
    """The kernel's start time of a process (field 22 of /proc/<pid>/stat): pid plus start time
    names one process even after the pid is reused. None when there is no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def process_identity() -> dict[str, Any]:
    pid = os.getpid()
    return {"host": socket.gethostname(), "pid": pid, "pid_start": process_start_time(pid)}


def is_dead(identity: dict[str, Any]) -> bool:
    """True only when the process is known dead: on this host, and gone (or its pid reused).
    A process on another host is never declared dead from here."""
    if identity.get("host") != socket.gethostname() or not identity.get("pid"):
        return False
    start = process_start_time(int(identity["pid"]))
    return start is None or (identity.get("pid_start") not in (None, start))


@dataclass
class Run:
    """One run folder. While the run is going, write under `path` (the staging folder)."""

    project: str
    verb: str
    run_id: str
    final: Path
    staging: Path

    @property
    def path(self) -> Path:
        return self.staging

    @property
    def results(self) -> Path:
        return self.staging / "results"

    @property
    def model(self) -> Path:
        return self.staging / "model"

    @property
    def mlflow_name(self) -> str:
        return f"{self.project}/{self.run_id}"

    def record(self, **fields: Any) -> None:
        """Add fields to run.json (e.g. the MLflow run id, so a reaper can mark it FAILED)."""
        info = read_run_info(self.staging)
        atomic_write_json(self.staging / RUN_FILE, {**info, **fields})


def read_run_info(folder: str | os.PathLike) -> dict[str, Any]:
    try:
        return json.loads((Path(folder) / RUN_FILE).read_text())
    except (OSError, ValueError):
        return {}


def new_run_id(verb: str, config_path: str | os.PathLike | None) -> str:
    stem = Path(config_path).stem if config_path else "run"
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    return f"{verb}-{stem}-{stamp}"


def nearest_existing(path: Path) -> Path:
    for folder in (path, *path.parents):
        if folder.exists():
            return folder
    return Path("/")


def check_writable_dir(path: str | os.PathLike, key: str = "--run-dir") -> None:
    """The folder (or the nearest folder that exists above it) is a writable directory."""
    path = Path(path).absolute()
    existing = nearest_existing(path)
    if not existing.is_dir():
        raise UserInputError(f"{key}={path}: {existing} is a file, not a folder")
    read_only = bool(os.statvfs(existing).f_flag & os.ST_RDONLY)
    if read_only or not os.access(existing, os.W_OK | os.X_OK):
        raise UserInputError(f"{key}={path}: {existing} is not writable")


def check_free_disk(path: str | os.PathLike, need_bytes: int, key: str = "--run-dir") -> None:
    existing = nearest_existing(Path(path).absolute())
    free = shutil.disk_usage(existing).free
    if free < need_bytes:
        raise UserInputError(
            f"{key}={path}: {free / 1e6:.1f} MB free on {existing}, "
            f"the run needs about {need_bytes / 1e6:.1f} MB"
        )


def runs_root(project: str) -> Path:
    return default_runs_dir() / project


def reap_stale(folder: str | os.PathLike) -> list[Path]:
    """Remove staging folders of runs whose process is dead; mark their MLflow runs FAILED."""
    folder = Path(folder)
    reaped = []
    if not folder.is_dir():
        return reaped
    for staging in sorted(folder.glob(f"*{PARTIAL}")):
        info = read_run_info(staging)
        if not is_dead(info):
            continue
        if info.get("mlflow_run_id"):
            from mlcraft.tracking import mark_failed

            mark_failed(info["mlflow_run_id"], info.get("tracking_uri"))
        shutil.rmtree(staging, ignore_errors=True)
        reaped.append(staging)
    return reaped


@contextmanager
def open_run(
    project: str,
    verb: str,
    config_path: str | os.PathLike | None = None,
    run_dir: str | os.PathLike | None = None,
    expected_bytes: int = 0,
) -> Iterator[Run]:
    """Create the staging folder, yield the Run, and on success mark it complete and rename it.

    run_dir: the folder to create (must not exist yet); default runs/<project>/<run-id>.
    expected_bytes: what the run will write, checked against free disk before anything is made.
    """
    run_id = new_run_id(verb, config_path)
    final = Path(run_dir).absolute() if run_dir else runs_root(project) / run_id
    if run_dir:
        run_id = final.name
    staging = final.with_name(final.name + PARTIAL)
    if final.exists() or staging.exists():
        raise UserInputError(f"--run-dir={final}: already exists (a run never overwrites another)")
    check_writable_dir(final.parent)
    check_free_disk(final.parent, expected_bytes)
    reap_stale(final.parent)
    staging.mkdir(parents=True)
    run = Run(project, verb, run_id, final, staging)
    try:
        atomic_write_json(
            staging / RUN_FILE,
            {
                "project": project,
                "verb": verb,
                "run_id": run_id,
                "config": str(config_path) if config_path else None,
                "status": "running",
                "started_utc": datetime.now(UTC).isoformat(timespec="seconds"),
                **process_identity(),
            },
        )
        yield run
        info = read_run_info(staging)
        info.update(status="complete", finished_utc=datetime.now(UTC).isoformat(timespec="seconds"))
        atomic_write_json(staging / RUN_FILE, info)
        os.rename(staging, final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def is_complete(folder: str | os.PathLike) -> bool:
    folder = Path(folder)
    return not folder.name.endswith(PARTIAL) and read_run_info(folder).get("status") == "complete"


def complete_run(
    path: str | os.PathLike, key: str = "--model", needs: tuple[str, ...] = ()
) -> Path:
    """A complete run folder holding every file in `needs` (relative paths), for evaluate and
    predict; otherwise one UserInputError naming the key and what is wrong."""
    folder = Path(path)
    if not folder.exists():
        raise UserInputError(f"{key}={folder}: no such run folder")
    if not folder.is_dir():
        raise UserInputError(f"{key}={folder}: is a file, not a run folder")
    if not is_complete(folder):
        raise UserInputError(
            f"{key}={folder}: not a complete run folder (no run.json saying 'complete'; "
            "a killed or running run has no usable model)"
        )
    missing = [name for name in needs if not (folder / name).is_file()]
    if missing:
        verb = read_run_info(folder).get("verb")
        raise UserInputError(f"{key}={folder}: a '{verb}' run without {', '.join(missing)}")
    return folder


def train_run(model: str | os.PathLike, key: str = "--model") -> Path:
    """The train run behind --model: the complete run folder itself or, for a compress run, the
    train run it was made from (its model/source.json), whose config and data split it shares."""
    run = complete_run(model, key)
    if read_run_info(run).get("verb") != "compress":
        return run
    source = run / "model" / COMPRESS_SOURCE
    try:
        named = json.loads(source.read_text())["model_run"]
    except (OSError, ValueError, KeyError, TypeError):
        raise UserInputError(f"{key}={run}: a compress run without a readable "
                             f"model/{COMPRESS_SOURCE}") from None  # fmt: skip
    return complete_run(named, f"{source}: model_run")


def latest_complete(project: str, verb: str = "train") -> Path | None:
    """The newest complete run of this verb under runs/<project>/ (by start time)."""
    candidates = []
    root = runs_root(project)
    if root.is_dir():
        for folder in root.iterdir():
            info = read_run_info(folder)
            if is_complete(folder) and info.get("verb") == verb:
                candidates.append((info.get("started_utc", ""), folder.name, folder))
    return max(candidates)[2] if candidates else None


def trained_config(run_dir: str | os.PathLike, model: Any, key: str = "--model") -> Any:
    """The config a run trained with (its results/summary.json), validated by the project's
    config model: what gating, loadtest rows and monitoring reload the run's data from."""
    summary = Path(run_dir) / "results" / "summary.json"
    if not summary.is_file():
        raise UserInputError(f"{key}={run_dir}: a run without results/summary.json")
    return model.model_validate(json.loads(summary.read_text())["config"])
