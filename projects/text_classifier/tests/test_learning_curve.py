"""The bigger-budget path: configs/full.yaml validates, the learning curve runs end to end on the
smoke config, ends at the run's own rungs, and renders into the README blocks."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest
from conftest import PROJECT, SMOKE
from mlcraft.cli import run_cli
from text_classifier.__main__ import main
from text_classifier.config import load
from text_classifier.learning_curve import sizes_and_seeds
from text_classifier.report import blocks

CURVE = ["finetune.train_subsample=null", "learning_curve.sizes=[40,400]",
         "learning_curve.seeds=[0,1]", "learning_curve.all_seeds_up_to=40",
         "rungs=[majority,tfidf,finetune]", "analyses=false"]  # fmt: skip


def test_full_config_is_valid_and_fixes_its_curve():
    cfg = load(PROJECT / "configs" / "full.yaml")
    assert cfg.finetune.train_subsample is None and cfg.learning_curve.sizes
    points = sizes_and_seeds(cfg, 15_848)
    assert points[: len(cfg.learning_curve.seeds)] == [
        (cfg.learning_curve.sizes[0], seed) for seed in cfg.learning_curve.seeds
    ]
    assert all(seed == cfg.learning_curve.seeds[0] for size, seed in points
               if size > cfg.learning_curve.all_seeds_up_to)  # fmt: skip


@pytest.mark.parametrize("override, key", [
    ("finetune.train_subsample=100", "train_subsample"),
    ("rungs=[majority,tfidf]", "finetune rungs"),
    ("learning_curve.sizes=[400,40]", "increasing"),
])  # fmt: skip
def test_a_curve_that_cannot_end_at_the_run_is_refused(override, key, capsys):
    args = ["train", "--config", SMOKE, "--set", *CURVE, override]
    assert run_cli(main, args) == 2
    assert key in capsys.readouterr().err


def test_learning_curve_runs_and_renders(tmp_path):
    run_dir = tmp_path / "run"
    assert main(["train", "--config", SMOKE, "--set", *CURVE, "--run-dir", str(run_dir)]) == 0
    results = run_dir / "results"
    summary = json.loads((results / "summary.json").read_text())
    curve = pd.read_csv(results / "learning_curve.csv")
    train_rows = summary["data_description"]["train_rows"]
    # 40 reviews x 2 seeds, 400 >= the smoke split is skipped, then the run's own rungs
    assert curve["train_reviews"].tolist() == [40, 40, 40, 40, train_rows, train_rows]
    assert set(curve["model"]) == {"tfidf", "finetune"}
    assert ((curve["test_macro_f1_lo"] <= curve["test_macro_f1"])
            & (curve["test_macro_f1"] <= curve["test_macro_f1_hi"])).all()  # fmt: skip
    last = summary["finetune_vs_tfidf_macro_f1"]
    assert summary["learning_curve"]["differences"][-1]["diff"] == pytest.approx(last["diff"])
    assert (results / "learning_curve.png").is_file()

    published = tmp_path / "published"
    shutil.copytree(PROJECT / "results", published)
    shutil.rmtree(published / "full", ignore_errors=True)  # this run stands in for it
    shutil.copytree(results, published / "full")
    rendered = blocks(published)
    assert "bigger budget (configs/full.yaml)" in rendered["reproduce"]
    assert "Seed-to-seed spread" in rendered["full"] and "results/full/" in rendered["answer"]
