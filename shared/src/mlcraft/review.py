"""A human-review band behind evidence: the risk-coverage curve of a band [t - d, t + d] around the
decision threshold t, the narrowest band whose automatic decisions meet an error rule (chosen on
validation), and that band checked on test with a bootstrap CI. Every project that routes doubtful
cases to a person shows this curve behind its band."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from mlcraft.plots import plt, save_figure
from mlcraft.reporting import write_table
from mlcraft.stats import bootstrap_ci, verdict

BAND_STEP = 0.01


def automatic(p: np.ndarray, threshold: float, half: float) -> np.ndarray:
    """The cases decided without a human: outside the band of half-width `half` (all for 0)."""
    return np.abs(p - threshold) > half if half > 0 else np.ones(len(p), dtype=bool)


def risk_coverage(y: np.ndarray, p: np.ndarray, threshold: float) -> pd.DataFrame:
    """For each half-width d of a band [t - d, t + d] around the decision threshold t: the share
    of cases decided automatically (outside the band) and the error rate among them."""
    y, p = np.asarray(y), np.asarray(p)
    rows = []
    decided = (p >= threshold).astype(int)
    for half in np.round(np.arange(0.0, 0.5 + 1e-9, BAND_STEP), 2):
        auto = automatic(p, threshold, half)
        rows.append(
            {
                "half_width": float(half),
                "band_lo": max(threshold - half, 0.0),
                "band_hi": min(threshold + half, 1.0),
                "coverage": float(auto.mean()),
                "error": float(np.mean(decided[auto] != y[auto])) if auto.any() else np.nan,
            }
        )
    return pd.DataFrame(rows)


def review_band(curve: pd.DataFrame, max_error: float) -> pd.Series:
    """The rule: the narrowest band whose automatic decisions err at most max_error (the widest
    band when none does)."""
    ok = curve[curve["error"] <= max_error]
    return ok.iloc[0] if len(ok) else curve.iloc[-1]


def band_on_test(y, p, threshold, band: pd.Series, n_boot: int, seed: int = 0) -> dict:
    """The validation-chosen band applied to test: coverage and the automatic error, with CI."""
    y, p = np.asarray(y), np.asarray(p)
    auto = automatic(p, threshold, band["half_width"])
    decided = (p >= threshold).astype(int)
    wrong = (decided != y).astype(float)
    if not auto.any():
        return {"coverage": 0.0, "error": np.nan, "error_lo": np.nan, "error_hi": np.nan}
    point, lo, hi = bootstrap_ci(
        lambda t, s: float(np.mean(s)), y[auto], wrong[auto], n_boot=n_boot, seed=seed
    )
    return {"coverage": float(auto.mean()), "error": point, "error_lo": lo, "error_hi": hi}


def plot_risk_coverage(
    val: pd.DataFrame, test: pd.DataFrame, band: pd.Series, png: Path, items: str = "cases"
) -> None:
    fig, ax = plt.subplots(figsize=(5.6, 3.6))
    ax.plot(val["coverage"], val["error"], label="validation (chooses the band)")
    ax.plot(test["coverage"], test["error"], linestyle="--", label="test (checks it)")
    ax.plot(band["coverage"], band["error"], "o", color="black")
    ax.annotate(
        f"band [{band['band_lo']:.2f}, {band['band_hi']:.2f}]",
        (band["coverage"], band["error"]), textcoords="offset points", xytext=(-10, 10),
        ha="right", fontsize=8,
    )  # fmt: skip
    ax.set_xlabel("coverage (share decided automatically)")
    ax.set_ylabel("error among automatic decisions")
    ax.set_title(f"Risk-coverage: {items} inside the band go to a human", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    save_figure(fig, png)


def review_band_analysis(
    y_val, p_val, y_test, p_test, threshold: float, max_error: float, n_boot: int,
    results: Path, probability: str, items: str = "cases",
) -> dict:  # fmt: skip
    """The band chosen on validation by max_error, checked on test: results/risk_coverage.csv
    (both curves), review_band.csv and risk_coverage.png. p_* are the probabilities the decision
    threshold applies to (calibrated where the project calibrates)."""
    val = risk_coverage(y_val, p_val, threshold)
    test = risk_coverage(y_test, p_test, threshold)
    band = review_band(val, max_error)
    checked = band_on_test(y_test, p_test, threshold, band, n_boot)
    curves = pd.concat([val.assign(split="val"), test.assign(split="test")], ignore_index=True)
    write_table(results, "risk_coverage", curves, digits=4)
    row = {
        "probability": probability,
        "max_error": max_error,
        "threshold": threshold,
        "band_lo": band["band_lo"],
        "band_hi": band["band_hi"],
        "val_coverage": band["coverage"],
        "val_error": band["error"],
        **{f"test_{k}": v for k, v in checked.items()},
    }
    write_table(results, "review_band", pd.DataFrame([row]), digits=4)
    plot_risk_coverage(val, test, band, Path(results) / "risk_coverage.png", items)
    return row


def review_band_block(
    band: pd.Series, config_key: str, items: str = "cases", after: str = "",
    before: float | None = None,
) -> str:  # fmt: skip
    """The band chosen on validation and what it did on test, judged with its CI, above its
    risk-coverage figure. `after` says what the threshold's probabilities are (" after
    temperature"); `before` names the same rule's threshold before calibration where a table shows
    that one, so the two numbers do not read as a contradiction."""
    same = "" if before is None else f" ({before:.3f} before, the ladder's)"
    err, lo, hi = band["test_error"], band["test_error_lo"], band["test_error_hi"]
    target = band["max_error"]
    return "\n".join(
        [
            f"- Rule (`{config_key}={target:g}`): the narrowest band around the decision "
            f"threshold {band['threshold']:.3f}{after}{same} whose automatic decisions on "
            f"**validation** err at most {target:.0%}.",
            f"- Chosen band: {band.get('probability', 'P(positive)')} in "
            f"**[{band['band_lo']:.2f}, {band['band_hi']:.2f}]** goes to a human; on validation "
            f"it decides {band['val_coverage']:.0%} of {items} automatically with "
            f"{band['val_error']:.1%} errors.",
            f"- On test it decides {band['test_coverage']:.0%} automatically; their error rate "
            f"{err:.3f} [{lo:.3f}, {hi:.3f}] (95% bootstrap CI) vs the <= {target:g} rule: "
            f"**{verdict(lo, hi, target, higher_is_better=False)}**.",
            "",
            "![risk-coverage](results/risk_coverage.png)",
        ]
    )
