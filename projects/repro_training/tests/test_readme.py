"""The README's numbers come from results/ (rendered by `python -m repro_training report`)."""

import json
from pathlib import Path

import pytest
from mlcraft.reporting import stale_blocks
from repro_training.report import HEADLINE_KEYS, blocks

PROJECT = Path(__file__).resolve().parents[1]
RESULTS = PROJECT / "results"
REQUIRED = ["test_accuracy", "test_accuracy_ci95", "numpy_mlp_test_accuracy", "bitwise_identical",
            "resume_identical", "ddp_test_accuracy", "smoke_epoch_seconds", "wall_seconds"]  # fmt: skip

needs_results = pytest.mark.skipif(
    not (RESULTS / "summary.json").is_file(), reason="no reference run committed yet"
)


@needs_results
def test_readme_agrees_with_results():
    assert stale_blocks(PROJECT / "README.md", blocks(RESULTS)) == []


@needs_results
def test_reference_run_meets_its_targets():
    summary = json.loads((RESULTS / "summary.json").read_text())
    headline = summary["headline"]
    assert set(REQUIRED) <= set(headline) and set(REQUIRED) <= set(HEADLINE_KEYS)
    assert headline["bitwise_identical"] is True
    assert headline["resume_identical"] is True
    assert headline["smoke_epoch_seconds"] < 60
    assert summary["config"]["results_dir"] == "results"
