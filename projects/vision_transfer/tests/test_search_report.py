"""The Optuna search resumes; the README agrees with the committed results."""

from __future__ import annotations

import json
from pathlib import Path

import optuna
import pandas as pd
from mlcraft.reporting import stale_blocks
from vision_transfer.config import load
from vision_transfer.report import blocks
from vision_transfer.search import run_search

PROJECT = Path(__file__).resolve().parents[1]


def test_search_two_tiny_trials_then_resume(tmp_path):
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    overrides = [
        f"search.storage={storage}", "search.n_trials=2", "search.pruner=none",
        "data.kind=synthetic", "data.image_size=32", "data.synthetic_per_class=12",
        "finetune.epochs=1", "finetune.batch_size=8", "channels_last=false",
        f"output.results_dir={tmp_path / 'out'}",
    ]  # fmt: skip
    study = run_search(load(PROJECT / "configs" / "search.yaml", overrides))
    assert len(study.trials) == 2
    assert {"lr_head", "lr_backbone", "unfrozen_stages", "augment_strength"} <= set(
        study.trials[0].params
    )
    # Rerunning with a larger budget resumes the same study instead of starting over.
    resumed = run_search(
        load(PROJECT / "configs" / "search.yaml", [*overrides, "search.n_trials=3"])
    )
    assert len(resumed.trials) == 3
    states = {t.state for t in resumed.trials}
    assert states == {optuna.trial.TrialState.COMPLETE}
    assert (tmp_path / "out" / "search_trials.csv").is_file()


def test_readme_agrees_with_results():
    results = PROJECT / "results"
    summary = json.loads((results / "summary.json").read_text())
    head = summary["headline"]
    for key in (
        "test_accuracy_finetuned", "test_accuracy_linear_probe", "test_accuracy_scratch",
        "test_accuracy_classical", "test_balanced_accuracy_finetuned",
        "test_defective_recall_finetuned", "ece_before_temperature", "ece_after_temperature",
        "best_augmentation", "train_images_per_s", "data_wait_fraction", "wall_seconds",
    ):  # fmt: skip
        assert key in head, key
    assert summary["config"]["data"]["kind"] == "elpv"
    assert stale_blocks(PROJECT / "README.md", blocks(results)) == []


def test_target_verdicts_follow_the_numbers():
    from vision_transfer import readings

    results = PROJECT / "results"
    summary = json.loads((results / "summary.json").read_text())
    ladder = pd.read_csv(results / "ladder.csv")
    full = ladder["rung"].str.startswith("full fine-tune")
    summary["headline"].update(wall_seconds=700.0, data_wait_fraction=0.2)
    ladder.loc[full, "accuracy"] = 0.95
    table = readings.targets_block(summary, ladder).splitlines()
    verdict = {line.split(" | ")[0].strip("| "): line.split(" | ")[-1] for line in table[2:]}
    assert verdict["fine-tuned test accuracy"] == "**met** |"
    assert verdict["data wait share of step time"] == "**missed** |"
    assert verdict["reference run wall time (config's own budget)"] == "**met** |"
    ladder.loc[full, "accuracy"] = 0.80
    assert "| fine-tuned test accuracy | >= 0.89 | 0.800 | **missed** |" in (
        readings.targets_block(summary, ladder)
    )
