import os
import signal
import subprocess
import sys
import textwrap

import optuna
import pytest
from mlcraft.search import create_study, finished_trials, make_pruner, make_sampler

WORKER = textwrap.dedent(
    """
    import sys, time
    import optuna
    from mlcraft.search import create_study
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage, n_trials, sleep_after = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    study = create_study("shared", storage=storage, direction="minimize")
    study.optimize(lambda t: (t.suggest_float("x", -5, 5) - 1) ** 2, n_trials=n_trials)
    print("done", flush=True)
    time.sleep(sleep_after)
    """
)


def _spawn(storage, n_trials, sleep_after=0.0):
    return subprocess.Popen(
        [sys.executable, "-c", WORKER, storage, str(n_trials), str(sleep_after)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip


@pytest.mark.parametrize("kind", ["sqlite", "journal"])
def test_two_processes_share_one_study(tmp_path, kind):
    storage = f"sqlite:///{tmp_path}/o.db" if kind == "sqlite" else f"journal:{tmp_path}/o.journal"
    workers = [_spawn(storage, 6), _spawn(storage, 7)]
    assert [w.wait(timeout=120) for w in workers] == [0, 0]
    study = create_study("shared", storage=storage, direction="minimize")
    assert len(finished_trials(study)) == 13
    assert len({t.number for t in study.trials}) == 13


def test_killed_study_keeps_finished_trials(tmp_path):
    storage = f"sqlite:///{tmp_path}/o.db"
    worker = _spawn(storage, 5, sleep_after=60)
    assert worker.stdout.readline().strip() == "done"
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait(timeout=30)
    assert worker.returncode == -signal.SIGKILL
    study = create_study("shared", storage=storage, direction="minimize")
    assert len(finished_trials(study)) == 5
    study.optimize(lambda t: (t.suggest_float("x", -5, 5) - 1) ** 2, n_trials=2)
    assert len(finished_trials(study)) == 7


def test_sampler_and_pruner_from_config():
    assert isinstance(make_sampler({"name": "random"}, seed=1), optuna.samplers.RandomSampler)
    tpe = make_sampler({"name": "tpe", "n_startup_trials": 3}, seed=1)
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
