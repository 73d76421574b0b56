"""Temperature scaling must lower NLL on synthetic overconfident logits."""

from __future__ import annotations

import numpy as np
from text_classifier.analysis import calibration


def test_temperature_scaling_fixes_overconfidence():
    rng = np.random.default_rng(0)
    n = 4000
    true_logit = rng.normal(0, 1.5, size=n)
    y = (rng.random(n) < 1 / (1 + np.exp(-true_logit))).astype(int)
    overconfident = np.stack([np.zeros(n), 4.0 * true_logit], axis=1)  # 4x too sharp
    half = n // 2
    row, _ = calibration(
        "synthetic", overconfident[:half], y[:half], overconfident[half:], y[half:],
        n_bins=15, n_boot=50, seed=0,
    )  # fmt: skip
    assert 3.0 < row["temperature"] < 5.5
    assert row["nll_after"] < row["nll_before"] - 0.05
    assert row["ece_after"] < 0.03 < row["ece_before"]
    assert row["ece_after_lo"] <= row["ece_after"] <= row["ece_after_hi"] < row["ece_before_lo"]
    # the change carries its paired bootstrap CI, which clears 0 for this 4x too sharp model
    assert abs(row["ece_change"] - (row["ece_after"] - row["ece_before"])) < 1e-12
    assert row["ece_change_lo"] <= row["ece_change"] <= row["ece_change_hi"] < 0
