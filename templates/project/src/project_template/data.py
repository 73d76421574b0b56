"""Data: a CSV of yours (data.path) or scikit-learn's bundled breast cancer set, checked first."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from mlcraft.errors import UserInputError
from mlcraft.inputs import read_csv
from sklearn.model_selection import train_test_split

from project_template.config import DataConfig


@dataclass
class Dataset:
    name: str
    X_train: pd.DataFrame
    X_test: pd.DataFrame
    y_train: pd.Series
    y_test: pd.Series
    source: str  # a file path, or the name of the bundled set


def read(cfg: DataConfig) -> tuple[pd.DataFrame, str, str]:
    """The raw frame, its name and where it came from; every check that needs no fitting."""
    if cfg.path is None:
        from sklearn.datasets import load_breast_cancer

        frame = load_breast_cancer(as_frame=True).frame
        name, source = "breast_cancer", "sklearn.datasets.load_breast_cancer"
    else:
        frame = read_csv(cfg.path, "data.path")
        name, source = "csv", cfg.path
    if cfg.target not in frame.columns:
        raise UserInputError(f"data.target={cfg.target}: no such column in {source}")
    counts = frame[cfg.target].value_counts()
    if len(counts) < 2:
        raise UserInputError(
            f"data.target={cfg.target}: one class only ({counts.to_dict()}); need two or more"
        )
    features = frame.drop(columns=[cfg.target])
    if not len(features.select_dtypes("number").columns):
        raise UserInputError(f"data.path={source}: no numeric feature columns")
    return frame, name, source


def split(frame: pd.DataFrame, name: str, source: str, cfg: DataConfig, seed: int) -> Dataset:
    X = frame.drop(columns=[cfg.target]).select_dtypes("number")
    y = frame[cfg.target]
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=cfg.test_fraction, stratify=y, random_state=seed
    )
    return Dataset(name, X_train, X_test, y_train, y_test, source)
