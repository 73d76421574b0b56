"""The monitoring study on synthetic flights-shaped months: covariate shift is estimated without
labels, the alert table counts what the realized metrics show."""

import numpy as np
import pandas as pd
from tabular_ladder.config import MonitorConfig
from tabular_ladder.monitoring import FEATURES, monitoring_study


def synthetic_months(rows_per_month: int = 1500, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    parts = []
    for month in range(1, 7):
        n = rows_per_month
        hour = rng.integers(5, 23, n) + (month >= 5) * 2  # later months fly later: covariate shift
        frame = pd.DataFrame({
            "month": month, "day": rng.integers(1, 29, n), "weekday": rng.integers(0, 7, n),
            "sched_dep_hour": np.clip(hour, 0, 23), "sched_arr_hour": np.clip(hour + 2, 0, 23),
            "distance": rng.integers(100, 2500, n), "plane_year": rng.integers(1990, 2013, n),
            "seats": rng.integers(50, 300, n), "carrier": rng.choice(["AA", "B6", "UA"], n),
            "origin": rng.choice(["JFK", "LGA", "EWR"], n), "dest": rng.choice(["ATL", "ORD"], n),
        })  # fmt: skip
        p = 1 / (1 + np.exp(-(frame["sched_dep_hour"] - 16) / 2.5))  # same p(y|x) every month
        frame["late"] = (rng.random(n) < p).astype(int)
        parts.append(frame)
    return pd.concat(parts, ignore_index=True)


def test_the_study_scores_every_batch_and_estimates_covariate_shift():
    config = MonitorConfig(reference_months=[1, 2, 3], batch_months=[4, 5, 6], n_estimators=50,
                           sample_rows=3000)  # fmt: skip
    table, alerts = monitoring_study(synthetic_months(), config, seed=0, n_jobs=1)
    assert table["batch"].tolist() == ["reference (held-out)", "Apr", "May", "Jun"]
    assert set(FEATURES) >= {"sched_dep_hour"} and "month" not in FEATURES
    # the shift shows in the inputs and the scores, and p(y|x) is unchanged, so the label-free
    # estimate follows the realized accuracy
    shifted = table[table["batch"].isin(["May", "Jun"])]
    assert (shifted["max_feature_psi"] > table.loc[1, "max_feature_psi"]).all()
    assert (shifted["prediction_psi"] > 0.05).all()
    error = (table["estimated_accuracy"] - table["realized_accuracy"]).abs()
    assert error.max() < 0.05
    assert alerts["metric"].tolist() == ["roc_auc", "accuracy"]
    assert (alerts["batches"] == 3).all()
    assert (alerts["alerts"] == alerts["true_alerts"] + alerts["false_alarms"]).all()
