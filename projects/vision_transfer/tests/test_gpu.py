"""CUDA end to end (`nox -s tests-gpu` runs the tests marked gpu): the smoke train on the GPU,
with every augmentation policy in play, then predict from its run folder."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import torch
from conftest import SMOKE, scratch_env
from vision_transfer import data
from vision_transfer.__main__ import main

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]


def test_smoke_train_and_predict_on_cuda(tmp_path, monkeypatch):
    runs = scratch_env(monkeypatch, tmp_path)
    # photometric for the main fine-tune, aggressive in the ablation: both draw random tensors.
    sets = ["device=cuda", "finetune.augment=photometric"]
    assert main(["train", "--config", SMOKE, *[a for s in sets for a in ("--set", s)]]) == 0
    (run,) = (runs / "vision_transfer").iterdir()
    summary = json.loads((run / "results" / "summary.json").read_text())
    assert summary["hardware"]["gpu"]  # it really ran where torch saw a GPU
    assert 0 <= summary["headline"]["test_accuracy_finetuned"] <= 1
    images = data.write_synthetic_folder(tmp_path / "imgs", n_per_class=3, size=48)
    out = tmp_path / "pred.csv"
    assert main(["predict", "--model", str(run), "--input", str(images), "--output", str(out)]) == 0
    assert (pd.read_csv(out)["status"] == "ok").all()
