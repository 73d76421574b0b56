"""Offline model loading, bucketing, and a tiny fine-tune that must lower the loss."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import PROJECT
from mlcraft.errors import UserInputError
from text_classifier.config import FinetuneConfig
from text_classifier.finetune import fit
from text_classifier.models import (
    bucketed_batches,
    load_classifier,
    load_encoder,
    load_tokenizer,
    predict_logits,
    resolve_model,
    tokenize,
)


@pytest.fixture(scope="module")
def source(monkeypatch_module=None):
    return resolve_model("carrier")


def test_loads_from_carrier_offline(source, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    tokenizer = load_tokenizer(source)
    model = load_classifier(source, 2)
    assert tokenizer.tokenize("So cute!") == ["so", "cute", "!"]
    assert model.config.num_labels == 2 and model.config.hidden_size == 384
    ids = tokenize(tokenizer, ["love it", "hate it, returned"], 16)
    logits = predict_logits(model, ids, tokenizer.pad_token_id)
    assert logits.shape == (2, 2) and np.isfinite(logits).all()


def test_bucketing_covers_every_index_once_and_cuts_padding():
    rng = np.random.default_rng(0)
    lengths = rng.integers(5, 140, size=1000)
    for bucket in (True, False):
        batches = bucketed_batches(lengths, 32, np.random.default_rng(1), bucket)
        assert sorted(np.concatenate(batches).tolist()) == list(range(1000))

    def padded(batches):
        return sum(len(b) * lengths[b].max() for b in batches)

    bucketed = padded(bucketed_batches(lengths, 32, np.random.default_rng(1), True))
    plain = padded(bucketed_batches(lengths, 32, np.random.default_rng(1), False))
    assert bucketed < 0.75 * plain


def test_smoke_finetune_lowers_loss(source, caplog, recwarn):
    caplog.set_level("INFO")
    torch.manual_seed(0)
    tokenizer = load_tokenizer(source)
    model = load_classifier(source, 2)
    texts = ["love this dress, so flattering", "awful fabric, sent it back"] * 4
    labels = np.array([1, 0] * 4)
    ids = tokenize(tokenizer, texts, 16)
    # gpu_batch_size applies on a CUDA device only: on a CPU each epoch is one batch of 8
    cfg = FinetuneConfig(epochs=6, batch_size=8, gpu_batch_size=4, lr=3e-4, warmup_fraction=0.0,
                         patience=10)  # fmt: skip
    info = fit(model, ids, labels, ids, labels, tokenizer.pad_token_id, cfg, seed=0)
    losses = info["train_losses"]
    assert len(losses) == (12 if torch.cuda.is_available() else 6)
    assert info["device"] == ("cuda" if torch.cuda.is_available() else "cpu")
    assert np.mean(losses[-2:]) < 0.7 * np.mean(losses[:2])
    assert info["history"][-1]["val_accuracy"] == 1.0
    # each validation check records the optimizer steps before it: the training curve's x
    per_epoch = len(losses) // 6
    assert [h["step"] for h in info["history"]] == list(
        range(per_epoch, 6 * per_epoch + 1, per_epoch)
    )
    # quiet logs: no Lightning tips or info lines, no deprecation notice; the progress bar stays
    shown = caplog.text + " ".join(str(w.message) for w in recwarn)
    for noise in ("litlogger", "GPU available", "LeafSpec", "was configured so"):
        assert noise not in shown, noise


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda tmp: tmp / "missing", "no such folder"),
        (lambda tmp: tmp, "no config.json"),
        (lambda tmp: (tmp / "f.bin").write_bytes(b"x") and tmp / "f.bin", "is a file"),
        (lambda tmp: "./no-such-model", "no such folder"),
        (lambda tmp: "no-such-org/no-such-model-xyz", "cannot load it from the Hugging Face Hub"),
    ],
)
def test_model_source_errors_are_one_line(tmp_path, make, message):
    value = str(make(tmp_path))
    with pytest.raises(UserInputError, match=message) as info:
        resolve_model(value)
    assert f"model.name_or_path={value}" in str(info.value) and "\n" not in str(info.value)


def test_pickled_weights_are_refused_by_every_loader(tmp_path):
    """A model folder with only a pickled pytorch_model.bin (which would load, and could run code
    on load) is refused by the classifier and the frozen rung's encoder alike; train.py loads
    no model but through them."""
    from transformers import BertConfig, BertModel

    config = BertConfig(vocab_size=50, hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=8)  # fmt: skip
    config.save_pretrained(tmp_path)
    torch.save(BertModel(config).state_dict(), tmp_path / "pytorch_model.bin")
    for load in (load_encoder, lambda source: load_classifier(source, 2)):
        with pytest.raises(UserInputError, match="could not load a model from") as info:
            load(str(tmp_path))
        assert "safetensors" in str(info.value)
    train = (PROJECT / "src" / "text_classifier" / "train.py").read_text()
    assert "from_pretrained" not in train


def test_missing_carrier_names_the_key(monkeypatch):
    import importlib.metadata as md

    from mlcraft import carriers

    def not_installed(name):
        raise md.PackageNotFoundError(name)

    monkeypatch.setattr(carriers, "_VERIFIED", {})
    monkeypatch.setattr(carriers.md, "distribution", not_installed)
    with pytest.raises(UserInputError, match="model.name_or_path=carrier: .* is not installed"):
        resolve_model("carrier")


def test_a_crafted_tfidf_file_is_refused_unloaded(tmp_path):
    import builtins

    import pytest
    import skops.io as sio
    from mlcraft.errors import UserInputError
    from mlcraft.trusted import write_manifest
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer
    from text_classifier.artifacts import load_tfidf

    sio.dump(make_pipeline(FunctionTransformer(builtins.eval)), tmp_path / "tfidf.skops")
    write_manifest(tmp_path, ["tfidf.skops"])  # its hash matches: the allow-list still refuses
    with pytest.raises(UserInputError, match="refusing to load types.*builtins.eval"):
        load_tfidf(tmp_path / "tfidf.skops")
