"""The reference run: data -> ladder -> tuned LightGBM -> calibration, costs, slices, studies ->
flights leakage study -> deployable bundle, all written into one run folder (mlcraft.runs):
tables, plots and summary.json in run.results, the bundle in run.model. Only `publish` turns a
complete reference run into the project's results/.

No decision (hyperparameters, thresholds, calibration maps, the choice of best rung) reads the
test set; it is scored only to report finished models.
"""

from __future__ import annotations

import tempfile
import time
import warnings
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from mlcraft.config import config_to_dict
from mlcraft.reporting import slice_table, write_table
from mlcraft.review import review_band_analysis
from mlcraft.runs import Run
from mlcraft.seeding import seed_everything
from mlcraft.stats import paired_bootstrap_diff
from mlcraft.tracking import TrackedRun
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split
from threadpoolctl import threadpool_limits

from tabular_ladder import boosting, costs, flights, monitoring, tuning
from tabular_ladder.audit import write_audit
from tabular_ladder.bundle import save_bundle
from tabular_ladder.calibrate import calibration_study, choose_method
from tabular_ladder.config import TrainConfig
from tabular_ladder.data import Dataset, load, slice_columns
from tabular_ladder.evaluate import (
    cross_validate,
    fit_timed,
    latency_ms_per_1000,
    positive_proba,
    summarise_folds,
    test_report,
)
from tabular_ladder.models import build_rung, describe_rule, lightgbm_pipeline
from tabular_ladder.preflight import check_analyses
from tabular_ladder.spread import seed_spread

PROJECT = "tabular_ladder"
PROJECT_DIR = Path(__file__).resolve().parents[2]


def log(message: str, start: float) -> None:
    """A progress line; the run's wall time is TrackedRun's (summary.json), not this clock."""
    print(f"[{time.time() - start:6.1f}s] {message}", flush=True)


def write(folder: Path, name: str, frame: pd.DataFrame, digits: int = 4) -> pd.DataFrame:
    return write_table(folder, name, frame, digits=digits)


def train(config: TrainConfig, run: Run, data: Dataset | None = None) -> dict[str, Any]:
    """The whole run, written only into `run` (tables and plots in run.results, the bundle in
    run.model). `data` is what pre-flight loaded; loaded here when called without it."""
    start = time.time()
    seed = config.seed
    seed_everything(seed)
    data = data if data is not None else load(config.data)
    # Pre-flight made this check already; it is cheap, and train() may be called on its own.
    check_analyses(config, data)
    log(f"data {data.name}: train {len(data.X_train):,}, test {len(data.X_test):,}", start)
    write_audit(run.results, data.audit)
    write(run.results, "missing_tokens", missing_table(data.missing))
    if data.audit:
        log(f"data audit: {len(data.audit)} finding(s), see results/audit.md", start)
    with TrackedRun(PROJECT, config_to_dict(config), seed, run_folder=run) as tracked:
        for name, (path, rows) in data.files.items():
            tracked.add_data_file(name, path, rows)
        # OpenMP/BLAS pools (HistGradientBoosting, numpy) get the same core budget as LightGBM.
        with threadpool_limits(limits=config.n_jobs):
            headline, extra = run_all(config, data, run, tracked, start)
        if config.faults:
            # Outside the run's wall time (TrackedRun's clock); timed on their own.
            drills_started = time.time()
            with tracked.untimed():
                extra["faults"] = fault_drills(run)
            headline["faults_seconds"] = round(time.time() - drills_started, 1)
            log("fault drills done", start)
        summary = tracked.write_summary(headline, extra)
    log(f"done: {run.run_id}", start)
    return summary


def fault_drills(run: Run) -> dict[str, int]:
    """The project's fault drills through the real CLI, each in a scratch folder; faults.csv."""
    from mlcraft.faults import run_drills

    from tabular_ladder.faults import FAULTS

    with tempfile.TemporaryDirectory(prefix="tabular_ladder-faults-") as scratch:
        frame = run_drills(PROJECT, PROJECT_DIR, FAULTS, Path(scratch))
    write(run.results, "faults", frame)
    return {"drills": len(frame), "ok": int(frame["ok"].sum())}


