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
    assert summary["config"]["finetune"]["bf16"] == "auto"  # bf16-mixed on this GPU
    folder = run / "model" / "finetune"
    tokenizer = load_tokenizer(str(folder))
    ids = tokenize(tokenizer, ["runs small, going back", "love it, perfect fit"] * 8, 32)
    model = AutoModelForSequenceClassification.from_pretrained(str(folder))
    on_cpu = predict_logits(model, ids, tokenizer.pad_token_id)
    on_cuda = predict_logits(model.to("cuda"), ids, tokenizer.pad_token_id)
    assert np.abs(on_cpu - on_cuda).max() < 1e-3


def test_fit_on_cuda_takes_the_gpu_batch_and_scaled_lr_in_bf16():
    from text_classifier.config import FinetuneConfig
    from text_classifier.finetune import fit
    from text_classifier.models import load_classifier, resolve_model

    source = resolve_model("carrier")
    tokenizer = load_tokenizer(source)
    texts = ["runs small, going back", "love it, perfect fit", "meh", "great dress"] * 16
    ids, labels = tokenize(tokenizer, texts, 32), np.array([0, 1, 0, 1] * 16)
    model = load_classifier(source, 2)
    cfg = FinetuneConfig(epochs=1, batch_size=8, gpu_batch_size=32, lr=1e-4, patience=5)
    info = fit(model, ids, labels, ids[:16], labels[:16], tokenizer.pad_token_id, cfg, 0)
    assert info["steps"] == 2  # 64 examples in batches of 32, not 8
    assert info["device"] == "cuda"  # trained there; Lightning returns the module on the CPU
