"""The README must agree with results/: every generated block re-renders to the same text."""

from __future__ import annotations

import json

import pytest
from conftest import PROJECT
from mlcraft.reporting import stale_blocks
from text_classifier.report import blocks

RESULTS = PROJECT / "results"


@pytest.mark.skipif(not (RESULTS / "summary.json").is_file(), reason="no reference run yet")
def test_readme_agrees_with_results():
    stale = stale_blocks(PROJECT / "README.md", blocks(RESULTS))
    assert stale == [], f"README blocks {stale} are stale: run `python -m text_classifier report`"


@pytest.mark.skipif(not (RESULTS / "summary.json").is_file(), reason="no reference run yet")
def test_reference_summary_has_headline_keys():
    head = json.loads((RESULTS / "summary.json").read_text())["headline"]
    for key in ("test_accuracy_finetuned", "test_accuracy_tfidf", "test_accuracy_majority",
                "test_macro_f1_finetuned", "test_macro_f1_tfidf", "ece_before_temperature",
                "ece_after_temperature", "worst_perturbation", "worst_perturbation_flip_rate",
                "inference_examples_per_s", "wall_seconds"):  # fmt: skip
        assert key in head and head[key] is not None, key
    assert head["test_accuracy_tfidf"] > head["test_accuracy_majority"]
