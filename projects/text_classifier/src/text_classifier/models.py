"""The transformer side: offline model location, length-bucketed batches, the Lightning module.

Dynamic padding: each batch is padded only to its own longest example. Length bucketing: batches
are drawn from runs of similar-length examples, so little padding is left at all.
"""

from __future__ import annotations

import numpy as np
import torch
from mlcraft.errors import UserInputError

from text_classifier.sources import MINILM, resolve_model  # noqa: F401 - re-exported


def use_threads(n: int | None) -> None:
    """torch's CPU thread count (config key torch_threads); None keeps torch's default."""
    if n:
        torch.set_num_threads(n)


def threads_in_use() -> int:
    """torch's CPU thread count now (after use_threads)."""
    return torch.get_num_threads()


def load_tokenizer(source: str):
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(source, trust_remote_code=False)
    except OSError as exc:
        raise UserInputError(f"could not load a tokenizer from '{source}': {exc}") from None


def _safe_pretrained(auto_class, source: str, **kwargs):
    """auto_class.from_pretrained with safetensors only (a pickled .bin could run code on load)
    and no code from the model folder; a folder without them is one line."""
    try:
        return auto_class.from_pretrained(
            source, use_safetensors=True, trust_remote_code=False, **kwargs
        )
    except OSError as exc:
        raise UserInputError(f"could not load a model from '{source}': {exc}") from None


def load_classifier(source: str, n_classes: int):
    from transformers import AutoModelForSequenceClassification
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()  # the "classifier newly initialised" notice is expected
    return _safe_pretrained(AutoModelForSequenceClassification, source, num_labels=n_classes)


def load_encoder(source: str):
    """The bare encoder (the frozen rung's embeddings), loaded as safely as load_classifier."""
    from transformers import AutoModel

    return _safe_pretrained(AutoModel, source)


def tokenize(tokenizer, texts: list[str], max_length: int) -> list[list[int]]:
    return tokenizer(list(texts), truncation=True, max_length=max_length)["input_ids"]


def choose_max_length(
    tokenizer, texts: list[str], percentile: float, cap: int, fixed: int | None = None
) -> dict:
    """Max length = the training token-length percentile, rounded up to a multiple of 8 (or
    `fixed`, a configured model.max_length); the truncated share is measured against it."""
    lengths = np.array([len(ids) for ids in tokenizer(list(texts))["input_ids"]])
    p = float(np.percentile(lengths, percentile))
    chosen = fixed or int(min(cap, tokenizer.model_max_length, int(np.ceil(p / 8) * 8)))
    return {
        "max_length": chosen,
        "p50": float(np.percentile(lengths, 50)),
        "p95": float(np.percentile(lengths, 95)),
        "p99": float(np.percentile(lengths, 99)),
        "max": int(lengths.max()),
        "truncated_fraction": float(np.mean(lengths > chosen)),
    }


# --- batching --------------------------------------------------------------------------------


def bucketed_batches(
    lengths: np.ndarray, batch_size: int, rng: np.random.Generator | None, bucket: bool
) -> list[np.ndarray]:
    """Index batches. bucket: sort by length inside chunks of 50 batches, then shuffle the batches.

    rng None = deterministic order (evaluation): fully length-sorted when bucketing.
    """
    n = len(lengths)
    order = rng.permutation(n) if rng is not None else np.arange(n)
    if bucket:
        chunk = batch_size * 50 if rng is not None else n
        pieces = []
        for start in range(0, n, chunk):
            part = order[start : start + chunk]
            pieces.append(part[np.argsort(lengths[part], kind="stable")])
        order = np.concatenate(pieces)
    batches = [order[i : i + batch_size] for i in range(0, n, batch_size)]
    if rng is not None:
        batches = [batches[i] for i in rng.permutation(len(batches))]
    return batches


class EpochBatches(torch.utils.data.Sampler):
    """A batch sampler that reshuffles (with its own seeded RNG) every epoch."""

    def __init__(self, lengths, batch_size: int, seed: int, bucket: bool, shuffle: bool = True):
        self.lengths = np.asarray(lengths)
        self.batch_size = batch_size
        self.bucket = bucket
        self.shuffle = shuffle
        self.rng = np.random.default_rng(seed)

    def __iter__(self):
        rng = self.rng if self.shuffle else None
        for batch in bucketed_batches(self.lengths, self.batch_size, rng, self.bucket):
            yield batch.tolist()

    def __len__(self) -> int:
        return (len(self.lengths) + self.batch_size - 1) // self.batch_size


class Collate:
    """Pad a batch to its longest member (dynamic) or to a fixed length (the slow baseline)."""

    def __init__(self, ids: list[list[int]], labels, pad_id: int, fixed_length: int | None = None):
        self.ids = ids
        self.labels = None if labels is None else np.asarray(labels)
        self.pad_id = pad_id
        self.fixed_length = fixed_length

    def __call__(self, indices: list[int]) -> dict:
        seqs = [self.ids[i] for i in indices]
        width = self.fixed_length or max(len(s) for s in seqs)
        input_ids = torch.full((len(seqs), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(seqs), width), dtype=torch.long)
        for row, seq in enumerate(seqs):
            input_ids[row, : len(seq)] = torch.tensor(seq)
            mask[row, : len(seq)] = 1
        batch = {"input_ids": input_ids, "attention_mask": mask, "index": torch.tensor(indices)}
        if self.labels is not None:
            batch["labels"] = torch.tensor(self.labels[indices], dtype=torch.long)
        return batch


def make_loader(ids, labels, pad_id, batch_size, seed, bucket, shuffle, fixed_length=None):
    lengths = np.array([len(s) for s in ids])
    sampler = EpochBatches(lengths, batch_size, seed, bucket, shuffle)
    collate = Collate(ids, labels, pad_id, fixed_length)
    return torch.utils.data.DataLoader(
        list(range(len(ids))), batch_sampler=sampler, collate_fn=collate
    )


# --- inference -------------------------------------------------------------------------------


@torch.no_grad()
def predict_logits(model, ids: list[list[int]], pad_id: int, batch_size: int = 64) -> np.ndarray:
    """Logits in input order; batches are length-sorted so padding costs almost nothing."""
    model.eval()
    device = next(model.parameters()).device  # wherever the model is (CPU, or CUDA after fit)
    loader = make_loader(ids, None, pad_id, batch_size, 0, bucket=True, shuffle=False)
    out = np.zeros((len(ids), model.config.num_labels), dtype=np.float32)
    for batch in loader:
        logits = model(
            input_ids=batch["input_ids"].to(device),
            attention_mask=batch["attention_mask"].to(device),
        ).logits
        out[batch["index"].numpy()] = logits.float().cpu().numpy()
    return out


@torch.no_grad()
def mean_pooled_embeddings(encoder, ids, pad_id: int, batch_size: int = 64) -> np.ndarray:
    """Sentence embeddings the way all-MiniLM-L6-v2 was trained: masked mean of the last layer."""
    encoder.eval()
    device = next(encoder.parameters()).device
    loader = make_loader(ids, None, pad_id, batch_size, 0, bucket=True, shuffle=False)
    out = np.zeros((len(ids), encoder.config.hidden_size), dtype=np.float32)
    for batch in loader:
        mask = batch["attention_mask"].to(device)
        hidden = encoder(input_ids=batch["input_ids"].to(device), attention_mask=mask)
        mask = mask.unsqueeze(-1).float()
        pooled = (hidden.last_hidden_state * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        out[batch["index"].numpy()] = torch.nn.functional.normalize(pooled, dim=-1).cpu().numpy()
    return out
