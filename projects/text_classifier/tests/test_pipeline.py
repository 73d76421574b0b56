"""The real entrypoints on the smoke config: train, predict round trip, search + resume, CLI errors."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
from conftest import PROJECT
from mlcraft.cli import run_cli
from text_classifier.__main__ import main
from text_classifier.config import load

HEADLINE = [
    "test_accuracy_finetuned", "test_accuracy_tfidf", "test_accuracy_majority",
    "test_macro_f1_finetuned", "test_macro_f1_tfidf", "ece_before_temperature",
    "ece_after_temperature", "worst_perturbation", "worst_perturbation_flip_rate",
    "inference_examples_per_s", "wall_seconds",
]  # fmt: skip


def test_smoke_train_writes_a_complete_run(smoke_run):
    summary, run_dir = smoke_run
    head = summary["headline"]
    for key in HEADLINE:
        assert head[key] is not None, key
    # TF-IDF must learn something even on ~170 reviews: above the majority's macro-F1 (~0.45).
    assert head["test_macro_f1_tfidf"] > 0.55
    results = run_dir / "results"
    for name in ("ladder.csv", "calibration.csv", "robustness.csv", "slices.csv", "errors.csv",
                 "reliability.png", "summary.json", "tokenizer_splits.csv"):  # fmt: skip
        assert (results / name).is_file(), name
    assert json.loads((results / "summary.json").read_text())["headline"] == head
    ladder = pd.read_csv(results / "ladder.csv")
    assert list(ladder["rung"]) == ["majority", "tfidf", "frozen", "finetune"]
    assert (ladder["accuracy_lo"] <= ladder["accuracy"]).all()
    assert (ladder["accuracy"] <= ladder["accuracy_hi"]).all()
    assert (run_dir / "model" / "model.safetensors").is_file()
    assert (
        summary["finetune_vs_tfidf_macro_f1"]["lo"] <= summary["finetune_vs_tfidf_macro_f1"]["hi"]
    )


def test_predict_round_trip(smoke_run, tmp_path):
    _, run_dir = smoke_run
    texts = ["Love it! Fits perfectly, so soft.", "Cheap fabric, ripped after one wash. Returned."]
    pd.DataFrame({"text": texts, "id": [1, 2]}).to_csv(tmp_path / "in.csv", index=False)
    out = tmp_path / "out.csv"
    for rung in ("finetune", "tfidf"):
        code = run_cli(main, ["predict", "--model", str(run_dir), "--input",
                              str(tmp_path / "in.csv"), "--output", str(out), "--rung", rung])  # fmt: skip
        assert code == 0
        pred = pd.read_csv(out)
        assert pred["id"].tolist() == [1, 2] and len(pred) == 2
        probs = pred[["prob_0", "prob_1"]].to_numpy()
        assert np.allclose(probs.sum(1), 1, atol=1e-4)
        assert set(pred["predicted_label"].astype(str)) <= {"0", "1"}
    # Same model, same input, same answer (the round trip is deterministic).
    again = tmp_path / "again.csv"
    run_cli(main, ["predict", "--model", str(run_dir), "--input", str(tmp_path / "in.csv"),
                   "--output", str(again), "--rung", "tfidf"])  # fmt: skip
    assert pd.read_csv(again).equals(pd.read_csv(out))


def test_evaluate_rescores_a_saved_run(smoke_run, capsys):
    _, run_dir = smoke_run
    smoke = str(PROJECT / "configs" / "smoke.yaml")
    assert run_cli(main, ["evaluate", "--config", smoke, "--model", str(run_dir)]) == 0
    out = capsys.readouterr().out
    assert "accuracy" in out and "macro_f1" in out


def test_predict_bad_inputs(smoke_run, tmp_path, capsys):
    _, run_dir = smoke_run
    pd.DataFrame({"body": ["x"]}).to_csv(tmp_path / "in.csv", index=False)
    args = ["predict", "--model", str(run_dir), "--input", str(tmp_path / "in.csv")]
    assert run_cli(main, args) == 2
    assert "no text column 'text'" in capsys.readouterr().err
    assert not (tmp_path / "in.predictions.csv").exists()  # nothing half-written
    missing_model = ["predict", "--model", str(tmp_path), "--input", str(tmp_path / "in.csv")]
    assert run_cli(main, missing_model) == 2
    assert "no meta.json" in capsys.readouterr().err


def test_config_errors_name_the_key(capsys):
    smoke = str(PROJECT / "configs" / "smoke.yaml")
    assert run_cli(main, ["train", "--config", smoke, "--set", "finetune.lrr=1"]) == 2
    assert "finetune.lrr" in capsys.readouterr().err
    assert run_cli(main, ["train", "--config", smoke, "--set", "finetune.epochs=many"]) == 2
    assert "finetune.epochs" in capsys.readouterr().err


def test_search_runs_two_trials_and_resumes(tmp_store):
    from text_classifier.search import search

    storage = f"sqlite:///{tmp_store / 'optuna.db'}"
    overrides = [
        f"search.storage={storage}", "search.n_trials=2", "data.max_rows=120",
        "finetune.train_subsample=16", "finetune.max_steps=1", "finetune.val_subsample=16",
        "search.epochs=[1, 2]", "model.max_length=16", "finetune.batch_size=8",
    ]  # fmt: skip
    cfg = load(PROJECT / "configs" / "search.yaml", overrides)
    study = search(cfg)
    assert len(study.trials) == 2
    resumed = search(load(PROJECT / "configs" / "search.yaml", [*overrides, "search.n_trials=3"]))
    assert len(resumed.trials) == 3  # two kept from storage, one new
    assert resumed.trials[0].params == study.trials[0].params
    # the committed search config parses and names the study the reference run documents
    assert load(PROJECT / "configs" / "search.yaml").search.n_trials >= 20
