"""Predict a CSV/JSONL with a saved run folder; re-score a run on the configured test split."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from mlcraft.calibration import softmax_with_temperature
from mlcraft.errors import UserInputError
from mlcraft.files import atomic_write_text

from text_classifier import artifacts
from text_classifier.data import _join_title_review, read_table
from text_classifier.evaluate import decide, score_with_ci


def load_predictor(run_dir: str | Path, rung: str = "finetune"):
    """texts -> calibrated probabilities (n, k), and the run's meta."""
    run_dir = Path(run_dir)
    meta = artifacts.load_meta(run_dir)
    if rung not in meta["decisions"]:
        raise UserInputError(f"{run_dir} has no '{rung}' model; it has {list(meta['decisions'])}")
    temperature = meta["decisions"][rung]["temperature"]
    if rung == "tfidf":
        pipeline = artifacts.load_tfidf(run_dir / "tfidf.skops")

        def predict(texts):
            return softmax_with_temperature(pipeline.predict_log_proba(list(texts)), temperature)

        return predict, meta
    from text_classifier.models import load_classifier, load_tokenizer, predict_logits, tokenize

    folder = str(run_dir / "model")
    tokenizer = load_tokenizer(folder)
    model = load_classifier(folder, len(meta["classes"]))

    def predict(texts):
        ids = tokenize(tokenizer, list(texts), meta["max_length"])
        return softmax_with_temperature(
            predict_logits(model, ids, tokenizer.pad_token_id), temperature
        )

    return predict, meta


def texts_from_frame(frame: pd.DataFrame, meta: dict, source: str) -> list[str]:
    column = meta["text_column"]
    if column in frame.columns:
        texts = frame[column].fillna("").astype(str).str.strip()
    elif meta.get("default_reviews_data") and "Review Text" in frame.columns:
        texts = _join_title_review(frame.assign(Title=frame.get("Title", pd.Series(dtype=str))))
    else:
        raise UserInputError(
            f"{source}: no text column '{column}'; columns are {list(frame.columns)}"
        )
    texts = pd.Series(texts).astype(str)
    empty = int((texts.str.strip() == "").sum())
    if empty:
        raise UserInputError(f"{source}: {empty} rows have an empty text in '{column}'")
    if len(texts) == 0:
        raise UserInputError(f"{source}: no rows to predict")
    return texts.tolist()


def predict_file(run_dir, input_path, output_path=None, rung: str = "finetune") -> Path:
    input_path = Path(input_path)
    frame = read_table(input_path)
    predict, meta = load_predictor(run_dir, rung)
    texts = texts_from_frame(frame, meta, str(input_path))
    prob = predict(texts)
    threshold = meta["decisions"][rung]["threshold"]
    pred = decide(prob, threshold)
    out = frame.copy()
    out["predicted_label"] = [meta["classes"][i] for i in pred]
    for i, name in enumerate(meta["classes"]):
        out[f"prob_{name}"] = np.round(prob[:, i], 6)
    output_path = Path(output_path) if output_path else input_path.with_suffix(".predictions.csv")
    atomic_write_text(output_path, out.to_csv(index=False))
    return output_path


def evaluate_run(run_dir, cfg, rung: str = "finetune") -> dict:
    from text_classifier.data import encode_labels, load_dataset

    data = load_dataset(cfg.data, cfg.seed)
    predict, meta = load_predictor(run_dir, rung)
    test = data.splits["test"]
    y, _ = encode_labels(test["label_raw"], meta["classes"])
    prob = predict(test["text"].tolist())
    return score_with_ci(
        y, prob, meta["decisions"][rung]["threshold"], cfg.analysis.n_boot, cfg.seed
    )
