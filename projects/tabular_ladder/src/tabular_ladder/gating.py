"""What the shared register/promote and loadtest verbs need from a tabular run: its model's
scores on the test split of the config it was trained with, and request rows from that split."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
from mlcraft.runs import trained_config

from tabular_ladder.bundle import load_bundle
from tabular_ladder.config import TrainConfig
from tabular_ladder.data import Dataset, load, slice_columns
from tabular_ladder.preflight import model_run


def run_config(run: Path) -> TrainConfig:
    return trained_config(run, TrainConfig)


@cache
def _data(config_json: str) -> Dataset:
    return load(TrainConfig.model_validate_json(config_json).data)


def gate_scores(model: str) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    """(test labels, the run's calibrated probabilities, the configured slice columns)."""
    run = model_run(model)
    config = run_config(run)
    data = _data(config.model_dump_json())
    probability = load_bundle(run / "model").predict_proba(data.X_test, f"--model={run}")
    return data.y_test, probability, slice_columns(data.X_test, config.analyses.slices)


def request_rows(model: str, n: int) -> list[dict]:
    """The first n test rows as /predict rows (missing values as null)."""
    run = model_run(model)
    columns = load_bundle(run / "model").columns
    frame = _data(run_config(run).model_dump_json()).X_test[columns].head(n)
    return json.loads(frame.to_json(orient="records"))
