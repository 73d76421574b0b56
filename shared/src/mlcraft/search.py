"""An Optuna study factory: storage from a URL, resume by default, sampler and pruner from config.

Storage URLs: `sqlite:///<repo>/runs/optuna.db` (default, OPTUNA_STORAGE overrides; one machine, a few workers),
`journal:runs/optuna.journal` (many worker processes on one machine: file locks, no SQLite
writer contention), or `postgresql://...` (many machines).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import optuna

from mlcraft.files import default_runs_dir


def default_storage_url() -> str:
    return os.environ.get("OPTUNA_STORAGE") or f"sqlite:///{default_runs_dir() / 'optuna.db'}"


def make_storage(url: str | None = None):
    url = url or default_storage_url()
    if url.startswith("journal:"):
        from optuna.storages import JournalStorage
        from optuna.storages.journal import JournalFileBackend

        path = Path(url.removeprefix("journal:"))
        path.parent.mkdir(parents=True, exist_ok=True)
        return JournalStorage(JournalFileBackend(str(path)))
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        # A generous timeout lets several local workers wait for SQLite's writer lock.
        return _rdb_storage(url, engine_kwargs={"connect_args": {"timeout": 60}})
    return _rdb_storage(url)


def _rdb_storage(url: str, attempts: int = 5, **kwargs):
    """RDBStorage, retrying when another worker is creating the same fresh schema right now."""
    from sqlalchemy.exc import IntegrityError, OperationalError

    for attempt in range(attempts):
        try:
            return optuna.storages.RDBStorage(url, **kwargs)
        except (IntegrityError, OperationalError):
            if attempt == attempts - 1:
                raise
            time.sleep(0.5 * (attempt + 1))


def make_sampler(spec: dict[str, Any] | None = None, seed: int | None = None):
    spec = dict(spec or {"name": "tpe"})
    name = spec.pop("name", "tpe").lower()
    spec.setdefault("seed", seed)
    samplers = {
        "tpe": optuna.samplers.TPESampler,
        "random": optuna.samplers.RandomSampler,
        "cmaes": optuna.samplers.CmaEsSampler,
        "qmc": optuna.samplers.QMCSampler,
    }
    if name not in samplers:
        raise ValueError(f"unknown sampler {name!r}; choose from {sorted(samplers)}")
    return samplers[name](**spec)


def make_pruner(spec: dict[str, Any] | None = None):
    spec = dict(spec or {"name": "median"})
    name = spec.pop("name", "median").lower()
    pruners = {
        "median": optuna.pruners.MedianPruner,
        "hyperband": optuna.pruners.HyperbandPruner,
        "successive_halving": optuna.pruners.SuccessiveHalvingPruner,
        "none": optuna.pruners.NopPruner,
    }
    if name not in pruners:
        raise ValueError(f"unknown pruner {name!r}; choose from {sorted(pruners)}")
    return pruners[name](**spec)


def create_study(
    name: str,
    storage: str | None = None,
    direction: str = "maximize",
    sampler: dict[str, Any] | None = None,
    pruner: dict[str, Any] | None = None,
    seed: int | None = None,
) -> optuna.Study:
    """Create or reopen (load_if_exists) a study, so a killed search resumes and workers share it."""
    return optuna.create_study(
        study_name=name,
        storage=make_storage(storage),
        direction=direction,
        sampler=make_sampler(sampler, seed),
        pruner=make_pruner(pruner),
        load_if_exists=True,
    )


def finished_trials(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    states = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    return study.get_trials(deepcopy=False, states=states)
