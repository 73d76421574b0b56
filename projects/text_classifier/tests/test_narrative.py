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
    win = narrative.summary_block(_with_diff(summary, 0.01, 0.03), ladder)
    loss = narrative.summary_block(_with_diff(summary, -0.03, -0.01), ladder)
    tie = narrative.summary_block(_with_diff(summary, -0.01, 0.02), ladder)
    assert "**beats** TF-IDF" in win and "loses by more" in loss and "statistically tied" in tie
    rows = narrative.targets(_with_diff(summary, 0.01, 0.03))
    assert rows[0]["result"] == "**met**"
    assert narrative.targets(_with_diff(summary, -0.01, 0.02))[0]["result"] == "**missed**"


@needs_run
def test_targets_use_the_thresholds(reference):
    summary, _ = reference
    s = copy.deepcopy(summary)
    s["headline"].update({"ece_after_temperature": 0.019, "bucketing_speedup": 1.49})
    s["wall_seconds"] = 31 * 60
    result = {r["target"].split(" ")[0]: r["result"] for r in narrative.targets(s)}
    assert result["ECE"] == "**met**"
    assert result["length"] == "**missed**"
    assert result["reference"] == "**missed**"
