import os
import signal
import subprocess
import sys
import textwrap
import time

import optuna
import pytest
from mlcraft.search import create_study, make_pruner, make_sampler, run_study
from optuna.trial import TrialState

WORKER = textwrap.dedent(
    """
    import pathlib, sys, time
    import optuna
    from mlcraft.search import create_study, run_study
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    storage, n_trials, hang_on, marker = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    study = create_study("shared", storage=storage, direction="minimize",
                         sampler={"name": "tpe", "n_startup_trials": 4}, seed=0)

    def objective(trial):
        x, y = trial.suggest_float("x", -5, 5), trial.suggest_float("y", -5, 5)
        if trial.number == hang_on:
            pathlib.Path(marker).write_text(str(trial.number))
            time.sleep(600)  # killed here, mid-trial
        time.sleep(0.05)
        return (x - 1) ** 2 + y**2

    run_study(study, objective, n_trials, poll_s=0.2)
    print("done", flush=True)
    """
)


def _spawn(storage, n_trials, hang_on=-1, marker="/dev/null"):
    return subprocess.Popen(
        [sys.executable, "-c", WORKER, storage, str(n_trials), str(hang_on), str(marker)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip


def _wait_for(path, process, timeout=120):
    deadline = time.time() + timeout
    while not path.exists():
        assert process.poll() is None, "worker exited before reaching the trial to kill"
        assert time.time() < deadline, "worker never reached the trial to kill"
        time.sleep(0.1)


def _assert_exact(storage, n_trials):
    study = create_study("shared", storage=storage, direction="minimize")
    trials = study.get_trials(deepcopy=False)
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert len(complete) == n_trials
    params = [tuple(sorted(t.params.items())) for t in complete]
    twice = [
        (t.number, t.user_attrs)
        for t in complete
        if params.count(tuple(sorted(t.params.items()))) > 1
    ]
    assert not twice, f"a parameter set was evaluated twice: {twice}"
    assert not [t.number for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    return trials


STORAGES = ["sqlite", "journal"]


def _storage(tmp_path, kind):
    return f"sqlite:///{tmp_path}/o.db" if kind == "sqlite" else f"journal:{tmp_path}/o.journal"


@pytest.mark.parametrize("kind", STORAGES)
def test_two_workers_fill_the_budget_exactly(tmp_path, kind):
    storage = _storage(tmp_path, kind)
    workers = [_spawn(storage, 12), _spawn(storage, 12)]
    assert [w.wait(timeout=300) for w in workers] == [0, 0]
    _assert_exact(storage, 12)


@pytest.mark.parametrize("kind", STORAGES)
def test_kill_mid_trial_then_restart_with_a_second_worker(tmp_path, kind):
    """SIGKILL during trial 3, then a restarted worker plus a second one: the killed trial is
    failed and retried, nothing is replayed, and exactly the budget completes."""
    storage, marker = _storage(tmp_path, kind), tmp_path / "in_trial"
    victim = _spawn(storage, 10, hang_on=3, marker=marker)
    _wait_for(marker, victim)
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait(timeout=30)
    workers = [_spawn(storage, 10), _spawn(storage, 10)]
    assert [w.wait(timeout=300) for w in workers] == [0, 0]
    trials = _assert_exact(storage, 10)
    killed = trials[3]
    assert killed.state == TrialState.FAIL
    retried = [t for t in trials if t.user_attrs.get("retry_of") == 3]
    assert len(retried) == 1 and retried[0].params == killed.params


def test_restart_does_not_replay_the_seeded_sequence(tmp_path):
    """The bug this guards: a seeded sampler restarted per process re-proposed trials 0..k."""
    storage = f"sqlite:///{tmp_path}/o.db"
    for budget in (4, 9):  # a search stopped at 4, then resumed to 9
        assert _spawn(storage, budget).wait(timeout=120) == 0
    _assert_exact(storage, 9)


def test_serial_search_is_repeatable_for_a_seed(tmp_path):
    runs = []
    for name in ("a", "b"):
        study = create_study(name, storage=f"sqlite:///{tmp_path}/o.db", seed=5,
                             sampler={"name": "tpe", "n_startup_trials": 3})  # fmt: skip
        run_study(study, lambda t: t.suggest_float("x", 0, 1), 6)
        runs.append([t.params["x"] for t in study.trials])
    assert runs[0] == runs[1]
    assert len(set(runs[0])) == 6


def test_sampler_and_pruner_from_config():
    assert isinstance(make_sampler({"name": "random"}), optuna.samplers.RandomSampler)
    tpe = make_sampler({"name": "tpe", "n_startup_trials": 3})
    assert isinstance(tpe, optuna.samplers.TPESampler)
    hb = make_pruner({"name": "hyperband", "min_resource": 1, "max_resource": 9})
    assert isinstance(hb, optuna.pruners.HyperbandPruner)
    with pytest.raises(ValueError, match="unknown sampler"):
        make_sampler({"name": "grid-ish"})
    # Same seed, same sampler: the same suggestions.
    values = []
    for _ in range(2):
        study = optuna.create_study(sampler=make_sampler({"name": "random"}, seed=7))
        study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=3)
        values.append([t.params["x"] for t in study.trials])
    assert values[0] == values[1]


def test_a_trial_killed_before_it_recorded_its_worker_is_reaped(tmp_path, monkeypatch):
    """The window between ask() and run_study's first write: the trial has no worker attr."""
    from mlcraft import search

    study = create_study("orphan", storage=f"sqlite:///{tmp_path}/o.db", seed=0)
    orphan = study.ask()
    orphan.suggest_float("x", 0, 1)
    assert search.reap_dead_trials(study) == []  # a fresh trial may just be starting
    monkeypatch.setattr(search, "ORPHAN_S", -1)
    assert search.reap_dead_trials(study) == [orphan.number]
    states = [t.state for t in study.get_trials(deepcopy=False)]
    assert states == [TrialState.FAIL, TrialState.WAITING]
    assert run_study(study, lambda t: t.suggest_float("x", 0, 1), 2) == 2
