"""A saved run: model/ (safetensors + tokenizer), tfidf.skops, meta.json; and loading it back."""

from __future__ import annotations

import json
from pathlib import Path

import skops.io as sio
from mlcraft.errors import UserInputError
from mlcraft.files import atomic_write_json

# The only types a TF-IDF + logistic-regression pipeline holds beyond skops' defaults.
TRUSTED_TFIDF_TYPES = {
    "numpy.float64",
    "scipy.sparse._csr.csr_matrix",
    "sklearn.feature_extraction.text.TfidfTransformer",
    "sklearn.feature_extraction.text.TfidfVectorizer",
    "sklearn.pipeline.FeatureUnion",
    "builtins.dict",
    "collections.defaultdict",
}


def save_tfidf(pipeline, path: Path) -> None:
    tmp = path.with_suffix(".tmp")
    sio.dump(pipeline, tmp)
    tmp.replace(path)


def load_tfidf(path: Path):
    untrusted = sio.get_untrusted_types(file=path)
    unexpected = sorted(set(untrusted) - TRUSTED_TFIDF_TYPES)
    if unexpected:
        raise UserInputError(f"{path} holds unexpected types {unexpected}; refusing to load it")
    return sio.load(path, trusted=untrusted)


def save_meta(run_dir: Path, meta: dict) -> None:
    atomic_write_json(run_dir / "meta.json", meta)


def load_meta(run_dir: Path) -> dict:
    path = Path(run_dir) / "meta.json"
    if not path.is_file():
        raise UserInputError(f"{run_dir} is not a text_classifier run folder (no meta.json)")
    return json.loads(path.read_text())
