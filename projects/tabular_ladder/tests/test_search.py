"""The search and evaluate verbs each write only into their own run folder; a search resumes."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from mlcraft.runs import is_complete
from tabular_ladder.__main__ import main

PROJECT = Path(__file__).resolve().parents[1]
SMOKE = str(PROJECT / "configs" / "smoke.yaml")


def _new_run(runs: Path, before: set[Path]) -> Path:
    (run,) = set(runs.iterdir()) - before
    assert is_complete(run)
    return run


def test_search_writes_its_trials_and_resumes(sandbox):
    runs = sandbox / "runs" / "tabular_ladder"
    study = ["--set", "search.study_name=test-resume", "search.tpe_startup_trials=1",
             "search.n_trials=2", "search.max_rounds=40"]  # fmt: skip
    before = set(runs.iterdir()) if runs.is_dir() else set()
    assert main(["search", "--config", SMOKE, *study]) == 0
    first = _new_run(runs, before)
    trials = pd.read_csv(first / "results" / "search_trials.csv")
    assert list(trials["state"]) == ["COMPLETE", "COMPLETE"] or "PRUNED" in set(trials["state"])
    summary = json.loads((first / "results" / "summary.json").read_text())
    assert summary["headline"]["optuna_trials"] == 2 and summary["study"] == "test-resume"
    assert (first / "REPORT.md").is_file() and not (first / "model").exists()

    # The same study with a bigger budget: only the missing trial runs, in a new run folder.
    before = set(runs.iterdir())
    assert main(["search", "--config", SMOKE, *study[:-2], "search.n_trials=3",
                 "search.max_rounds=40"]) == 0  # fmt: skip
    second = _new_run(runs, before)
    summary = json.loads((second / "results" / "summary.json").read_text())
    assert summary["headline"]["optuna_trials"] == 1
    assert summary["headline"]["search_finished_trials"] == 3
    assert len(pd.read_csv(second / "results" / "search_trials.csv")) == 3


def test_evaluate_writes_into_its_own_run(smoke_run, sandbox):
    model_run = smoke_run[0]
    runs = sandbox / "runs" / "tabular_ladder"
    before = set(runs.iterdir())
    model_files = {p: p.read_bytes() for p in model_run.rglob("*") if p.is_file()}
    assert main(["evaluate", "--config", SMOKE, "--model", str(model_run)]) == 0
    run = _new_run(runs, before)
    assert run.name.startswith("evaluate-smoke-")
    scores = pd.read_csv(run / "results" / "evaluation.csv").iloc[0]
    assert scores["model_run"] == model_run.name and bool(scores["same_data_as_training"])
    assert 0.8 < scores["roc_auc"] <= 1 and scores["rows"] == 1500
    # The evaluated run is read, never written.
    assert {p: p.read_bytes() for p in model_run.rglob("*") if p.is_file()} == model_files
