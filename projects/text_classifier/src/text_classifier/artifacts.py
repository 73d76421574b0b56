"""A train run's saved models, all under <run>/model/, and loading them back.

    model/meta.json      classes, text column, max length, per-rung temperature and threshold,
                         and `files`: each saved rung's path RELATIVE to the run folder
    model/tfidf.skops    the TF-IDF pipeline (skops, trusted-types check on load)
    model/manifest.json  the sha256 of meta.json and tfidf.skops (mlcraft.trusted), checked
                         before meta.json is parsed
    model/finetune/      the fine-tuned transformer (safetensors + tokenizer JSON) and
                         manifest.json: the sha256 of each of its files, checked before loading

Paths are relative because a run is written in `<run-id>.partial/` and renamed when complete.
"""

from __future__ import annotations

import json
from pathlib import Path

from mlcraft.errors import UserInputError
from mlcraft.files import atomic_write_json
from mlcraft.runs import complete_run

META = "model/meta.json"
TFIDF = "model/tfidf.skops"
FINETUNE = "model/finetune"

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
    import skops.io as sio  # lazy: it imports torch through sklearn's array API support

    _slim(pipeline)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        sio.dump(pipeline, tmp)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def load_tfidf(path: Path):
    """After its folder's manifest sha256 check, with an exact allow-list (mlcraft.trusted): a
    changed file, or one naming any other type, is refused unloaded."""
    from mlcraft.trusted import load_skops, verify_manifest

    verify_manifest(Path(path).parent)
    return load_skops(path, TRUSTED_TFIDF_TYPES)


def save_finetuned(model, tokenizer, folder: Path) -> None:
    """safetensors weights, the tokenizer's JSON files, then manifest.json hashing all of them."""
    from mlcraft.trusted import MANIFEST, write_manifest

    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    files = sorted(p.name for p in Path(folder).iterdir() if p.is_file() and p.name != MANIFEST)
    write_manifest(folder, files)


def verified_folder(folder: Path) -> str:
    """The fine-tuned model folder, after every file matched its manifest sha256 (one-line
    refusal otherwise), and with no pickled weights in it."""
    from mlcraft.trusted import verify_manifest

    verify_manifest(folder)
    pickled = sorted(p.name for p in Path(folder).glob("*.bin"))
    if pickled:
        raise UserInputError(f"{folder}: refusing pickled weights {pickled}; expected safetensors")
    return str(folder)


def save_meta(run_dir: Path, meta: dict) -> None:
    """meta.json, then model/manifest.json pinning it and every file saved beside it (the
    fine-tuned folder has its own manifest)."""
    from mlcraft.trusted import MANIFEST, write_manifest

    atomic_write_json(Path(run_dir) / META, meta)
    model = (Path(run_dir) / META).parent
    write_manifest(
        model, sorted(p.name for p in model.iterdir() if p.is_file() and p.name != MANIFEST)
    )


def check_run(run_dir: str | Path, key: str = "--model") -> Path:
    """A complete train run folder with a saved model; otherwise one line naming key and path."""
    return complete_run(run_dir, key, (META,))


def load_meta(run_dir: str | Path, key: str = "--model") -> dict:
    """meta.json of a complete run, after model/'s files matched their manifest sha256 (one-line
    refusal otherwise): nothing of a changed meta.json or tfidf.skops is read."""
    from mlcraft.trusted import verify_manifest

    folder = check_run(run_dir, key)
    verify_manifest((folder / META).parent)
    return json.loads((folder / META).read_text())


def rung_path(run_dir: str | Path, meta: dict, rung: str, key: str = "--model") -> Path:
    """The saved file or folder of one rung; an error listing the rungs the run did save."""
    files = meta.get("files", {})
    if rung not in files:
        raise UserInputError(
            f"{key}={run_dir}: the run saved no '{rung}' model; it has {sorted(files) or 'none'}"
        )
    return Path(run_dir) / files[rung]
