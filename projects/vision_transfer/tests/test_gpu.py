"""CUDA end to end (`nox -s tests-gpu` runs the tests marked gpu): the smoke train on the GPU,
with every augmentation policy in play, then predict from its run folder."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import SMOKE, scratch_env
from vision_transfer import data, models
from vision_transfer.__main__ import main
from vision_transfer.augment import Normalizer
from vision_transfer.config import DataConfig, FineTuneConfig, ModelConfig
from vision_transfer.train import fit

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]


def test_smoke_train_and_predict_on_cuda(tmp_path, monkeypatch):
    runs = scratch_env(monkeypatch, tmp_path)
    # photometric for the main fine-tune, aggressive in the ablation: both draw random tensors;
    # channels_last and bf16 decided by the grid on the GPU, a GPU batch with scaled LRs.
    sets = ["device=cuda", "finetune.augment=photometric", "channels_last=auto", "bf16=auto",
            "finetune.gpu_batch_size=24"]  # fmt: skip
    assert main(["train", "--config", SMOKE, *[a for s in sets for a in ("--set", s)]]) == 0
    (run,) = (runs / "vision_transfer").iterdir()
    summary = json.loads((run / "results" / "summary.json").read_text())
    assert summary["hardware"]["gpu"]  # it really ran where torch saw a GPU
    assert summary["accel"]["decided_by"] == "profiling grid" and len(summary["accel"]["grid"]) == 4
    assert summary["accel"]["training"].startswith("batch 24 on cuda")
    assert 0 <= summary["headline"]["test_accuracy_finetuned"] <= 1
    images = data.write_synthetic_folder(tmp_path / "imgs", n_per_class=3, size=48)
    out = tmp_path / "pred.csv"
    assert main(["predict", "--model", str(run), "--input", str(images), "--output", str(out)]) == 0
    assert (pd.read_csv(out)["status"] == "ok").all()


def test_a_compiled_fit_on_cuda_learns():
    cfg = DataConfig(kind="synthetic", image_size=48, synthetic_per_class=24, test_fraction=0.2)
    loaded = data.load(cfg)
    parts = data.split(loaded, cfg)
    torch.manual_seed(0)
    model = models.build(ModelConfig(), num_classes=2)
    norm = Normalizer([0.5] * 3, [0.5] * 3, device="cuda")
    ft = FineTuneConfig(epochs=4, batch_size=16, gpu_batch_size=16, warmup_epochs=0.5,
                        patience=10, augment="aggressive", compile=True)  # fmt: skip
    result = fit(model, loaded.images, loaded.labels, parts["train"], parts["val"], ft, norm, 0,
                 autocast=True)  # fmt: skip
    losses = [row["train_loss"] for row in result.history]
    assert all(np.isfinite(losses)) and losses[-1] < losses[0], losses
