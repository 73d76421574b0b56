"""Each rung on smoke data through the real train entrypoint; nested CV hygiene; Optuna resume."""

from __future__ import annotations

import shutil
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from conftest import PROJECT
from tabular_ladder import tuning
from tabular_ladder.config import DataConfig, SearchConfig
from tabular_ladder.data import load

# Generic names (no data set in the key; the `data` field names it), each value with its CI.
HEADLINE = ["data", "test_roc_auc_best", "test_roc_auc_best_lo", "test_roc_auc_best_hi",
            "test_roc_auc_logreg", "best_model", "auc_gain_over_logreg_lo",
            "auc_gain_over_logreg_hi", "ece_uncalibrated", "ece_calibrated", "ece_calibrated_lo",
            "ece_calibrated_hi", "flights_temporal_roc_auc", "flights_random_split_roc_auc",
            "flights_leaky_roc_auc", "optuna_trials", "wall_seconds"]  # fmt: skip


def test_smoke_run_writes_every_artifact(smoke_run):
    run, summary, _, _ = smoke_run
    out = run / "results"
    assert set(HEADLINE) <= set(summary["headline"])
    assert not [key for key in summary["headline"] if key.startswith("adult")]
    assert summary["headline"]["data"] == "adult"
    assert summary["headline"]["wall_seconds"] == summary["wall_seconds"]  # one clock
    for name in ["ladder", "nested_cv", "calibration", "costs", "slices", "confident_errors",
                 "importance", "monotone", "missing_values", "flights", "sampler_curves",
                 "oversampling", "missing_tokens", "sampler_gain",
                 "deployed_vs_class_weights"]:  # fmt: skip
        assert (out / f"{name}.csv").is_file() and (out / f"{name}.md").is_file(), name
    for png in ["tpe_vs_random", "reliability_lightgbm_tuned", "reliability_logreg",
                "importance", "monotone_pdp", "flights_leakage", "ladder"]:  # fmt: skip
        assert (out / f"{png}.png").stat().st_size < 300_000
    assert summary["data"]["adult"]["rows"] == 48842
    assert summary["headline"]["wall_seconds"] < 180
    assert summary["model_dir"] == "model" and (run / "model" / "meta.json").is_file()


def test_every_rung_learns(smoke_results):
    ladder = pd.read_csv(smoke_results / "ladder.csv").set_index("rung")
    assert list(ladder.index) == ["prior", "rule", "logreg", "knn", "random_forest", "hist_gbm",
                                  "lightgbm_tuned"]  # fmt: skip
    assert ladder.loc["prior", "cv_roc_auc_mean"] == pytest.approx(0.5)
    assert ladder.loc["rule", "test_roc_auc"] > 0.65  # one split already beats chance
    for rung in ["logreg", "knn", "random_forest", "hist_gbm", "lightgbm_tuned"]:
        assert ladder.loc[rung, "test_roc_auc"] > 0.85, rung
        lo, hi = ladder.loc[rung, ["test_roc_auc_lo", "test_roc_auc_hi"]]
        assert lo < ladder.loc[rung, "test_roc_auc"] < hi
    # The learned rungs beat the prior on proper scores too.
    assert ladder.loc["logreg", "test_log_loss"] < ladder.loc["prior", "test_log_loss"] - 0.1


def test_nested_cv_search_never_sees_outer_test_rows(smoke_results):
    folds = pd.read_csv(smoke_results / "nested_cv.csv")
    assert len(folds) == 2 and (folds["search_saw_test_rows"] == 0).all()


def test_nested_cv_passes_only_outer_train_rows():
    """A spy search records the rows it receives; none may be in that fold's outer test part."""
    data = load(DataConfig(max_train_rows=600, max_test_rows=100))
    seen = []

    seeds = []

    def spy(X, y, *args, **kwargs):
        seen.append(set(X.index))
        seeds.append(args[-2])  # (..., n_trials, sampler, seed, n_jobs)
        study = SimpleNamespace(best_trial=SimpleNamespace(number=len(seen)))
        return tuning.SearchResult(study, {"n_estimators": 20}, 0, list(X.index))

    config = SearchConfig(outer_folds=3, tpe_startup_trials=2)
    folds, _ = tuning.nested_cv(data.X_train, data.y_train, data.numeric, data.categorical,
                                config, "spy", search=spy)  # fmt: skip
    assert len(seen) == 3 and (folds["search_saw_test_rows"] == 0).all()
    assert len(set(seeds)) == 3 and list(folds["seed"]) == seeds  # a seed per fold
    # ...unrelated to the sampler comparison's and the main search's small seeds
    assert set(seeds).isdisjoint(range(100))
    assert folds["best_trial"].tolist() == [1, 2, 3]
    assert folds["best_from_startup"].tolist() == [True, False, False]  # trial 1 < 2 start-ups
    union = set().union(*seen)
    assert union == set(data.X_train.index)  # every row is outer-train somewhere...
    for rows in seen:  # ...but each search saw only (k-1)/k of them
        assert len(rows) == pytest.approx(600 * 2 / 3, abs=2)


