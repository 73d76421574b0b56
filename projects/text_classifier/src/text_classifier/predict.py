"""Predict a CSV/JSONL with a saved train run; re-score a saved run on the configured test split."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from mlcraft.errors import UserInputError

from text_classifier import artifacts
from text_classifier.data import _join_title_review

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

    folder = artifacts.verified_folder(path)  # every file's sha256 before anything is loaded
    tokenizer = load_tokenizer(folder)
    model = load_classifier(folder, len(meta["classes"]))

    def predict(texts):
        ids = tokenize(tokenizer, list(texts), meta["max_length"])
        return softmax_with_temperature(
            predict_logits(model, ids, tokenizer.pad_token_id), temperature
        )

    return predict, meta


EMPTY = "empty text"


def read_input(path, encoding: str = "utf-8") -> pd.DataFrame:
    """The --input CSV/JSONL as text columns, every row kept (a blank or whitespace-only line is
    a row with an empty text, never dropped, in a CSV and a JSONL alike); each failure a user can
    cause is one line."""
    import codecs
    import io

    from mlcraft.inputs import existing_file, refuse_binary

    path = existing_file(path, "--input")
    refuse_binary(path, "--input")
    try:
        name = "UTF-8" if codecs.lookup(encoding).name == "utf-8" else encoding
    except LookupError:
        raise UserInputError(f"--encoding={encoding}: not an encoding Python knows") from None
    suffix = path.suffix.lower()
    if suffix not in {".csv", ".jsonl", ".ndjson"}:
        raise UserInputError(f"--input={path}: must be a .csv or .jsonl file, got '{suffix}'")
    try:
        text = path.read_bytes().decode(encoding)
    except UnicodeDecodeError as exc:
        raise UserInputError(
            f"--input={path}: not {name} text (byte {exc.start}); name its encoding with "
            "--encoding (e.g. --encoding latin-1)"
        ) from None
    if not text.strip():
        raise UserInputError(f"--input={path}: the file is empty")
    if suffix == ".csv":
        try:
            frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False,
                                skip_blank_lines=False)  # fmt: skip
        except ValueError as exc:  # pandas' ParserError and EmptyDataError are ValueErrors
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise UserInputError(f"--input={path}: not readable ({first})") from None
    else:
        frame = jsonl_records(text, path)
    if frame.empty:
        raise UserInputError(f"--input={path}: no data rows")
    return frame


def jsonl_records(text: str, path) -> pd.DataFrame:
    """One row per line, a blank line included (a row with no text, as a blank CSV line is), so
    row n is the file's line n + 1."""
    import json

    records = []
    for number, line in enumerate(text.splitlines(), 1):
        try:
            record = json.loads(line) if line.strip() else {}
        except ValueError as exc:  # json.JSONDecodeError: .msg without its position
            why = getattr(exc, "msg", type(exc).__name__)
            raise UserInputError(f"--input={path}: line {number} is not JSON ({why})") from None
        if not isinstance(record, dict):
            raise UserInputError(f"--input={path}: line {number} is not a JSON object")
        records.append(record)
    return pd.DataFrame(records)


def texts_from_frame(frame: pd.DataFrame, meta: dict, source: str) -> tuple[pd.Series, list]:
    """One text per input row, "" where the row has none (reported, not dropped), and the
    columns they were read from."""
    column = meta["text_column"]
    if column in frame.columns:
        texts, used = frame[column].astype(object).fillna("").astype(str), [column]
    elif meta.get("default_reviews_data") and "Review Text" in frame.columns:
        texts = _join_title_review(frame.assign(Title=frame.get("Title", pd.Series(dtype=str))))
        used = ["Title", "Review Text"]
    else:
        raise UserInputError(
            f"--input={source}: no text column '{column}'; columns are {list(frame.columns)}"
        )
    return pd.Series(texts).astype(str).str.strip().reset_index(drop=True), used


def row_keys(frame: pd.DataFrame, id_column: str | None, source: str) -> tuple[list, str]:
    """The --id-column's values, else the row number (0 = the first data row)."""
    if id_column is None:
        return list(range(len(frame))), "row"
    if id_column not in frame.columns:
        raise UserInputError(
            f"--id-column={id_column}: no such column in {source}; columns are "
            f"{list(frame.columns)}"
        )
    return frame[id_column].tolist(), id_column


def predict_file(
    run_dir, input_path, output_path, rung="finetune", encoding="utf-8", id_column=None
) -> Path:
    """Every check (output, input, run folder, rung) before a model is loaded; one output row per
    input row, status "ok" or why it was not scored; atomic output."""
    from mlcraft.predictions import (
        OK,
        ignored_columns,
        one_row_per_input,
        prediction_output,
        summary,
        write_predictions,
    )

    output_path = prediction_output(output_path, [input_path], run_dir)
    frame = read_input(input_path, encoding)
    meta = artifacts.load_meta(run_dir)
    artifacts.rung_path(run_dir, meta, rung)
    texts, used = texts_from_frame(frame, meta, str(input_path))
    keys, key_name = row_keys(frame, id_column, str(input_path))
    status = [OK if text else EMPTY for text in texts]
    scored = texts[texts != ""].tolist()
    import numpy as np  # the heavy imports wait until every check has passed

    from text_classifier.evaluate import decide

    columns = ["predicted_label", *(f"prob_{name}" for name in meta["classes"])]
    table = pd.DataFrame(columns=columns)
    if scored:
        predict, meta = load_predictor(run_dir, rung, meta)
        prob = predict(scored)
        pred = decide(prob, meta["decisions"][rung]["threshold"])
        table = pd.DataFrame({"predicted_label": [meta["classes"][i] for i in pred]})
        for i, name in enumerate(meta["classes"]):
            table[f"prob_{name}"] = np.round(prob[:, i], 6)
    out = one_row_per_input(keys, status, table, key_name)
    write_predictions(output_path, out)
    print(summary(out, output_path) + ignored_columns(frame.columns, [*used, key_name]))
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
