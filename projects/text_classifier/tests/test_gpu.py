"""CUDA end to end (`nox -s tests-gpu` runs the tests marked gpu): the smoke train with Lightning
on the GPU, then the fine-tuned model's logits on CUDA against the same model on the CPU."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from conftest import SMOKE
from text_classifier.__main__ import main
from text_classifier.models import load_tokenizer, predict_logits, tokenize

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]


def test_smoke_train_on_cuda_and_logits_agree_with_cpu(tmp_path):
    from transformers import AutoModelForSequenceClassification

    run = tmp_path / "run"
    assert main(["train", "--config", SMOKE, "--run-dir", str(run)]) == 0
    summary = json.loads((run / "results" / "summary.json").read_text())
    assert summary["hardware"]["gpu"]  # it really ran where torch saw a GPU
    folder = run / "model" / "finetune"
    tokenizer = load_tokenizer(str(folder))
    ids = tokenize(tokenizer, ["runs small, going back", "love it, perfect fit"] * 8, 32)
    model = AutoModelForSequenceClassification.from_pretrained(str(folder))
    on_cpu = predict_logits(model, ids, tokenizer.pad_token_id)
    on_cuda = predict_logits(model.to("cuda"), ids, tokenizer.pad_token_id)
    assert np.abs(on_cpu - on_cuda).max() < 1e-3
