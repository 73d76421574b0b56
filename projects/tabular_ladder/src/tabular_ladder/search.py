"""The `search` and `evaluate` verbs, each writing only into its own run folder.

search: a resumable stand-alone Optuna study (`search.study_name`, default
`tabular_ladder-<data>-search`) through mlcraft.search.run_study; kill it and rerun it, it
continues, and several workers may share it. Its trial table is rewritten in run.results after
every trial (search_trials.csv), with summary.json at the end.

evaluate: score a complete train run's model bundle on the configured data's test split;
evaluation.csv and summary.json in run.results.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import pandas as pd
from mlcraft.config import config_to_dict
from mlcraft.reporting import write_table
from mlcraft.runs import Run
from mlcraft.tracking import TrackedRun

from tabular_ladder.config import TrainConfig
from tabular_ladder.data import Dataset, load

PROJECT = "tabular_ladder"


def trials_table(study) -> pd.DataFrame:
    """One row per trial: number, state, value, seconds, parameters, early-stopped rounds."""
    rows = []
    for trial in sorted(study.get_trials(deepcopy=False), key=lambda t: t.number):
        seconds = None
        if trial.datetime_start and trial.datetime_complete:
            seconds = (trial.datetime_complete - trial.datetime_start).total_seconds()
        rows.append({
            "trial": trial.number, "state": trial.state.name, "value": trial.value,
            "seconds": seconds, "best_iteration": trial.user_attrs.get("best_iteration"),
            "retry_of": trial.user_attrs.get("retry_of"),
            **{f"param_{k}": v for k, v in trial.params.items()},
        })  # fmt: skip
    return pd.DataFrame(rows)


def search(config: TrainConfig, run: Run, data: Dataset | None = None) -> dict[str, Any]:
    """Run (or finish) the study: rerunning after a kill only runs the missing trials."""
    from tabular_ladder import tuning

    data = data if data is not None else load(config.data)
    name = config.search.study_name or f"{PROJECT}-{data.name}-search"

    def record(study, trial) -> None:
        write_table(run.results, "search_trials", trials_table(study), digits=4)

    with TrackedRun(PROJECT, config_to_dict(config), config.seed, run_folder=run) as tracked:
        for file, (path, rows) in data.files.items():
            tracked.add_data_file(file, path, rows)
        result = tuning.tune(
            data.X_train, data.y_train, data.numeric, data.categorical, config.search, name,
            config.search.n_trials, "tpe", config.seed, config.n_jobs, callbacks=[record],
        )  # fmt: skip
        record(result.study, None)  # also when this worker ran no trial (the study was done)
        finished = tuning.finished_trials(result.study)
        headline = {
            "search_best_inner_roc_auc": float(result.study.best_value),
            "search_finished_trials": len(finished),
            "optuna_trials": result.new_trials,
        }
        tracked.write_summary(headline, {"study": name, "best_params": result.params})
    print(json.dumps({"study": name, **headline, "best_params": result.params}, indent=2))
    return headline


def evaluate(config: TrainConfig, run: Run, model: str | Path, data: Dataset | None = None):
    """Score the bundle of the complete run `model` on the configured test split."""
    from mlcraft.calibration import ece
    from sklearn.metrics import roc_auc_score

    from tabular_ladder.bundle import load_bundle
    from tabular_ladder.costs import expected_cost

    data = data if data is not None else load(config.data)
    bundle = load_bundle(Path(model) / "model")
    with TrackedRun(PROJECT, config_to_dict(config), config.seed, run_folder=run) as tracked:
        for file, (path, rows) in data.files.items():
            tracked.add_data_file(file, path, rows)
        p = bundle.predict_proba(data.X_test)
        decision = (p >= bundle.meta["threshold"]).astype(int)
        scores = {
            "data": data.name,
            "model_run": bundle.meta.get("run_id", Path(model).name),
            "rows": len(p),
            "roc_auc": float(roc_auc_score(data.y_test, p)),
            "ece_15": ece(data.y_test, p, 15),
            "threshold": float(bundle.meta["threshold"]),
            "same_data_as_training": bundle.meta.get("data_sha256") == data.sha256,
            "expected_cost": expected_cost(
                data.y_test, decision, bundle.meta["cost_fn"], bundle.meta["cost_fp"]
            ),
        }
        write_table(run.results, "evaluation", pd.DataFrame([scores]), digits=4)
        headline = {f"evaluate_{k}": v for k, v in scores.items() if k not in ("data", "model_run")}
        tracked.write_summary(headline, {"model": str(Path(model).absolute())})
    print(json.dumps(scores, indent=2))
    return scores


def evaluate_verb(config: TrainConfig, run: Run, args: argparse.Namespace):
    return evaluate(config, run, args.model, args.checked)
