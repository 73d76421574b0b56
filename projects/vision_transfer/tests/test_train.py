"""Training: a smoke fine-tune learns; the smoke config runs end to end; predict round-trips."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from mlcraft.cli import run_cli
from vision_transfer import data, models
from vision_transfer.__main__ import main
from vision_transfer.augment import Normalizer, augment
from vision_transfer.config import DataConfig, FineTuneConfig, ModelConfig
from vision_transfer.evaluate import predict_logits, softmax
from vision_transfer.train import fit

HEADLINE = {
    "test_accuracy_finetuned", "test_accuracy_linear_probe", "test_accuracy_scratch",
    "test_accuracy_classical", "test_balanced_accuracy_finetuned",
    "test_defective_recall_finetuned", "ece_before_temperature", "ece_after_temperature",
    "best_augmentation", "train_images_per_s", "data_wait_fraction", "wall_seconds",
}  # fmt: skip


def test_smoke_finetune_lowers_loss():
    cfg = DataConfig(kind="synthetic", image_size=48, synthetic_per_class=24, test_fraction=0.2)
    loaded = data.load(cfg)
    parts = data.split(loaded, cfg)
    model = models.build(ModelConfig(), num_classes=2)
    norm = Normalizer([0.5] * 3, [0.5] * 3)
    ft = FineTuneConfig(epochs=4, batch_size=16, warmup_epochs=0.5, patience=10, augment="none")
    result = fit(model, loaded.images, loaded.labels, parts["train"], parts["val"], ft, norm, 0)
    losses = [row["train_loss"] for row in result.history]
    assert losses[-1] < 0.5 * losses[0], losses
    assert result.history[-1]["val_accuracy"] >= 0.7
    assert result.train_images_per_s > 0 and 0 <= result.timer["data_wait_fraction"] < 0.5


@pytest.mark.parametrize("policy", ["none", "geometric", "photometric", "aggressive"])
def test_augmentations_keep_shape_and_range(policy):
    x = torch.rand(6, 1, 24, 24)
    out = augment(x, policy, torch.Generator().manual_seed(0))
    assert out.shape == x.shape and float(out.min()) >= 0 and float(out.max()) <= 1.0001
    if policy == "none":
        assert torch.equal(out, x)
    else:
        assert not torch.equal(out, x)


def test_smoke_run_writes_everything(smoke_run):
    summary, results = smoke_run["summary"], smoke_run["results"]
    assert set(summary["headline"]) >= HEADLINE
    for name in ("ladder.csv", "ablation.csv", "calibration.csv", "profiling.csv", "summary.json"):
        assert (results / name).is_file(), name
    ladder = pd.read_csv(results / "ladder.csv")
    assert ladder["rung"].iloc[0] == "majority class" and len(ladder) == 7
    # Generated cracks are easy: the pretrained rungs must beat the majority class.
    assert summary["headline"]["test_accuracy_linear_probe"] > 0.75
    assert (ladder["accuracy_lo"] <= ladder["accuracy"]).all()
    assert (ladder["accuracy"] <= ladder["accuracy_hi"]).all()
    # The target is < 60 s on 2 idle cores; the margin absorbs a shared, busy machine.
    assert summary["headline"]["wall_seconds"] < 120


def test_predict_round_trip(smoke_run, tmp_path, capsys):
    model_dir = smoke_run["summary"]["model_dir"]
    folder = data.write_synthetic_folder(tmp_path / "new", n_per_class=4, size=48, seed=7)
    (folder / "plain" / "bad.png").write_bytes(b"garbage")
    out = tmp_path / "pred.csv"
    assert (
        main(["predict", "--model", model_dir, "--input", str(folder), "--output", str(out)]) == 0
    )
    assert "skipped 1 unreadable" in capsys.readouterr().out
    frame = pd.read_csv(out)
    assert len(frame) == 8 and set(frame["predicted"]) <= {"plain", "cracked"}
    assert np.allclose(frame[["p_cracked", "p_plain"]].sum(axis=1), 1.0)
    # The same model loaded in-process gives the same probabilities.
    model, meta = models.load_run(model_dir)
    loaded = data.load(DataConfig(kind="folder", path=str(folder), image_size=48))
    norm = Normalizer(meta["mean"], meta["std"], channels_last=False)
    prob = softmax(
        predict_logits(model, loaded.images, norm, tta=meta["tta"])[0], meta["temperature"]
    )
    by_name = dict(zip(frame["file"], frame["p_cracked"], strict=True))
    files = [str(p).split("new/")[1] for p in loaded.meta["path"]]
    assert np.allclose([by_name[f] for f in files], prob[:, 1], atol=1e-5)
    meta_file = json.loads((Path(model_dir) / "model.json").read_text())
    assert meta_file["classes"] == ["plain", "cracked"]


def test_evaluate_reproduces_the_runs_test_accuracy(smoke_run):
    from vision_transfer.evaluate import evaluate_run

    result = evaluate_run(smoke_run["cfg"], smoke_run["summary"]["model_dir"])
    head = smoke_run["summary"]["headline"]
    # The saved threshold lives on temperature-scaled probabilities: same decisions as in training.
    assert result["accuracy"] == pytest.approx(head["test_accuracy_finetuned"])
    assert result["roc_auc"] == pytest.approx(head["test_roc_auc_finetuned"])


def test_cli_bad_input_is_one_line_error(tmp_path, capsys):
    assert run_cli(main, ["predict", "--model", str(tmp_path), "--input", str(tmp_path)]) == 2
    assert "not a model run dir" in capsys.readouterr().err
    config = tmp_path / "bad.yaml"
    config.write_text("finetune:\n  epohcs: 3\n")
    assert run_cli(main, ["train", "--config", str(config)]) == 2
    assert "unknown config key 'finetune.epohcs'" in capsys.readouterr().err
