import numpy as np
import pandas as pd
import pytest
from mlcraft.monitor import (
    alert_outcomes,
    expected_accuracy,
    expected_roc_auc,
    feature_drift,
    psi,
)
from sklearn.metrics import roc_auc_score

RNG = np.random.default_rng(0)


def test_psi_is_near_zero_for_the_same_distribution_and_large_for_a_shift():
    ref = pd.Series(RNG.normal(size=5000))
    assert psi(ref, pd.Series(RNG.normal(size=5000))) < 0.02
    assert psi(ref, pd.Series(RNG.normal(1.0, size=5000))) > 0.25


def test_psi_counts_unseen_levels_and_newly_missing_values_as_drift():
    ref = pd.Series(["a", "b"] * 500)
    assert psi(ref, pd.Series(["a", "b"] * 500)) < 1e-6
    assert psi(ref, pd.Series(["a", "c"] * 500)) > 1.0
    numbers = pd.Series(RNG.normal(size=1000))
    assert psi(numbers, numbers.where(RNG.random(1000) > 0.5)) > 0.25


def test_feature_drift_ranks_the_shifted_feature_first():
    ref = pd.DataFrame({"x": RNG.normal(size=2000), "c": RNG.choice(["u", "v"], 2000)})
    cur = pd.DataFrame({"x": RNG.normal(2.0, size=2000), "c": RNG.choice(["u", "v"], 2000)})
    table = feature_drift(ref, cur)
    assert table["feature"].tolist() == ["x", "c"] and table["drifted"].tolist() == [True, False]
    assert table.loc[0, "ks"] > 0.5 and np.isnan(table.loc[1, "ks"])


def test_calibrated_scores_estimate_the_realized_metrics_without_labels():
    p = RNG.beta(0.7, 1.5, size=20_000)
    y = RNG.random(20_000) < p  # labels drawn from the scores: calibrated by construction
    assert expected_roc_auc(p) == pytest.approx(roc_auc_score(y, p), abs=0.01)
    assert expected_accuracy(p, 0.4) == pytest.approx(np.mean((p >= 0.4) == y), abs=0.01)


def test_alert_outcomes_count_false_alarms_and_misses():
    frame = pd.DataFrame(
        {"estimated": [0.90, 0.80, 0.90, 0.80], "realized": [0.90, 0.80, 0.80, 0.90]}
    )
    assert alert_outcomes(frame, reference=0.9, tolerance=0.05) == {
        "batches": 4, "alerts": 2, "true_alerts": 1, "false_alarms": 1, "misses": 1,
    }  # fmt: skip