def test_optuna_study_resumes(sandbox):
    data = load(DataConfig(max_train_rows=500, max_test_rows=100))
    config = SearchConfig(max_rounds=30, early_stopping=10)
    args = (data.X_train, data.y_train, data.numeric, data.categorical, config, "resume-test")
    first = tuning.tune(*args, n_trials=2)
    assert first.new_trials == 2
    again = tuning.tune(*args, n_trials=3)  # a "restarted" search: only the missing trial runs
    assert again.new_trials == 1 and len(again.study.trials) == 3
    assert again.params["n_estimators"] >= 10


def test_tpe_and_random_curves_are_monotone(smoke_results):
    curves = pd.read_csv(smoke_results / "sampler_curves.csv").replace(-np.inf, np.nan)
    for _, group in curves.groupby(["sampler", "seed"]):
        values = group.sort_values("trial")["best"].dropna().to_numpy()
        assert (np.diff(values) >= 0).all()
    assert set(curves["sampler"]) == {"tpe", "random"}


def test_calibration_and_costs_are_consistent(smoke_results):
    out = smoke_results
    calib = pd.read_csv(out / "calibration.csv")
    assert set(calib["calibration"]) == {"uncalibrated", "platt", "isotonic"}
    assert calib["ece_15"].between(0, 0.2).all()
    costs = pd.read_csv(out / "costs.csv").set_index("policy")
    tuned = costs.loc["calibrated, TunedThresholdClassifierCV"]
    # With FN = 5 FP the cost-tuned threshold sits well below 0.5 and beats the 0.5 policy.
    assert tuned["threshold"] < 0.4
    assert tuned["expected_cost"] < costs.loc["calibrated, threshold 0.5", "expected_cost"]
    over = pd.read_csv(out / "oversampling.csv")
    assert over["cv_roc_auc_mean"].iloc[1] > over["cv_roc_auc_mean"].iloc[0]  # leaky is inflated


def test_tpe_leaves_its_start_up_and_random_search_draws_its_own_trials(sandbox):
    """TPE's random start-up is shorter than the budget, and random search with the same seed
    does not replay TPE's start-up trials (independent trial sets, paired only by the holdout)."""
    data = load(DataConfig(max_train_rows=500, max_test_rows=100))
    config = SearchConfig(max_rounds=20, early_stopping=5, tpe_startup_trials=2, n_trials=3,
                          nested_trials=3, compare_trials=3)  # fmt: skip
    args = (data.X_train, data.y_train, data.numeric, data.categorical, config)
    tpe = tuning.tune(*args, "indep-tpe", 3, "tpe", seed=0)
    random = tuning.tune(*args, "indep-random", 3, "random", seed=0,
                         sampler_seed=tuning.RANDOM_SEED_OFFSET)  # fmt: skip
    assert tpe.study.sampler._inner._n_startup_trials == 2
    first = [t.params for t in tpe.study.trials[:2]]
    assert first != [t.params for t in random.study.trials[:2]]


def test_tpe_budget_must_exceed_its_start_up():
    with pytest.raises(ValueError, match="must exceed search.tpe_startup_trials"):
        SearchConfig(nested_trials=5, tpe_startup_trials=5)


def test_sampler_gain_is_a_paired_interval(smoke_results):
    gain = pd.read_csv(smoke_results / "sampler_gain.csv").iloc[0]
    curves = pd.read_csv(smoke_results / "sampler_curves.csv")
    last = curves[curves["trial"] == curves["trial"].max()].pivot(
        index="seed", columns="sampler", values="best"
    )
    assert gain["tpe_minus_random"] == pytest.approx((last["tpe"] - last["random"]).mean())
    assert gain["lo"] <= gain["tpe_minus_random"] <= gain["hi"] and gain["seeds"] == len(last)


