"""Bring your own data: a synthetic 3-class set runs to the end on the smoke budget, and the data
audit flags (warn) or stops (error) on train/test overlap and label-revealing tokens."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from conftest import SMOKE
from mlcraft.cli import run_cli
from text_classifier.__main__ import main

WORDS = {
    "bug": ["crash", "error", "broken", "fails"],
    "feature": ["please", "add", "wish", "would"],
    "praise": ["great", "love", "thanks", "awesome"],
}
FILLER = ["the", "app", "today", "screen", "button", "page", "login", "update", "again", "my"]


def three_classes(n_per_class: int = 60, seed: int = 0) -> pd.DataFrame:
    """Texts whose class words overlap (no token reveals its class alone), all distinct."""
    rng = np.random.default_rng(seed)
    rows = []
    for label, words in WORDS.items():
        others = [w for other, ws in WORDS.items() if other != label for w in ws]
        for i in range(n_per_class):
            tokens = [*rng.choice(words, 2), *rng.choice(others, 1), *rng.choice(FILLER, 4)]
            rng.shuffle(tokens)
            rows.append({"body": " ".join(tokens) + f" n{label[0]}{i}", "kind": label})
    return pd.DataFrame(rows)


def _train(tmp_path, frame: pd.DataFrame, *more: str) -> list[str]:
    frame.to_csv(tmp_path / "own.csv", index=False)
    return [
        "train", "--config", SMOKE, "--run-dir", str(tmp_path / "run"), "--set",
        f"data.path={tmp_path / 'own.csv'}", "data.text_column=body", "data.label_column=kind",
        "rungs=[majority,tfidf,finetune]", *more,
    ]  # fmt: skip


@pytest.fixture(scope="module")
def three_class_run(tmp_path_factory, scratch_runs):
    tmp_path = tmp_path_factory.mktemp("three")
    assert main(_train(tmp_path, three_classes())) == 0
    return tmp_path / "run"


def test_three_classes_run_to_the_end(three_class_run):
    results = three_class_run / "results"
    per_class = pd.read_csv(results / "per_class.csv")
    assert sorted(per_class["class"].unique()) == sorted(WORDS)
    assert list(per_class["rung"].unique()) == ["majority", "tfidf", "finetune"]
    assert (per_class["recall_lo"] <= per_class["recall_hi"]).all()
    # multiclass calibration: top-label ECE, a reliability table and figure for k > 2
    cal = pd.read_csv(results / "calibration.csv")
    assert set(cal["model"]) == {"tfidf", "finetune"} and cal["ece_after"].between(0, 1).all()
    assert (results / "reliability.png").is_file()
    assert (pd.read_csv(results / "reliability.csv")["upper"] <= 1.0).all()
    # slice columns say what they measure: the share of each true class, for every class
    slices = pd.read_csv(results / "slices.csv")
    assert {f"share labelled {c}" for c in WORDS} <= set(slices.columns)
    assert "positive_rate" not in slices
    assert set(slices["slice"]) == {"text length (words)"}  # your texts are not reviews
    # error kinds without recommend / star-rating assumptions
    if (results / "error_kinds.csv").is_file():
        kinds = set(pd.read_csv(results / "error_kinds.csv")["kind"])
        assert kinds <= {"sarcasm", "mixed sentiment", "negation", "other"}
    report = (three_class_run / "REPORT.md").read_text()
    assert "| tfidf | praise |" in report  # the per-class block
    # the run's own config, data and words, not the reference data's
    assert f"| this run ({SMOKE}, data own.csv) |" in report and "| fine-tune texts |" in report
    assert "dropped for empty text (nothing in column 'body')" in report
    for reference_words in ("reference (configs/default.yaml)", "no title", "reviews",
                            "reference run <=", "star rating"):  # fmt: skip
        assert reference_words not in report, reference_words
    meta = json.loads((three_class_run / "model" / "meta.json").read_text())
    assert meta["classes"] == sorted(WORDS)


def test_audit_warns_on_overlap_and_leaky_tokens(tmp_path):
    frame = three_classes()
    frame = pd.concat([frame, frame.iloc[::3]], ignore_index=True)  # 60 texts twice
    frame.loc[frame["kind"] == "bug", "body"] += " zzbug"  # a token that gives the label away
    assert main(_train(tmp_path, frame, "rungs=[majority]")) == 0
    audit = pd.read_csv(tmp_path / "run" / "results" / "audit.csv")
    assert {"overlap", "leak"} <= set(audit["kind"])
    assert "zzbug" in set(audit["column"])
    report = (tmp_path / "run" / "REPORT.md").read_text()
    # the banner comes before any result
    assert report.index("Data audit:") < report.index("| rung | accuracy |")


def test_audit_error_stops_before_training(tmp_path, capsys):
    frame = three_classes()
    frame.loc[frame["kind"] == "bug", "body"] += " zzbug"
    argv = _train(tmp_path, frame, "data.audit=error")
    assert run_cli(main, argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: data.audit=error:"), err
    assert not (tmp_path / "run").exists()
    # off: no findings at all
    assert main(_train(tmp_path, frame, "data.audit=off", "rungs=[majority]")) == 0
    assert pd.read_csv(tmp_path / "run" / "results" / "audit.csv").empty
