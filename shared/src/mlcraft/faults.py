"""Fault drills: run a project's real CLI under a fault and record what a user would see.

Each drill runs `python -m <project> ...` in a subprocess with runs/, the MLflow store and the
Optuna storage in a scratch folder, so drills never touch a user's runs. It records the exit code,
the last line on stderr, whether a traceback was printed, what was left outside complete run
folders, and whether the project's published results/, README and docs/ stayed byte-identical. The same
drills are a test module per project and a table (faults.csv) in each reference run.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from mlcraft.runs import is_complete


@dataclass
class Fault:
    """One drill. In argv, "{scratch}" is replaced by the drill's scratch folder."""

    name: str
    argv: list[str]
    expect_exit: int = 2
    setup: Callable[[Path], None] | None = None  # writes the bad input under the scratch folder
    kill_when: str | None = None  # SIGKILL once this glob (under the scratch runs/) matches
    then: list[str] | None = None  # the next command a user would run (after a kill): must exit 0
    message: str | None = None  # a substring the one-line error must contain
    env: dict[str, str] = field(default_factory=dict)
    # "full" (a 64 KiB tmpfs) or "read_only" (a read-only tmpfs) mounted at "{mount}" for the drill;
    # mounting needs root (CI and the reference machine have it): without it the drill is skipped.
    mount: str | None = None


def writes(name: str, content: bytes) -> Callable[[Path], None]:
    """A Fault setup that writes `content` to scratch/name (the bad input of a drill)."""

    def setup(scratch: Path) -> None:
        path = scratch / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)

    return setup


@contextmanager
def mounted(kind: str | None, where: Path) -> Iterator[bool]:
    """Mount a tiny or read-only tmpfs at `where` for one drill; yields False if it cannot."""
    if kind is None:
        yield True
        return
    where.mkdir(parents=True, exist_ok=True)
    options = {"full": "size=64k", "read_only": "ro,size=64k"}[kind]
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)],
                          capture_output=True).returncode == 0  # fmt: skip
    try:
        yield made
    finally:
        if made:
            subprocess.run(["umount", str(where)], capture_output=True)


def _fingerprint(paths: list[Path]) -> str:
    digest = hashlib.sha256()
    for root in paths:
        files = sorted(root.rglob("*")) if root.is_dir() else [root]
        for path in files:
            if path.is_file():
                digest.update(str(path).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def leftovers(runs: Path) -> list[Path]:
    """Files under runs/<project>/ that are not inside a complete run folder."""
    left = []
    if not runs.is_dir():
        return left
    for project in runs.iterdir():
        # cache/ and mlartifacts/ (MLflow's artifact store) are shared stores, not run output
        if not project.is_dir() or project.name in ("cache", "mlartifacts"):
            continue
        for child in project.iterdir():
            if child.is_dir() and is_complete(child):
                continue
            left += [child] if child.is_file() else [p for p in child.rglob("*") if p.is_file()]
            if child.is_dir() and not any(child.iterdir()):
                left.append(child)
    return left


def _running_mlflow_runs(uri: str) -> int:
    if uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).is_file():
        return 0  # no store was ever opened: nothing can be RUNNING (and don't create one)
    try:
        from mlflow.tracking import MlflowClient

        client = MlflowClient(uri)
        ids = [e.experiment_id for e in client.search_experiments()]
        return len(client.search_runs(ids, "attributes.status = 'RUNNING'")) if ids else 0
    except Exception:  # noqa: BLE001 - no store yet: nothing running
        return 0


def _wait_and_kill(proc: subprocess.Popen, runs: Path, pattern: str, timeout: float) -> None:
    deadline = time.time() + timeout
    while proc.poll() is None and time.time() < deadline:
        if list(runs.glob(pattern)):  # the run is under way: kill it now, before it can finish
            os.kill(proc.pid, signal.SIGKILL)
            return
        time.sleep(0.1)


def drill(module: str, project_dir: Path, fault: Fault, scratch: Path, timeout: float = 600):
    """Run one fault; returns its row for faults.csv (plus the full stderr under 'stderr')."""
    scratch.mkdir(parents=True, exist_ok=True)
    with mounted(fault.mount, scratch / "mount") as ok:
        if not ok:
            return {"fault": fault.name, "exit_code": None, "skipped": True,
                    "message": "skipped: mounting a tmpfs needs root", "stderr": ""}  # fmt: skip
        return _drill(module, project_dir, fault, scratch, timeout)


