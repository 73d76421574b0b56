"""What the shared loadtest and register/promote/rollback verbs need from a text run: request
rows from the test split of the config it was trained with, and its decided labels on that split.

A compress run (`python -m text_classifier compress`) is gated and load-tested on the data of the
train run it was made from.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
from mlcraft.runs import train_run, trained_config

from text_classifier import artifacts
from text_classifier.config import Config
from text_classifier.data import Dataset, encode_labels, load_dataset


def run_config(run: Path) -> Config:
    return trained_config(run, Config)


@cache
def _data(config_json: str) -> Dataset:
    config = Config.model_validate_json(config_json)
    return load_dataset(config.data, config.seed)


def held_out_test(run: Path) -> pd.DataFrame:
    """The test split of the run's own config (same data, same seed, same rows)."""
    return _data(run_config(run).model_dump_json()).splits["test"]


def gate_scores(model: str) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    """(test labels, the served model's decided labels, the slice columns the data has)."""
    from text_classifier.analysis import slice_columns
    from text_classifier.serving import served_model

    run = train_run(model)
    test = held_out_test(run)
    meta = artifacts.load_meta(run)
    y, _ = encode_labels(test["label_raw"], meta["classes"])
    outputs = served_model(model).predict(test[["text"]].to_dict("records"))
    decided = np.array([meta["classes"].index(row["label"]) for row in outputs])
    return y, decided, slice_columns(test, meta.get("default_reviews_data", False))


def request_rows(model: str, n: int) -> list[dict]:
    """The first n test texts as /predict rows."""
    return [{"text": text} for text in held_out_test(train_run(model))["text"].head(n)]
