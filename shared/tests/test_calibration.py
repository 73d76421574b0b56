import numpy as np
import pytest
from mlcraft import calibration as cal
from sklearn.calibration import calibration_curve
from sklearn.linear_model import LogisticRegression


def _calibrated_sample(n=200_000, seed=0):
    rng = np.random.default_rng(seed)
    p = rng.uniform(0, 1, n)
    y = (rng.uniform(0, 1, n) < p).astype(int)
    return y, p


def test_perfectly_calibrated_data_has_near_zero_ece():
    y, p = _calibrated_sample()
    # Sampling error of a bin mean is about sqrt(0.25 / (n / 15)) ~ 0.004; the weighted mean is smaller.
    assert cal.ece(y, p, 15, "uniform") < 0.005
    assert cal.ece(y, p, 15, "quantile") < 0.005


def test_miscalibrated_data_has_the_known_ece():
    y, p = _calibrated_sample()
    shifted = np.clip(p + 0.1, 0, 1)  # every prediction 0.1 too high (except near 1)
    assert cal.ece(y, shifted) == pytest.approx(0.1, abs=0.01)
    assert cal.mce(y, shifted) >= cal.ece(y, shifted)


@pytest.mark.parametrize("strategy", ["uniform", "quantile"])
def test_bins_agree_with_sklearn_calibration_curve(strategy):
    rng = np.random.default_rng(1)
    p = rng.beta(2, 5, 5000)
    y = (rng.uniform(size=5000) < p**0.8).astype(int)
    prob_true, prob_pred = calibration_curve(y, p, n_bins=10, strategy=strategy)
    bins = cal.reliability_bins(y, p, n_bins=10, strategy=strategy)
    np.testing.assert_allclose(bins["observed"], prob_true, atol=1e-12)
    np.testing.assert_allclose(bins["mean_predicted"], prob_pred, atol=1e-12)
    assert bins["count"].sum() == 5000


def test_brier_and_nll_match_hand_values():
    y = np.array([1, 0, 1, 0])
    p = np.array([0.9, 0.2, 0.6, 0.5])
    assert cal.brier(y, p) == pytest.approx((0.01 + 0.04 + 0.16 + 0.25) / 4)
    expected = -np.mean(np.log([0.9, 0.8, 0.6, 0.5]))
    assert cal.nll(y, p) == pytest.approx(expected)
    # The multiclass form of the same predictions agrees (Brier doubles: both columns count).
    probs = np.stack([1 - p, p], axis=1)
    assert cal.nll(y, probs) == pytest.approx(expected)
    assert cal.brier(y, probs) == pytest.approx(2 * cal.brier(y, p))


@pytest.mark.parametrize("true_t", [0.5, 2.5])
def test_temperature_scaling_recovers_known_temperature(true_t):
    rng = np.random.default_rng(2)
    n, k = 20_000, 5
    true_logits = rng.normal(0, 2.0, size=(n, k))
    probs = np.exp(true_logits) / np.exp(true_logits).sum(axis=1, keepdims=True)
    y = np.array([rng.choice(k, p=row) for row in probs])
    # The model reports logits scaled by 1/T: fitting must find T again.
    observed = true_logits * true_t
    fitted = cal.fit_temperature(observed, y)
    assert fitted == pytest.approx(true_t, rel=0.05)
    before = cal.nll(y, cal.softmax_with_temperature(observed, 1.0))
    after = cal.nll(y, cal.softmax_with_temperature(observed, fitted))
    assert after < before


def test_binary_logits_temperature():
    rng = np.random.default_rng(3)
    z = rng.normal(0, 3, 20_000)
    y = (rng.uniform(size=z.size) < 1 / (1 + np.exp(-z))).astype(int)
    assert cal.fit_temperature(3.0 * z, y) == pytest.approx(3.0, rel=0.05)
    p = cal.softmax_with_temperature(z, 1.0)
    np.testing.assert_allclose(p, 1 / (1 + np.exp(-z)), rtol=1e-9)


def test_platt_and_isotonic_fix_a_distorted_model():
    rng = np.random.default_rng(4)
    X = rng.normal(size=(6000, 3))
    y = (rng.uniform(size=6000) < 1 / (1 + np.exp(-(X @ [1.5, -1.0, 0.5])))).astype(int)
    # Strong L2 shrinks the logits: probabilities squashed towards 0.5, a known miscalibration.
    model = LogisticRegression(C=0.0005).fit(X[:2000], y[:2000])
    raw = model.predict_proba(X[4000:])[:, 1]
    for method in ("sigmoid", "isotonic"):
        fixed = cal.calibrate_prefit(model, X[2000:4000], y[2000:4000], method)
        p = fixed.predict_proba(X[4000:])[:, 1]
        assert cal.ece(y[4000:], p) < cal.ece(y[4000:], raw) / 2
    with pytest.raises(ValueError, match="method"):
        cal.calibrate_prefit(model, X[:10], y[:10], "beta")


def test_reliability_diagram_writes_png(tmp_path):
    y, p = _calibrated_sample(2000)
    out = cal.reliability_diagram({"model": (y, p)}, tmp_path / "rel.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(tmp_path.glob(".*tmp"))


def test_ece_interval_is_the_percentile_bootstrap_like_every_other_ci():
    """Simulated scores whose calibration error is known (0.05: shifted up by 0.05). The ECE
    interval is the percentile bootstrap, as every other CI in the repo, and covers the truth."""
    from mlcraft.calibration import ece, ece_ci
    from mlcraft.stats import bootstrap_ci

    rng = np.random.default_rng(0)
    p = rng.uniform(0.05, 0.9, 4000)
    y = (rng.random(len(p)) < p).astype(int)
    lo, hi = ece_ci(y, p + 0.05, 15, n_boot=200, seed=0)
    assert lo < 0.05 < hi
    _, pct_lo, pct_hi = bootstrap_ci(lambda t, s: ece(t, s, 15), y, p + 0.05, 200, seed=0)
    assert (lo, hi) == (pct_lo, pct_hi)
