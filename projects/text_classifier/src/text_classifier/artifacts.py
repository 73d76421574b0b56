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


def _slim(pipeline) -> None:
    """Drop what prediction never reads, so skops writes a small file quickly.

    stop_words_ lists every pruned n-gram (millions for char n-grams; sklearn documents it as safe
    to delete), and numpy-int vocabulary values become plain ints (one JSON dict, not one array
    file per entry).
    """
    for _, vectorizer in pipeline.named_steps["features"].transformer_list:
        vectorizer.stop_words_ = None
        vectorizer.vocabulary_ = {term: int(i) for term, i in vectorizer.vocabulary_.items()}


def save_tfidf(pipeline, path: Path) -> None:
    _slim(pipeline)
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
