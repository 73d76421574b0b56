import numpy as np
import pandas as pd
from mlcraft import review


def test_review_band_is_the_narrowest_that_meets_the_error_rule():
    y = np.array([0, 0, 0, 1, 1, 1, 0, 1])
    p = np.array([0.05, 0.10, 0.45, 0.55, 0.90, 0.95, 0.60, 0.40])  # errors at 0.60 and 0.40
    curve = review.risk_coverage(y, p, threshold=0.5)
    assert curve["coverage"].iloc[0] == 1.0 and curve["error"].iloc[0] == 2 / 8
    assert curve["coverage"].is_monotonic_decreasing
    band = review.review_band(curve, max_error=0.0)
    assert (band["band_lo"], band["band_hi"]) == (0.4, 0.6)  # holds both errors
    assert band["error"] == 0.0 and band["coverage"] == 4 / 8
    checked = review.band_on_test(y, p, 0.5, band, n_boot=20)
    assert checked["coverage"] == 0.5 and checked["error"] == 0.0


def test_review_band_analysis_writes_curves_band_and_figure_and_the_block_judges_on_the_ci(
    tmp_path,
):
    rng = np.random.default_rng(0)
    p = rng.random(400)
    y = (rng.random(400) < p).astype(int)
    row = review.review_band_analysis(
        y[:200], p[:200], y[200:], p[200:], 0.5, 0.1, 50, tmp_path, "P(yes)", items="texts"
    )
    curves = pd.read_csv(tmp_path / "risk_coverage.csv")
    assert set(curves["split"]) == {"val", "test"} and (tmp_path / "risk_coverage.png").is_file()
    band = pd.read_csv(tmp_path / "review_band.csv").iloc[0]
    assert band["band_lo"] == row["band_lo"] and band["val_error"] <= 0.1
    block = review.review_band_block(band, "analysis.review_max_error", "texts")
    assert "`analysis.review_max_error=0.1`" in block and "of texts automatically" in block
    assert "![risk-coverage](results/risk_coverage.png)" in block
    assert any(word in block for word in ("**met**", "**missed**", "**inconclusive**"))
