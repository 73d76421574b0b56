"""The README's numbers come from results/ (rendered by `python -m repro_training report`)."""

import json
from pathlib import Path

import pytest
from mlcraft.reporting import stale_blocks
from repro_training.config import load, to_dict
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
    # the published run ran the reference config (keys added since then aside)
    reference = to_dict(load(PROJECT / "configs" / "default.yaml"))
    assert _common_differences(summary["config"], reference) == []


def _common_differences(published, reference, prefix=""):
    if isinstance(published, dict) and isinstance(reference, dict):
        out = []
        for key in published.keys() & reference.keys():
            out += _common_differences(published[key], reference[key], f"{prefix}{key}.")
        return out
    return [] if published == reference else [prefix.rstrip(".")]


def test_faults_block_sits_in_operator_notes():
    text = (PROJECT / "README.md").read_text()
    section = text.split("\n## Operator notes\n", 1)[1].split("\n## ", 1)[0]
    assert "<!-- generated:faults -->" in section and "<!-- /generated:faults -->" in section


@needs_results
def test_blocks_leave_out_what_a_run_did_not_measure(tmp_path):
    """A smoke-like run (only the ladder and seeds) renders those blocks and skips the others;
    a faults table, when present, becomes the faults block."""
    import shutil

    for name in ("summary.json", "ladder.csv", "seeds.csv"):
        shutil.copy(RESULTS / name, tmp_path / name)
    summary = json.loads((tmp_path / "summary.json").read_text())
    for key in ("resume_kill", "resume_variants", "ddp", "profile"):
        summary.pop(key)
    (tmp_path / "summary.json").write_text(json.dumps(summary))
    out = blocks(tmp_path)
    assert set(out) == {"summary", "headline", "reproduce", "ladder", "seeds"}
    (tmp_path / "faults.csv").write_text(
        "fault,exit_code,message,files_left,results_unchanged,ok\n"
        "bad value,2,error: bad value for 'train.epochs',0,True,True\n"
    )
    assert "| bad value | 2 |" in blocks(tmp_path)["faults"]
    (tmp_path / "ladder.csv").unlink()
    with pytest.raises(FileNotFoundError):  # the ladder is never optional: a bug, not a skip
        blocks(tmp_path)
