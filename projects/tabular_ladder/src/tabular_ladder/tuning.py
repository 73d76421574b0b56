"""LightGBM tuned with Optuna: the search, nested CV around it, and TPE vs random search.

One search = one Optuna study over an inner holdout (early stopping + LightGBMPruningCallback on
validation AUC). Studies live in mlcraft's storage (runs/optuna.db by default) and run through
mlcraft.search.run_study, so a killed search resumes (the dead worker's trial is retried) and
several workers can share one study without exceeding its budget of finished trials.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import optuna
import pandas as pd
from lightgbm import LGBMClassifier, early_stopping
from mlcraft.search import create_study, finished_trials, run_study
from optuna_integration import LightGBMPruningCallback
from sklearn.model_selection import StratifiedKFold, train_test_split

from tabular_ladder.config import SearchConfig
from tabular_ladder.evaluate import positive_proba, scores
from tabular_ladder.models import lightgbm_pipeline, ordinal

optuna.logging.set_verbosity(optuna.logging.WARNING)
logging.getLogger("optuna").setLevel(logging.WARNING)


def suggest(trial: optuna.Trial) -> dict[str, Any]:
    """The search space: the few knobs that matter for GBDTs on a 30k-row table."""
    return {
        "learning_rate": trial.suggest_float("learning_rate", 0.01, 0.2, log=True),
        "num_leaves": trial.suggest_int("num_leaves", 8, 128, log=True),
        "min_child_samples": trial.suggest_int("min_child_samples", 5, 200, log=True),
        "colsample_bytree": trial.suggest_float("colsample_bytree", 0.3, 1.0),
        "subsample": trial.suggest_float("subsample", 0.5, 1.0),
        "reg_lambda": trial.suggest_float("reg_lambda", 1e-3, 30.0, log=True),
        "cat_smooth": trial.suggest_float("cat_smooth", 1.0, 50.0, log=True),
    }


@dataclass
class SearchResult:
    study: optuna.Study
    params: dict[str, Any]  # best params, n_estimators included (ready for lightgbm_pipeline)
    new_trials: int  # trials run by this call (0 when the study was already complete)
    seen_index: list = field(default_factory=list)  # row labels the search looked at


def tune(
    X: pd.DataFrame,
    y: np.ndarray,
    numeric: list[str],
    categorical: list[str],
    config: SearchConfig,
    study_name: str,
    n_trials: int,
    sampler: str = "tpe",
    seed: int = 0,
    n_jobs: int = 2,
    callbacks: list | None = None,
    sampler_seed: int | None = None,
) -> SearchResult:
    """Search LightGBM params on X only (an inner holdout of it) until the study holds n_trials
    finished trials; resumes a stored study. callbacks(study, trial) run after every trial.
    `seed` fixes the holdout and the model; `sampler_seed` (default: seed) the sampler."""
    fit_idx, valid_idx = train_test_split(
        np.arange(len(X)), test_size=config.valid_fraction, stratify=y, random_state=seed
    )
    prep = ordinal(numeric, categorical).fit(X.iloc[fit_idx])
    X_fit, X_valid = prep.transform(X.iloc[fit_idx]), prep.transform(X.iloc[valid_idx])
    y_fit, y_valid = y[fit_idx], y[valid_idx]

    def objective(trial: optuna.Trial) -> float:
        model = LGBMClassifier(
            n_estimators=config.max_rounds,
            subsample_freq=1,
            metric="auc",
            categorical_feature=list(range(len(categorical))),
            random_state=seed,
            n_jobs=n_jobs,
            verbose=-1,
            force_row_wise=True,
            **suggest(trial),
        )
        model.fit(
            X_fit,
            y_fit,
            eval_X=X_valid,  # eval_set is deprecated since LightGBM 4.7 (a warning per fit)
            eval_y=y_valid,
            callbacks=[
                early_stopping(config.early_stopping, verbose=False),
                # Every report is a storage write (an SQLite commit): report every 10 rounds.
                LightGBMPruningCallback(trial, "auc", valid_name="valid_0", report_interval=10),
            ],
        )
        trial.set_user_attr("best_iteration", int(model.best_iteration_ or config.max_rounds))
        return float(model.best_score_["valid_0"]["auc"])

    pruner: dict[str, Any] = {"name": config.pruner}
    if config.pruner == "median":
        pruner.update(n_startup_trials=5, n_warmup_steps=50, interval_steps=10)
    spec: dict[str, Any] = {"name": sampler}
    if sampler == "tpe":
        spec["n_startup_trials"] = config.tpe_startup_trials
    study = create_study(
        study_name, storage=config.storage, sampler=spec, pruner=pruner,
        seed=seed if sampler_seed is None else sampler_seed,
    )  # fmt: skip
    new_trials = run_study(study, objective, n_trials, callbacks=callbacks)
    best = study.best_trial
    # Refit on all of X: scale the early-stopped round count up to the larger training set.
    rounds = int(round(best.user_attrs["best_iteration"] / (1 - config.valid_fraction)))
    params = {**best.params, "subsample_freq": 1, "n_estimators": max(rounds, 10)}
    return SearchResult(study, params, new_trials, list(X.index))


Search = Callable[..., SearchResult]


def nested_cv(
    X: pd.DataFrame,
    y: np.ndarray,
    numeric: list[str],
    categorical: list[str],
    config: SearchConfig,
    base_name: str,
    seed: int = 0,
    n_jobs: int = 2,
    search: Search = tune,
) -> tuple[pd.DataFrame, int]:
    """Outer folds estimate "tune, then fit"; each inner search sees only its outer-train rows."""
    rows, trials = [], 0
    outer = StratifiedKFold(config.outer_folds, shuffle=True, random_state=seed)
    for fold, (train_idx, test_idx) in enumerate(outer.split(X, y)):
        X_tr, y_tr = X.iloc[train_idx], y[train_idx]
        # Each fold its own seed (from the run's seed and the fold number): with one seed for
        # all, the folds sampled the same parameters and the spread between folds hid nothing.
        fold_seed = fold_seed_of(seed, fold)
        result = search(
            X_tr, y_tr, numeric, categorical, config, f"{base_name}-outer{fold}",
            config.nested_trials, "tpe", fold_seed, n_jobs,
        )  # fmt: skip
        trials += result.new_trials
        model = lightgbm_pipeline(numeric, categorical, result.params, seed, n_jobs).fit(X_tr, y_tr)
        row = scores(y[test_idx], positive_proba(model, X.iloc[test_idx]))
        overlap = len(set(result.seen_index) & set(X.index[test_idx]))
        best = result.study.best_trial.number  # a start-up trial means TPE's model never won
        rows.append({"fold": fold, "seed": fold_seed, **row, "n_test": len(test_idx),
                     "search_saw_test_rows": overlap, "best_trial": best,
                     "best_from_startup": best < config.tpe_startup_trials})  # fmt: skip
        rows[-1].update({f"param_{k}": v for k, v in result.params.items()})
    return pd.DataFrame(rows), trials


def fold_seed_of(seed: int, fold: int) -> int:
    """A seed for outer fold `fold`, drawn from (run seed, fold) by numpy's SeedSequence: distinct
    per fold and unrelated to the small seeds of the sampler comparison and the main search, so
    no two studies start from the same random start-up trials."""
    return int(np.random.SeedSequence([seed, NESTED_STREAM, fold]).generate_state(1)[0] % 2**31)


NESTED_STREAM = 14  # names the nested-CV seed stream in fold_seed_of


# Random search's sampler seed is offset from TPE's: TPE draws its start-up trials with a random
# sampler of its own seed, so equal seeds would give both studies the same first trials.
RANDOM_SEED_OFFSET = 500_009


def best_so_far(study: optuna.Study, n_trials: int) -> np.ndarray:
    """Best validation AUC after each of the first n finished trials (pruned trials keep the
    best; failed trials, e.g. of a killed worker or over the budget, are not trials of the curve)."""
    values, best = [], -np.inf
    for trial in sorted(finished_trials(study), key=lambda t: t.number)[:n_trials]:
        if trial.state == optuna.trial.TrialState.COMPLETE and trial.value is not None:
            best = max(best, trial.value)
        values.append(best)
    return np.array(values)


def compare_samplers(
    X: pd.DataFrame,
    y: np.ndarray,
    numeric: list[str],
    categorical: list[str],
    config: SearchConfig,
    base_name: str,
    n_jobs: int = 2,
) -> tuple[pd.DataFrame, dict[tuple[str, int], SearchResult], int]:
    """TPE and random search at the same budget, several seeds each; best-so-far curves. Each
    (sampler, seed) is its own study with its own trials; the pair of one seed shares the inner
    holdout, so their difference is a paired comparison."""
    curves, results, trials = [], {}, 0
    for seed in config.compare_seeds:
        for sampler in ("tpe", "random"):
            name = f"{base_name}-{sampler}-s{seed}"
            result = tune(
                X,
                y,
                numeric,
                categorical,
                config,
                name,
                config.compare_trials,
                sampler,
                seed,
                n_jobs,
                sampler_seed=seed + (RANDOM_SEED_OFFSET if sampler == "random" else 0),
            )
            trials += result.new_trials
            results[(sampler, seed)] = result
            for number, value in enumerate(best_so_far(result.study, config.compare_trials)):
                curves.append(
                    {"sampler": sampler, "seed": seed, "trial": number + 1, "best": value,
                     "startup": config.tpe_startup_trials}
                )  # fmt: skip
    return pd.DataFrame(curves), results, trials


def paired_sampler_gain(curves: pd.DataFrame) -> dict[str, float]:
    """TPE minus random best validation AUC at the full budget, per seed: the mean with a
    t-interval over seeds (a handful of seeds: the t-interval is the honest width)."""
    from scipy import stats

    last = curves[curves["trial"] == curves["trial"].max()]
    table = last.pivot(index="seed", columns="sampler", values="best")
    diffs = (table["tpe"] - table["random"]).to_numpy(float)
    mean = float(diffs.mean())
    if len(diffs) < 2:
        lo = hi = float("nan")
    else:
        half = stats.t.ppf(0.975, len(diffs) - 1) * diffs.std(ddof=1) / np.sqrt(len(diffs))
        lo, hi = mean - half, mean + half
    return {"seeds": len(diffs), "trials": int(curves["trial"].max()), "tpe_minus_random": mean,
            "lo": float(lo), "hi": float(hi)}  # fmt: skip


def plot_sampler_curves(curves: pd.DataFrame, path) -> None:
    from mlcraft.plots import plt, save_figure

    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    for sampler, group in curves.groupby("sampler"):
        table = group.pivot(index="trial", columns="seed", values="best").replace(-np.inf, np.nan)
        mean = table.mean(axis=1)
        ax.plot(mean.index, mean.values, label=f"{sampler} (mean of {table.shape[1]} seeds)")
        ax.fill_between(table.index, table.min(axis=1), table.max(axis=1), alpha=0.2)
    ax.set_xlabel("trial")
    ax.set_ylabel("best validation ROC AUC so far")
    ax.set_title("TPE vs random search, same budget")
    ax.legend()
    save_figure(fig, path)