def run_all(config, data: Dataset, run: Run, tracked: TrackedRun, start: float):
    seed, n_jobs, a = config.seed, config.n_jobs, config.analyses
    X, y, X_test, y_test = data.X_train, data.y_train, data.X_test, data.y_test
    numeric, categorical = data.numeric, data.categorical
    results_dir, model_dir = run.results, run.model
    base = config.search.study_name or f"{PROJECT}-{data.name}-{run.run_id}"
    trials = 0

    # 1. Hyperparameter search: TPE vs random over seeds; the final study extends TPE (resume).
    curves, searches, n = tuning.compare_samplers(
        X, y, numeric, categorical, config.search, base, n_jobs
    )
    trials += n
    write(results_dir, "sampler_curves", curves)
    if len(config.search.compare_seeds) > 1:
        write(results_dir, "sampler_gain", pd.DataFrame([tuning.paired_sampler_gain(curves)]))
    tuning.plot_sampler_curves(curves, results_dir / "tpe_vs_random.png")
    # The final search extends the comparison's TPE study of the run seed (resumed from storage):
    # its first compare_trials are the comparison's, scored on the same inner holdout.
    final = tuning.tune(X, y, numeric, categorical, config.search, f"{base}-tpe-s{seed}",
                        config.search.n_trials, "tpe", seed, n_jobs)  # fmt: skip
    trials += final.new_trials
    params = final.params
    log(f"search: {trials} trials, best inner AUC {final.study.best_value:.4f}", start)

    # 2. The ladder: CV on training data, then one fit on all of it.
    rows, fitted = [], {}
    for name in config.ladder.rungs:
        rung = build_rung(name, numeric, categorical, config.ladder, seed, n_jobs, params)
        if name == "lightgbm_tuned":
            folds, n = tuning.nested_cv(X, y, numeric, categorical, config.search, f"{base}-nested",
                                        seed, n_jobs)  # fmt: skip
            trials += n
            write(results_dir, "nested_cv", folds)
            cv = summarise_folds(folds)
        else:
            cv = cross_validate(
                rung.pipeline, X, y, config.ladder.cv_folds, seed, rung.max_fit_rows
            )
        model, fit_s = fit_timed(rung.pipeline, X, y, rung.max_fit_rows, seed)
        fitted[name] = model
        if rung.max_fit_rows is not None:  # the rows it really saw, from the data in hand
            rung.note = f"fit on {min(rung.max_fit_rows, len(X)):,} of {len(X):,} training rows"
        rows.append({"rung": name, "note": rung.note, **cv, "fit_s": fit_s})
        log(f"rung {name}: CV AUC {cv['cv_roc_auc_mean']:.4f}", start)
    if "rule" in fitted:
        extra_rule = describe_rule(fitted["rule"])
        rows[config.ladder.rungs.index("rule")]["note"] = extra_rule

    # 3. Held-out calibration rows (from training data) for calibration, thresholds, importance.
    fit_idx, cal_idx = train_test_split(
        np.arange(len(X)), test_size=a.calibration_fraction, stratify=y, random_state=seed
    )
    X_fit, y_fit, X_cal, y_cal = X.iloc[fit_idx], y[fit_idx], X.iloc[cal_idx], y[cal_idx]
    lgbm_fit = lightgbm_pipeline(numeric, categorical, params, seed, n_jobs).fit(X_fit, y_fit)
    cal_models = {"lightgbm_tuned": lgbm_fit}
    if "logreg" in fitted:
        cal_models = {"logreg": build_rung("logreg", numeric, categorical, config.ladder, seed,
                                           n_jobs).pipeline.fit(X_fit, y_fit), **cal_models}  # fmt: skip
    threshold_model = None

    # ---- Everything below scores the test set: finished models only. ----
    probs = {}
    for row in rows:
        model = fitted[row["rung"]]
        probs[row["rung"]] = positive_proba(model, X_test)
        row.update(test_report(y_test, probs[row["rung"]], a.n_boot, seed))
        row["latency_ms_per_1000"] = latency_ms_per_1000(model, X_test, config.ladder.latency_rows)
    ladder = write(results_dir, "ladder", pd.DataFrame(rows))
    plot_ladder(ladder, data.name, results_dir / "ladder.png")
    best = ladder.loc[ladder["cv_roc_auc_mean"].idxmax(), "rung"]  # chosen by CV, not by test
    by_rung = ladder.set_index("rung")
    headline: dict[str, Any] = {"data": data.name, "best_model": best}
    headline.update(_with_ci("test_roc_auc_best", by_rung.loc[best], "test_roc_auc"))
    if "lightgbm_tuned" in probs:
        headline.update(
            _with_ci("test_roc_auc_lightgbm", by_rung.loc["lightgbm_tuned"], "test_roc_auc")
        )
    if "logreg" in probs:
        headline.update(_with_ci("test_roc_auc_logreg", by_rung.loc["logreg"], "test_roc_auc"))
        if "lightgbm_tuned" in probs:
            diff = paired_bootstrap_diff(roc_auc_score, y_test, probs["lightgbm_tuned"],
                                         probs["logreg"], n_boot=a.n_boot, seed=seed)  # fmt: skip
            write(results_dir, "lightgbm_vs_logreg", pd.DataFrame([diff]))
            headline["auc_gain_over_logreg"] = diff["diff"]
            headline["auc_gain_over_logreg_lo"] = diff["lo"]
            headline["auc_gain_over_logreg_hi"] = diff["hi"]
    log("ladder scored on test", start)
    spread = None
    if a.seed_spread and "lightgbm_tuned" in fitted:

        def make_tuned(s: int):
            return build_rung("lightgbm_tuned", numeric, categorical, config.ladder, s, n_jobs,
                              params).pipeline  # fmt: skip

        table, spread = seed_spread(make_tuned, X, y, X_test, y_test, a.seed_spread, seed,
                                    probs["lightgbm_tuned"])  # fmt: skip
        write(results_dir, "seeds", table)
        log(f"seed spread: sd {spread['test_roc_auc_sd']}, bitwise {spread['same_seed_bitwise']}",
            start)  # fmt: skip

    # 4. Calibration.
    calib, calibrated = calibration_study(cal_models, X_cal, y_cal, X_test, y_test, results_dir,
                                          a.n_boot, seed)  # fmt: skip
    write(results_dir, "calibration", calib)
    method = a.deploy_calibration
    if method == "auto":  # chosen on calibration rows only
        cv_losses = choose_method(lgbm_fit, X_cal, y_cal, seed)
        method = min(cv_losses, key=cv_losses.get)
        headline.update({f"calibration_cv_log_loss_{k}": v for k, v in cv_losses.items()})
    deploy = calibrated[("lightgbm_tuned", method)]
    method_name = "platt" if method == "sigmoid" else "isotonic"
    lgbm_rows = calib.set_index(["model", "calibration"])
    headline.update(
        _with_ci("ece_uncalibrated", lgbm_rows.loc[("lightgbm_tuned", "uncalibrated")], "ece_15")
    )
    headline.update(
        _with_ci("ece_calibrated", lgbm_rows.loc[("lightgbm_tuned", method_name)], "ece_15")
    )
    headline["calibration_method"] = method_name
    log("calibration done", start)

    # 5. Costs: thresholds chosen on held-out training rows, cost measured on test.
    threshold_model = costs.tune_threshold(deploy, X_cal, y_cal, a.cost_fn, a.cost_fp, seed)
    threshold = float(threshold_model.best_threshold_)
    bayes = a.cost_fp / (a.cost_fp + a.cost_fn)
    p_raw, p_cal = positive_proba(lgbm_fit, X_test), positive_proba(deploy, X_test)
    weighted = lightgbm_pipeline(numeric, categorical, {**params, "scale_pos_weight": a.cost_fn /
                                 a.cost_fp}, seed, n_jobs).fit(X_fit, y_fit)  # fmt: skip
    policies = [
        costs.decision_rows(
            "uncalibrated, threshold 0.5", y_test, p_raw, 0.5, a.cost_fn, a.cost_fp
        ),
        costs.decision_rows(
            f"class weights (positives x{a.cost_fn:g}), threshold 0.5",
            y_test,
            positive_proba(weighted, X_test),
            0.5,
            a.cost_fn,
            a.cost_fp,
        ),  # fmt: skip
        costs.decision_rows("calibrated, threshold 0.5", y_test, p_cal, 0.5, a.cost_fn, a.cost_fp),
        costs.decision_rows(
            "calibrated, Bayes threshold c_fp/(c_fp+c_fn)",
            y_test,
            p_cal,
            bayes,
            a.cost_fn,
            a.cost_fp,
        ),  # fmt: skip
        costs.decision_rows(
            "calibrated, TunedThresholdClassifierCV", y_test, p_cal, threshold, a.cost_fn, a.cost_fp
        ),  # fmt: skip
    ]
    cost_table = write(results_dir, "costs", pd.DataFrame(policies))
    headline["cost_threshold"] = threshold
    headline["expected_cost_tuned"] = float(cost_table["expected_cost"].iloc[-1])
    headline["expected_cost_default"] = float(cost_table["expected_cost"].iloc[2])
    # The deployed policy against class weights on the same test rows: a paired CI says
    # whether the deployed one wins, loses, or the test set cannot tell.
    cost = partial(costs.expected_cost, cost_fn=a.cost_fn, cost_fp=a.cost_fp)
    versus = paired_bootstrap_diff(cost, y_test, (p_cal >= threshold).astype(int),
                                   (positive_proba(weighted, X_test) >= 0.5).astype(int),
                                   n_boot=a.n_boot, seed=seed)  # fmt: skip
    write(results_dir, "deployed_vs_class_weights", pd.DataFrame([versus]))
    # The band behind "a probability near the threshold goes to a person": the narrowest band
    # around the deployed threshold meeting analyses.review_max_error on the calibration rows
    # (where the threshold was chosen), checked on test.
    review_band_analysis(y_cal, positive_proba(deploy, X_cal), y_test, p_cal, threshold,
                         a.review_max_error, a.n_boot, results_dir, "calibrated P(positive)",
                         items="rows")  # fmt: skip
    if a.oversampling:
        greedy = lightgbm_pipeline(numeric, categorical, {"num_leaves": 127, "min_child_samples": 1,
                                   "n_estimators": 150}, seed, n_jobs)  # fmt: skip
        write(results_dir, "oversampling", costs.oversampling_study(greedy, X, y, X_test, y_test,
                                                             a.study_folds, seed))  # fmt: skip
    log(f"costs done (threshold {threshold:.3f})", start)

    # 6. Slices and the most confident errors (deployed model: calibrated LightGBM).
    frame = slice_columns(X_test, a.slices) if a.slices else pd.DataFrame(index=X_test.index)
    frame["y"], frame["p"] = y_test, p_cal
    metrics = {
        "roc_auc": roc_auc_score,
        "mean_predicted": lambda t, s: float(np.mean(s)),
        "recall_at_threshold": lambda t, s: float(np.mean(s[t == 1] >= threshold)),
    }
    with warnings.catch_warnings():  # tiny groups: a one-class resample gives NaN, by design
        warnings.simplefilter("ignore")
        slices = [
            slice_table(frame, by, "y", "p", metrics, n_boot=a.slice_boot, seed=seed)
            for by in a.slices
        ]
    if slices:
        write(results_dir, "slices", pd.concat(slices, ignore_index=True))
    errors = X_test.copy()
    errors["label"], errors["probability"] = y_test, p_cal
    wrong = errors[(errors["probability"] >= threshold) != (errors["label"] == 1)]
    confident = pd.concat([
        wrong[wrong["label"] == 0].nlargest(a.n_errors, "probability").assign(error="false positive"),
        wrong[wrong["label"] == 1].nsmallest(a.n_errors, "probability").assign(error="false negative"),
    ])  # fmt: skip
    if not confident.empty:  # a model without errors at this threshold has no table
        write(results_dir, "confident_errors", confident.reset_index(names="test_row"))
    log("slices and errors done", start)

    # 7. Studies of the boosted model (training data / CV; the monotone test AUC is reported).
    if a.importance:
        importance = boosting.importance_table(lgbm_fit, X_cal, y_cal, seed)
        write(results_dir, "importance", importance)
        boosting.plot_importance(importance, results_dir / "importance.png")
    monotone = a.monotone  # pre-flight checked: numeric feature columns
    if monotone:
        write(results_dir, "monotone", boosting.monotone_study(
            X, y, X_test, y_test, numeric, categorical, params, monotone, a.study_folds,
            seed, n_jobs, results_dir / "monotone_pdp.png"))  # fmt: skip
    if a.missing_values:
        write(results_dir, "missing_values", boosting.missing_values_study(
            X, y, numeric, categorical, params, a.study_folds, seed, n_jobs))  # fmt: skip
    if a.depth_lr_grid:
        grid = boosting.depth_lr_grid(X, y, numeric, categorical, [2, 4, 6, 8],
                                      [0.01, 0.03, 0.1, 0.3], a.study_folds, seed, n_jobs)  # fmt: skip
        write(results_dir, "depth_lr_grid", grid)
        boosting.plot_heatmap(grid, results_dir / "depth_lr_heatmap.png", 200)
    log("boosting studies done", start)

    # 8. Flights: random vs temporal split, with and without a leaking feature.
    if config.flights.enabled:
        frame, files = flights.load_flights()
        for name, (path, n_rows) in files.items():
            tracked.add_data_file(name, path, n_rows)
        leak = write(results_dir, "flights", flights.leakage_study(frame, config.flights, a.n_boot, seed,
                                                             n_jobs))  # fmt: skip
        flights.plot_leakage(leak, results_dir / "flights_leakage.png")
        pick = leak.set_index(["split", "features"])["test_roc_auc"]
        headline["flights_random_split_roc_auc"] = float(pick[("random split", "scheduled")])
        headline["flights_temporal_roc_auc"] = float(pick[("temporal split", "scheduled")])
        headline["flights_leaky_roc_auc"] = float(
            pick[("temporal split", "scheduled + dep_delay (leaky)")]
        )
        log("flights done", start)
        if config.monitor.enabled:
            # 8b. Monitoring: each month after a January-March model as a production batch.
            table, alerts = monitoring.monitoring_study(frame, config.monitor, seed, n_jobs)
            write(results_dir, "monitoring", table)
            write(results_dir, "monitoring_alerts", alerts)
            monitoring.plot_monitoring(table, alerts, results_dir / "monitoring.png")
            log("monitoring study done", start)

    # 9. The deployable bundle.
    save_bundle(model_dir, deploy, X.head(5), threshold, data.sha256,
                {"data": data.name, "run_id": run.run_id,
                 "cost_fn": a.cost_fn, "cost_fp": a.cost_fp, "params": params,
                 "na_values": config.data.missing_tokens(),
                 "id_column": config.data.id_column})  # fmt: skip
    headline["optuna_trials"] = trials
    # Paths relative to the run folder: the staging folder is renamed when the run completes.
    extra = {"model_dir": "model", "best_params": params, "data_stats": data_stats(data),
             "missing_tokens": data.missing, "seed_spread": spread}  # fmt: skip
    return headline, extra


