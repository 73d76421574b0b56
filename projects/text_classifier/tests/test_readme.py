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


# Facts of the setup, not results: exit codes of a killed run (SIGTERM 143, Ctrl-C 130) and the
# Apache-2.0 licence version.
SETUP_NUMBERS = {"143", "130", "2.0"}


def test_readme_prose_types_no_results():
    """Every measured number lives in a generated block; the hand-written prose types none."""
    from mlcraft.reporting import typed_numbers

    assert typed_numbers((PROJECT / "README.md").read_text(), SETUP_NUMBERS) == []


def test_readme_opens_with_question_answer_and_commands():
    text = (PROJECT / "README.md").read_text()
    order = ["**Question.**", "<!-- generated:answer -->", "```bash", "## Reproduce"]
    positions = [text.index(marker) for marker in order]
    assert positions == sorted(positions)