def test_nested_folds_search_with_their_own_seeds(smoke_results):
    folds = pd.read_csv(smoke_results / "nested_cv.csv")
    assert folds["seed"].nunique() == len(folds)
    assert folds["best_from_startup"].dtype == bool


def test_sampler_reading_keeps_the_sign_and_says_whether_the_model_phase_acted(tmp_path):
    """A TPE loss must not read as a gain (the old block printed |TPE - random|), and whether
    TPE's model-based trials improved on its start-up is counted per seed."""
    from tabular_ladder.report import blocks

    rows = []
    for seed, (tpe_start, tpe_end, random_end) in enumerate(
        [(0.90, 0.90, 0.92), (0.90, 0.91, 0.92)]
    ):
        for trial in (1, 2, 3, 4):
            tpe = tpe_start if trial <= 2 else tpe_end
            rows += [{"sampler": "tpe", "seed": seed, "trial": trial, "best": tpe, "startup": 2},
                     {"sampler": "random", "seed": seed, "trial": trial, "best": random_end,
                      "startup": 2}]  # fmt: skip
    from mlcraft.reporting import write_table

    results = tmp_path / "results"
    shutil.copytree(PROJECT / "results", results)
    write_table(results, "sampler_curves", pd.DataFrame(rows))
    text = blocks(results)["sampler"]
    assert "from -0.0200 to -0.0100" in text
    assert "raised the best in 1 of 2 seeds" in text


def test_seed_spread_refits_every_seed_and_checks_the_same_seed_repeat(smoke_run):
    run, summary, _, _ = smoke_run
    seeds = pd.read_csv(run / "results" / "seeds.csv")
    configured = summary["config"]["analyses"]["seed_spread"]
    assert seeds["seed"].tolist() == [summary["seed"], *configured]
    ladder = pd.read_csv(run / "results" / "ladder.csv").set_index("rung")
    assert seeds["test_roc_auc"].iloc[0] == pytest.approx(
        ladder.loc["lightgbm_tuned", "test_roc_auc"]
    )
    spread = summary["seed_spread"]
    assert spread["seeds"] == len(seeds) and spread["same_seed_bitwise"] is True
    assert spread["test_roc_auc_min"] <= spread["test_roc_auc_max"]
    assert seeds["test_roc_auc"].nunique() > 1  # subsampling draws from the seed: it matters


def test_hero_figure_axis_names_its_interval_once(monkeypatch, tmp_path):
    """ladder_figure appends "(95% CI)" to the metric; the label passed in must not repeat it."""
    import mlcraft.plots
    from tabular_ladder.train import plot_ladder

    seen = {}
    monkeypatch.setattr(mlcraft.plots, "ladder_figure",
                        lambda rows, metric, path, **kw: seen.update(metric=metric))  # fmt: skip
    ladder = pd.DataFrame([{"rung": "logreg", "test_roc_auc": 0.9, "test_roc_auc_lo": 0.89,
                            "test_roc_auc_hi": 0.91}])  # fmt: skip
    plot_ladder(ladder, "adult", tmp_path / "ladder.png")
    assert f"{seen['metric']} (95% CI)".count("CI") == 1


def test_lightgbm_uses_the_categorical_columns_it_is_given():
    """LightGBM warns that `categorical_feature` in the estimator's params "will be ignored" (the
    warning models.py silences), yet the parameter reaches the booster: its trees split on
    category sets ('=='), which an ordinal reading of the same columns never does."""
    from tabular_ladder.models import lightgbm_pipeline

    data = load(DataConfig(max_train_rows=2000, max_test_rows=100))
    model = lightgbm_pipeline(data.numeric, data.categorical, {"n_estimators": 20}, 0, 1)
    model.fit(data.X_train, data.y_train)
    booster = model[-1].booster_
    dump = booster.dump_model()

    def decisions(node):
        if "split_index" not in node:
            return []
        return [node["decision_type"], *decisions(node["left_child"]),
                *decisions(node["right_child"])]  # fmt: skip

    kinds = {kind for tree in dump["tree_info"] for kind in decisions(tree["tree_structure"])}
    assert "==" in kinds
