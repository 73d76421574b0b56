"""What the shared register/promote and loadtest verbs need from a tabular run: its model's
scores on the test split of the config it was trained with, and request rows from that split.
A compress run is scored by its ONNX graph on the data of the train run it was made from."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
from mlcraft.runs import train_run, trained_config

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
    """(test labels, the served model's calibrated probabilities, the configured slice columns)."""
    from tabular_ladder.serving import scorer

    _, predict_proba, _ = scorer(model)
    config = run_config(train_run(model))
    data = _data(config.model_dump_json())
    probability = predict_proba(data.X_test, f"--model={model}")
    return data.y_test, probability, slice_columns(data.X_test, config.analyses.slices)


def request_rows(model: str, n: int) -> list[dict]:
    """The first n test rows as /predict rows (missing values as null)."""
    run = model_run(train_run(model))
    columns = load_bundle(run / "model").columns
    frame = _data(run_config(run).model_dump_json()).X_test[columns].head(n)
    return json.loads(frame.to_json(orient="records"))