def _with_ci(key: str, row: pd.Series, column: str) -> dict[str, float]:
    """A headline value with its bootstrap CI: key, key_lo, key_hi."""
    return {key: float(row[column]), f"{key}_lo": float(row[f"{column}_lo"]),
            f"{key}_hi": float(row[f"{column}_hi"])}  # fmt: skip


def plot_ladder(ladder: pd.DataFrame, data_name: str, path: Path) -> None:
    """The README's hero figure: every rung's test ROC AUC with its bootstrap CI (ladder_figure
    names the 95% CI on the axis itself)."""
    from mlcraft.plots import ladder_figure

    rows = [{"name": r.rung, "value": r.test_roc_auc, "lo": r.test_roc_auc_lo,
             "hi": r.test_roc_auc_hi} for r in ladder.itertuples()]  # fmt: skip
    ladder_figure(rows, "test ROC AUC, bootstrap", path,
                  title=f"The ladder on {data_name}: test ROC AUC per rung")  # fmt: skip


def missing_table(counts: dict[str, int]) -> pd.DataFrame:
    """Cells each missing-value token turned into a gap (empty cells listed as such)."""
    rows = [{"token": token if token else "(empty cell)", "cells_read_as_missing": n}
            for token, n in counts.items()]  # fmt: skip
    return pd.DataFrame(rows, columns=["token", "cells_read_as_missing"])


def data_stats(data: Dataset) -> dict[str, dict[str, float]]:
    """Rows, class balance and share of rows with a missing value, per split."""
    return {
        split: {"rows": len(X), "positive_rate": float(y.mean()),
                "rows_with_missing": float(X.isna().any(axis=1).mean())}
        for split, X, y in [("train", data.X_train, data.y_train),
                            ("test", data.X_test, data.y_test)]
    }  # fmt: skip
