"""The generated verdicts must follow the numbers, not a hand-typed story."""

from __future__ import annotations

import copy
import json

import pandas as pd
import pytest
from conftest import PROJECT
from text_classifier import narrative

RESULTS = PROJECT / "results"
needs_run = pytest.mark.skipif(
    not (RESULTS / "summary.json").is_file(), reason="no reference run yet"
)


@pytest.fixture(scope="module")
def reference():
    return json.loads((RESULTS / "summary.json").read_text()), pd.read_csv(RESULTS / "ladder.csv")


def _with_diff(summary, lo, hi):
    out = copy.deepcopy(summary)
    out["finetune_vs_tfidf_macro_f1"].update({"diff": (lo + hi) / 2, "lo": lo, "hi": hi})
    return out


@needs_run
def test_verdict_follows_the_paired_interval(reference):
    summary, ladder = reference
    win = narrative.answer_block(_with_diff(summary, 0.01, 0.03), ladder, False)
    loss = narrative.answer_block(_with_diff(summary, -0.03, -0.01), ladder, False)
    tie = narrative.answer_block(_with_diff(summary, -0.01, 0.02), ladder, False)
    assert "yes, the fine-tune is better" in win and "no, TF-IDF is better" in loss
    assert "statistically tied" in tie
    assert narrative.budget_row("r", _with_diff(summary, 0.01, 0.03), ladder)["verdict"] == (
        "the fine-tune is better"
    )
    assert narrative.budget_row("r", _with_diff(summary, -0.01, 0.02), ladder)[
        "verdict"
    ].startswith("a tie")
    rows = narrative.targets(_with_diff(summary, 0.01, 0.03))
    assert rows[0]["result"] == "**met**"
    tied = narrative.targets(_with_diff(summary, -0.01, 0.02))[0]["result"]
    assert tied.startswith("**inconclusive**") and "spans the target" in tied
    assert narrative.targets(_with_diff(summary, -0.03, -0.01))[0]["result"] == "**missed**"


@needs_run
def test_targets_are_judged_on_their_intervals(reference):
    summary, _ = reference
    s = copy.deepcopy(summary)
    s["headline"].update({"ece_after_temperature": 0.017, "ece_after_temperature_lo": 0.015,
                          "ece_after_temperature_hi": 0.019})  # fmt: skip
    s["bucketing"] = {"speedup": 1.49, "speedup_lo": 1.40, "speedup_hi": 1.55}
    s["wall_seconds"] = 31 * 60
    result = {r["target"].split(" ")[0]: r["result"] for r in narrative.targets(s)}
    assert result["ECE"] == "**met**"
    assert result["length"].startswith("**inconclusive**")  # 1.5 is inside [1.40, 1.55]
    assert result["reference"] == "**missed**"
    s["headline"]["ece_after_temperature_hi"] = 0.025  # the CI now spans 0.02
    result = {r["target"].split(" ")[0]: r["result"] for r in narrative.targets(s)}
    assert result["ECE"].startswith("**inconclusive**")


def test_reliability_gaps_name_the_weighted_worst_and_every_big_bin():
    bins = pd.DataFrame(
        {
            "lower": [0.7, 0.8, 0.9],
            "upper": [0.8, 0.9, 1.0],
            "count": [40, 500, 31],
            "mean_predicted": [0.75, 0.85, 0.93],
            "observed": [0.55, 0.80, 0.80],  # gaps 0.20 (n 40), 0.05 (n 500), 0.13 (n 31)
        }
    )
    text = narrative.reliability_gaps(bins)
    assert text.startswith("the largest count-weighted gap is bin 0.80-0.90")
    assert "bin 0.70-0.80" in text and "bin 0.90-1.00" in text


def test_speedup_interval_needs_enough_batches():
    from text_classifier.evaluate import speedup_ci

    slow, fast = [2.0, 2.2, 1.8, 2.1, 1.9, 2.0], [1.0, 1.1, 0.9, 1.0, 1.05, 0.95]
    out = speedup_ci(slow, fast, n_boot=200, seed=0)
    assert out["speedup"] == pytest.approx(2.0) and out["lo"] <= 2.0 <= out["hi"]
    few = speedup_ci(slow[:4], fast[:4], n_boot=200, seed=0)
    assert few["lo"] is None and few["hi"] is None
    text = narrative.bucketing_verdict({"speedup": few["speedup"], "speedup_lo": None})
    assert "no verdict" in text


def test_temperature_lowered_ece_only_when_the_paired_ci_of_the_change_clears_zero():
    row = {"model": "finetune", "temperature": 1.04, "bins": 15, "ece_before": 0.024,
           "ece_after": 0.021}  # fmt: skip
    old = narrative.calibration_reading({}, pd.DataFrame([row]), None)
    assert "lowered" not in old and "no CI of the change recorded" in old
    for (lo, hi), word in {(-0.006, -0.001): "lowered ECE", (-0.006, 0.001): "ECE unchanged "
                           "within noise", (0.001, 0.004): "raised ECE"}.items():  # fmt: skip
        cal = pd.DataFrame(
            [{**row, "ece_change": -0.003, "ece_change_lo": lo, "ece_change_hi": hi}]
        )
        text = narrative.calibration_reading({}, cal, None)
        assert word in text and f"[95% CI {lo:+.3f}, {hi:+.3f}]" in text, text


def _robustness(sample_extra):
    summary = {"config": {"data": {"path": None}},
               "robustness_sample": {"rows": 150, "of_test_rows": 3397, "seed": 0,
                                     "selection": "label-stratified random", **sample_extra}}  # fmt: skip
    ladder = pd.DataFrame([{"rung": "tfidf", "accuracy": 0.918, "accuracy_lo": 0.909,
                            "accuracy_hi": 0.927}])  # fmt: skip
    rob = pd.DataFrame([{"perturbation": "none", "accuracy_tfidf": 0.88}])
    return narrative.robustness_sample(summary, ladder, rob)


def test_robustness_sample_gap_is_explained_by_the_same_rows_not_by_prose():
    assert "cannot tell a harder draw from a scoring difference" in _robustness({})
    same = {"test_split_accuracy_same_rows": 0.88, "agreement_with_test_split": 1.0}
    text = _robustness({"tfidf": same})
    assert "score 0.880 (TF-IDF) and agree with the clean ones on 100.0%" in text
    assert "the gap is the draw of rows, not the robustness code" in text
    off = _robustness({"tfidf": {**same, "agreement_with_test_split": 0.9}})
    assert "does not score as the ladder does" in off and "draw of rows" not in off


def test_error_quotes_name_file_rows_only_when_the_run_numbered_them_so():
    errors = pd.DataFrame([{"row_id": 7443, "text": "A great long swtr", "label": "0",
                            "predicted": "1", "confidence": 0.99, "kind": "other"}])  # fmt: skip
    kinds = pd.DataFrame([{"kind": "other", "count": 1}])
    new = narrative.errors_reading(kinds, errors, file_rows=True)
    assert "- row 7443, true '0', shown 0.99 for '1', other: \"A great long swtr\"" in new
    old = narrative.errors_reading(kinds, errors, file_rows=False)
    assert "7443" not in old and "- true '0', shown 0.99 for '1', other:" in old
