"""An Optuna study factory and a budgeted loop that is safe to restart and to share.

Storage URLs: `sqlite:///<repo>/runs/optuna.db` (default, OPTUNA_STORAGE overrides; one machine, a few workers),
`journal:runs/optuna.journal` (many worker processes on one machine: file locks, no SQLite
writer contention), or `postgresql://...` (many machines).

What makes a search safe to kill, restart and run from several workers at once:
- the sampler is reseeded for every trial from (seed, trial number): trial numbers are unique
  across workers and restarts, so no two processes replay the same seeded sequence, and a serial
  search still gives the same trials for the same seed;
- every trial records its worker (host, pid); a RUNNING trial whose worker is dead on this host
  is failed and its parameters re-enqueued (on RDB storage the heartbeat does the same across
  machines; the journal backend has no heartbeat, so there only same-host workers are covered);
- `run_study` counts finished trials of all workers and stops at the budget: a trial that would
  exceed it is failed before it samples anything (user attr `over_budget`).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from mlcraft.files import default_runs_dir
from mlcraft.runs import is_dead, process_identity

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
HEARTBEAT_S, GRACE_S = 60, 180
ORPHAN_S = 10  # a RUNNING trial that never recorded its worker this long after starting


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
        return _rdb_storage(url, engine_kwargs={"connect_args": {"timeout": 60}}, **_heartbeat())
    return _rdb_storage(url, **_heartbeat())


def _heartbeat() -> dict[str, Any]:
    """RDB heartbeat: a trial silent for GRACE_S is failed and re-enqueued (workers on any host)."""
    import warnings

    from optuna.exceptions import ExperimentalWarning
    from optuna.storages import RetryHeartbeatStaleTrialCallback

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExperimentalWarning)
        retry = RetryHeartbeatStaleTrialCallback(max_retry=2)
    return {
        "heartbeat_interval": HEARTBEAT_S,
        "grace_period": GRACE_S,
        "heartbeat_stale_trial_callback": retry,
    }


def _rdb_storage(url: str, attempts: int = 5, **kwargs):
    """RDBStorage, retrying when another worker is creating the same fresh schema right now."""
    import warnings

    from optuna.exceptions import ExperimentalWarning
    from sqlalchemy.exc import IntegrityError, OperationalError

    for attempt in range(attempts):
        try:
            with warnings.catch_warnings():  # the heartbeat API is stable in practice since v2.8
                warnings.simplefilter("ignore", ExperimentalWarning)
                return optuna.storages.RDBStorage(url, **kwargs)
        except (IntegrityError, OperationalError):
            if attempt == attempts - 1:
                raise
            time.sleep(0.5 * (attempt + 1))


SAMPLERS = {
    "tpe": optuna.samplers.TPESampler,
    "random": optuna.samplers.RandomSampler,
    "cmaes": optuna.samplers.CmaEsSampler,
    "qmc": optuna.samplers.QMCSampler,
}


def make_sampler(spec: dict[str, Any] | None = None, seed: int | None = None):
    """A sampler from config. With a seed, one reseeded per trial (TrialSeededSampler)."""
    spec = dict(spec or {"name": "tpe"})
    name = spec.pop("name", "tpe").lower()
    if name not in SAMPLERS:
        raise ValueError(f"unknown sampler {name!r}; choose from {sorted(SAMPLERS)}")
    if name == "tpe":
        spec.setdefault("constant_liar", True)  # workers avoid the points others are evaluating
    seed = spec.pop("seed", seed)
    if seed is None or name in ("cmaes", "qmc"):  # these keep state across trials: seed once
        return SAMPLERS[name](seed=seed, **spec)
    return TrialSeededSampler(lambda trial_seed: SAMPLERS[name](seed=trial_seed, **spec), seed)


def trial_seed(seed: int, number: int) -> int:
    return (seed * 1_000_003 + number * 7_919 + 1) % (2**32)


class TrialSeededSampler(optuna.samplers.BaseSampler):
    """A stateless sampler (TPE, random) rebuilt for each trial with a seed derived from the
    study seed and the trial number. Restarted or parallel workers never replay one sequence."""

    def __init__(self, factory, seed: int):
        self._factory, self._seed = factory, seed
        self._number: int | None = None
        self._inner = factory(seed)

    def _inner_for(self, trial) -> optuna.samplers.BaseSampler:
        if trial.number != self._number:
            self._number = trial.number
            self._inner = self._factory(trial_seed(self._seed, trial.number))
        return self._inner

    def infer_relative_search_space(self, study, trial):
        return self._inner_for(trial).infer_relative_search_space(study, trial)

    def sample_relative(self, study, trial, search_space):
        return self._inner_for(trial).sample_relative(study, trial, search_space)

    def sample_independent(self, study, trial, param_name, param_distribution):
        inner = self._inner_for(trial)
        return inner.sample_independent(study, trial, param_name, param_distribution)

    def before_trial(self, study, trial) -> None:
        self._inner_for(trial).before_trial(study, trial)

    def after_trial(self, study, trial, state, values) -> None:
        self._inner_for(trial).after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:  # seeds come from trial numbers; nothing to reseed
        return None


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
    return study.get_trials(deepcopy=False, states=FINISHED)


@contextmanager
def _reap_lock(study: optuna.Study) -> Iterator[None]:
    """Reaping by pid is a same-host affair, so a host-wide file lock serialises the reapers:
    two workers must not both fail one dead trial and enqueue two retries of it (SQLite does not
    lock the row between reading RUNNING and writing FAIL)."""
    import fcntl
    import hashlib
    import tempfile

    digest = hashlib.sha1(study.study_name.encode()).hexdigest()[:16]
    path = Path(tempfile.gettempdir()) / f"mlcraft-optuna-reap-{digest}.lock"
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def reap_dead_trials(study: optuna.Study) -> list[int]:
    """Fail RUNNING trials whose worker process is dead on this host; re-enqueue their params.

    A trial with no worker recorded ORPHAN_S after it started was killed between its creation
    and run_study's first write to it (a window of milliseconds): it is reaped too.
    """
    from datetime import datetime

    from optuna.exceptions import UpdateFinishedTrialError

    def dead(trial) -> bool:
        worker = trial.user_attrs.get("worker")
        if worker:
            return is_dead(worker)
        started = trial.datetime_start
        return started is not None and (datetime.now() - started).total_seconds() > ORPHAN_S

    if not any(dead(t) for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))):
        return []
    reaped = []
    with _reap_lock(study):
        trials = study.get_trials(deepcopy=False)  # fresh, inside the lock
        retried = {t.user_attrs.get("retry_of") for t in trials}
        for trial in trials:
            if trial.state != TrialState.RUNNING or not dead(trial):
                continue
            try:
                study._storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
            except (UpdateFinishedTrialError, RuntimeError):
                continue  # another worker reaped it first
            if trial.number not in retried:
                study.enqueue_trial(trial.params, user_attrs={"retry_of": trial.number})
            reaped.append(trial.number)
    return reaped


class _OverBudget(Exception):
    pass


def run_study(
    study: optuna.Study,
    objective,
    n_trials: int,
    timeout: float | None = None,
    callbacks=None,
    poll_s: float = 0.5,
) -> int:
    """Run trials until the study holds n_trials finished ones, whoever ran them.

    Safe with other workers on the same study and after a kill: trials of dead workers are
    retried, and a worker waits (instead of starting an extra trial) while others' running trials
    could still fill the budget. Returns how many trials this process finished.
    """
    identity = process_identity()
    live = (*FINISHED, TrialState.RUNNING, TrialState.WAITING)

    def guarded(trial: optuna.Trial):
        trial.set_user_attr("worker", identity)
        ahead = [
            t for t in study.get_trials(deepcopy=False, states=live) if t.number < trial.number
        ]
        if len(ahead) >= n_trials:
            trial.set_user_attr("over_budget", True)
            raise _OverBudget
        return objective(trial)

    started, mine = time.monotonic(), 0
    while timeout is None or time.monotonic() - started < timeout:
        reap_dead_trials(study)
        trials = study.get_trials(deepcopy=False)
        done = sum(t.state in FINISHED for t in trials)
        running = sum(t.state == TrialState.RUNNING for t in trials)
        waiting = sum(t.state == TrialState.WAITING for t in trials)
        if done >= n_trials:
            break
        if done + running >= n_trials and not waiting:
            time.sleep(poll_s)  # others' trials may fill the budget, or die and be retried
            continue
        try:
            study.optimize(guarded, n_trials=1, callbacks=callbacks)
            mine += 1
        except _OverBudget:
            continue
    return mine
