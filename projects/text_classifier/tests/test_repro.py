"""The Reproduce section's facts come from published runs: a repeat is claimed only for a rung
that two runs trained with the same inputs on the same machine, and only as far as it held."""

from __future__ import annotations

import copy
import json

import pandas as pd
from text_classifier.repro import SCORES, reproducibility_block

SUMMARY = {
    "seed": 0, "git_sha": "a" * 40,
    "hardware": {"cpu_model": "Some CPU", "cpu_count": 2, "gpu": None},
    "config": {"torch_threads": None, "tfidf": {"n_trials": 12}, "model": {"m": 1},
               "finetune": {"train_subsample": 5000}},
    "data_description": {"source": "/x", "rows_used": 10, "test_rows": 3},
    "token_lengths": {"max_length": 136},
    "rung_details": {"finetune": {"train_examples": 5000}},
}  # fmt: skip


def _publish(folder, summary, ladder):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "summary.json").write_text(json.dumps(summary))
    ladder.to_csv(folder / "ladder.csv", index=False)


def _ladder(shift=0.0):
    rows = [{"rung": r, **{c: 0.5 for c in SCORES}} for r in ("tfidf", "finetune")]
    rows[0]["macro_f1"] += shift
    return pd.DataFrame(rows)


def test_identical_repeat_is_reported_and_the_rest_is_not_measured(tmp_path):
    full = copy.deepcopy(SUMMARY)
    full["config"]["finetune"] = {"train_subsample": None}  # a different fine-tune budget
    full["learning_curve"] = {"summary": [
        {"train_reviews": 1600, "model": "tfidf", "seeds": 3, "test_macro_f1_sd": 0.0123}]}  # fmt: skip
    _publish(tmp_path, SUMMARY, _ladder())
    _publish(tmp_path / "full", full, _ladder())
    text = reproducibility_block(tmp_path)
    assert "TF-IDF ran in two published runs (commits aaaaaaa, aaaaaaa) with the same data" in text
    assert f"{len(SCORES)} of {len(SCORES)} test values" in text and "identical" in text
    assert "fine-tuned MiniLM: **not measured**" in text
    assert "no training run published; staying within the CIs there is **not measured**" in text
    assert "tfidf 0.0123; at the reference budget **not measured**" in text


def test_a_changed_score_or_another_machine_is_no_bitwise_claim(tmp_path):
    _publish(tmp_path, SUMMARY, _ladder())
    _publish(tmp_path / "full", SUMMARY, _ladder(shift=1e-9))
    text = reproducibility_block(tmp_path)
    tfidf = text.split("TF-IDF ran", 1)[1].split(";", 1)[0]  # the same-settings fine-tune: its own
    assert f"{len(SCORES) - 1} of {len(SCORES)} test values" in tfidf and "identical" not in tfidf
    ref, other = copy.deepcopy(SUMMARY), copy.deepcopy(SUMMARY)
    ref["config"]["torch_threads"], other["config"]["torch_threads"] = 2, 1  # both recorded
    _publish(tmp_path, ref, _ladder())
    _publish(tmp_path / "full", other, _ladder())
    text = reproducibility_block(tmp_path)
    assert "TF-IDF, fine-tuned MiniLM: **not measured**" in text
    assert "ran on another machine" in text
    assert "seed-to-seed spread is **not measured**" in text


def test_a_run_that_did_not_record_its_threads_is_compared_and_the_gap_said(tmp_path):
    """A run from before torch_threads was recorded is not 'another machine': its CPU model,
    cores and GPU match, and the block says its thread count is unknown."""
    ref = copy.deepcopy(SUMMARY)
    ref["torch_threads"] = 2
    _publish(tmp_path, ref, _ladder())
    _publish(tmp_path / "full", SUMMARY, _ladder())
    text = reproducibility_block(tmp_path)
    assert "TF-IDF ran in two published runs" in text and "identical" in text
    assert "(the bigger budget run did not record its thread count)" in text
    assert "ran on another machine" not in text
