"""The `search` and `evaluate` verbs: a resumable stand-alone Optuna search, and scoring a saved
bundle on the configured data's test split."""

from __future__ import annotations

from typing import Any

from mlcraft.calibration import ece
from sklearn.metrics import roc_auc_score

from tabular_ladder import tuning
from tabular_ladder.bundle import load_bundle
from tabular_ladder.config import TrainConfig
from tabular_ladder.costs import expected_cost
from tabular_ladder.data import load


def search(config: TrainConfig) -> dict[str, Any]:
    """Run (or finish) the study `search.study_name`: rerunning after a kill only runs the rest."""
    data = load(config.data)
    name = config.search.study_name or f"tabular_ladder-{data.name}-search"
    result = tuning.tune(
        data.X_train, data.y_train, data.numeric, data.categorical, config.search, name,
        config.search.n_trials, "tpe", config.seed, config.n_jobs,
    )  # fmt: skip
    return {
        "study": name,
        "trials": len(result.study.trials),
        "new_trials": result.new_trials,
        "best_inner_roc_auc": result.study.best_value,
        "best_params": result.params,
    }


def evaluate_bundle(config: TrainConfig, model_dir: str) -> dict[str, Any]:
    data = load(config.data)
    bundle = load_bundle(model_dir)
    p = bundle.predict_proba(data.X_test)
    decision = (p >= bundle.meta["threshold"]).astype(int)
    return {
        "data": data.name,
        "rows": len(p),
        "roc_auc": float(roc_auc_score(data.y_test, p)),
        "ece_15": ece(data.y_test, p, 15),
        "expected_cost": expected_cost(
            data.y_test, decision, bundle.meta["cost_fn"], bundle.meta["cost_fp"]
        ),
    }