def _drill(module: str, project_dir: Path, fault: Fault, scratch: Path, timeout: float):
    runs = scratch / "runs"
    mlflow_uri = f"sqlite:///{runs / 'mlflow.db'}"
    env = {
        **os.environ,
        "MLCRAFT_RUNS_DIR": str(runs),
        "MLFLOW_TRACKING_URI": mlflow_uri,
        "OPTUNA_STORAGE": f"sqlite:///{runs / 'optuna.db'}",
        **fault.env,
    }
    watched = [project_dir / "results", project_dir / "README.md", project_dir / "docs"]
    before = _fingerprint(watched)
    if fault.setup:
        fault.setup(scratch)

    def command(argv: list[str]) -> list[str]:
        fill = {"{scratch}": str(scratch), "{mount}": str(scratch / "mount")}
        for key, value in fill.items():
            argv = [a.replace(key, value) for a in argv]
        return [sys.executable, "-m", module, *argv]

    proc = subprocess.Popen(
        command(fault.argv), cwd=project_dir, env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    if fault.kill_when:
        _wait_and_kill(proc, runs, fault.kill_when, timeout)
    _, stderr = proc.communicate(timeout=timeout)
    lines = [line for line in stderr.splitlines() if line.strip()]
    message = lines[-1].strip() if lines else ""
    left_by_fault = len(leftovers(runs))
    next_exit = None
    if fault.then:
        follow = subprocess.run(command(fault.then), cwd=project_dir, env=env, text=True,
                                capture_output=True, timeout=timeout)  # fmt: skip
        next_exit = follow.returncode
        stderr += follow.stderr
    return {
        "fault": fault.name,
        "exit_code": proc.returncode,
        "message": "killed (SIGKILL)" if proc.returncode == -signal.SIGKILL else message,
        "traceback": "Traceback" in stderr,
        "left_by_fault": left_by_fault,
        "next_run_exit": next_exit,
        "files_left": len(leftovers(runs)),
        "mlflow_running": _running_mlflow_runs(mlflow_uri),
        "results_unchanged": _fingerprint(watched) == before,
        "skipped": False,
        "stderr": stderr,
    }


def problems(row: dict[str, Any], fault: Fault) -> list[str]:
    """Why a drill's outcome is not what a user should see (empty when it is)."""
    if row.get("skipped"):
        return []
    found = []
    expected = -signal.SIGKILL if fault.kill_when else fault.expect_exit
    if row["exit_code"] != expected:
        found.append(f"exit {row['exit_code']}, expected {expected}")
    if row["traceback"]:
        found.append("printed a traceback")
    if fault.message and fault.message not in row["message"]:
        found.append(f"message {row['message']!r} lacks {fault.message!r}")
    if not fault.kill_when and fault.expect_exit and row["left_by_fault"]:
        found.append(f"left {row['left_by_fault']} file(s) behind")
    if fault.then and row["next_run_exit"] != 0:
        found.append(f"the next run exited {row['next_run_exit']}")
    if row["files_left"]:
        found.append(f"{row['files_left']} file(s) left outside complete runs")
    if row["mlflow_running"]:
        found.append(f"{row['mlflow_running']} MLflow run(s) left RUNNING")
    if not row["results_unchanged"]:
        found.append("published results/, README or docs/ changed")
    return found


def run_drills(module: str, project_dir: Path, faults: list[Fault], scratch: Path) -> pd.DataFrame:
    """Every drill in order, each in its own scratch folder; the faults table."""
    rows = []
    for i, fault in enumerate(faults):
        row = drill(module, project_dir, fault, scratch / f"{i:02d}")
        row.pop("stderr")
        # The table is committed: no temporary paths in it.
        row["message"] = row["message"].replace(str(scratch / f"{i:02d}"), "{scratch}")
        row["ok"] = not problems(row, fault)
        rows.append(row)
        print(f"fault drill {fault.name}: exit {row['exit_code']}, ok={row['ok']}", flush=True)
    return pd.DataFrame(rows)
