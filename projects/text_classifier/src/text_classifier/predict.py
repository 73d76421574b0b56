"""Predict a CSV/JSONL with a saved train run; re-score a saved run on the configured test split."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from mlcraft.errors import UserInputError
from mlcraft.inputs import output_file

from text_classifier import artifacts
from text_classifier.data import _join_title_review, read_table

SERVED_RUNGS = ("finetune", "tfidf")  # the rungs a run saves to disk


def load_predictor(run_dir: str | Path, rung: str = "finetune", meta: dict | None = None):
    """texts -> calibrated probabilities (n, k), and the run's meta."""
    from mlcraft.calibration import softmax_with_temperature

    meta = meta or artifacts.load_meta(run_dir)
    path = artifacts.rung_path(run_dir, meta, rung)
    temperature = meta["decisions"][rung]["temperature"]
    if rung == "tfidf":
        pipeline = artifacts.load_tfidf(path)

        def predict(texts):
            return softmax_with_temperature(pipeline.predict_log_proba(list(texts)), temperature)

        return predict, meta
    from text_classifier.models import load_classifier, load_tokenizer, predict_logits, tokenize

    tokenizer = load_tokenizer(str(path))
    model = load_classifier(str(path), len(meta["classes"]))

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
            f"--input={source}: no text column '{column}'; columns are {list(frame.columns)}"
        )
    texts = pd.Series(texts).astype(str)
    empty = int((texts.str.strip() == "").sum())
    if empty:
        raise UserInputError(f"--input={source}: {empty} rows have an empty text in '{column}'")
    return texts.tolist()


def predict_file(run_dir, input_path, output_path, rung: str = "finetune") -> Path:
    """Every check (input, output, run folder, rung) before a model is loaded; atomic output."""
    frame = read_table(input_path, "--input")
    output_path = output_file(output_path, "--output")
    meta = artifacts.load_meta(run_dir)
    artifacts.rung_path(run_dir, meta, rung)
    texts = texts_from_frame(frame, meta, str(input_path))
    import numpy as np  # the heavy imports wait until every check has passed
    from mlcraft.files import atomic_write_text

    from text_classifier.evaluate import decide

    predict, meta = load_predictor(run_dir, rung, meta)
    prob = predict(texts)
    pred = decide(prob, meta["decisions"][rung]["threshold"])
    out = frame.copy()
    out["predicted_label"] = [meta["classes"][i] for i in pred]
    for i, name in enumerate(meta["classes"]):
        out[f"prob_{name}"] = np.round(prob[:, i], 6)
    atomic_write_text(output_path, out.to_csv(index=False))
    return output_path


def evaluate_run(cfg, run, data, run_dir: Path, meta: dict) -> pd.DataFrame:
    """Score every saved rung of run_dir on this config's test split; a table in run.results."""
    from mlcraft.files import atomic_write_json
    from mlcraft.reporting import write_table

    from text_classifier.data import encode_labels
    from text_classifier.evaluate import score_with_ci

    if "finetune" in meta.get("files", {}):
        from text_classifier.models import use_threads

        use_threads(cfg.torch_threads)
    test = data.splits["test"]
    y, _ = encode_labels(test["label_raw"], meta["classes"])
    rows = []
    for rung in SERVED_RUNGS:
        if rung not in meta.get("files", {}):
            continue
        predict, _ = load_predictor(run_dir, rung, meta)
        prob = predict(test["text"].tolist())
        threshold = meta["decisions"][rung]["threshold"]
        scores = score_with_ci(y, prob, threshold, cfg.analysis.n_boot, cfg.seed)
        rows.append({"rung": rung, "test_rows": len(test), **scores})
        print(f"{rung}: " + ", ".join(f"{k} {v:.4f}" for k, v in scores.items()))
    frame = pd.DataFrame(rows)
    write_table(run.results, "evaluation", frame, digits=4)
    atomic_write_json(
        run.results / "evaluation.json",
        {"model_run": str(Path(run_dir).absolute()), "data": data.source, "rungs": rows},
    )
    return frame
