"""Batch scoring: a CSV in, calibrated probabilities and the cost-tuned decision out.

One output row per input row (mlcraft.predictions), keyed by the input's row number (0 = the
first data row) or by the id column the model was trained with; a row that cannot be scored
keeps its place with the reason in `status`. Everything that can be wrong with the command
(model, --output, --input, required columns) is one line and exit 2 before anything is written.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
from mlcraft.errors import UserInputError
from mlcraft.inputs import read_csv
from mlcraft.predictions import (
    OK,
    ignored_columns,
    one_row_per_input,
    prediction_output,
    summary,
    write_predictions,
)

from tabular_ladder.preflight import model_run

# Bundles written before `data.na_values` existed were all trained on Adult, read with "?".
OLD_BUNDLE_NA_VALUES = ["?"]


def predict_csv(model: str | Path, input_path: str | Path, output_path: str | Path) -> str:
    """Score input_path with the bundle of the complete run `model`; write output_path
    atomically. Returns the one line predict prints."""
    folder = model_run(model)
    output = prediction_output(output_path, [input_path], folder)
    read_csv(input_path, "--input", nrows=1)  # binary, non-UTF-8, empty: before the model loads
    from tabular_ladder.bundle import load_bundle  # LightGBM and skops: once the input is good

    bundle = load_bundle(folder / "model")
    tokens = bundle.meta.get("na_values", OLD_BUNDLE_NA_VALUES)
    # The same missing-value tokens as training; pandas' own list stays off ("NA" is a value).
    frame = read_csv(input_path, "--input", keep_default_na=False, na_values=[*tokens, ""])
    source = f"--input={input_path}"
    keys, key_name = _keys(frame, bundle.meta.get("id_column"), source)
    prepared, status = bundle.prepare(frame, source)
    ok = status == OK
    p = bundle.score(prepared[ok]) if ok.any() else np.array([])
    scored = pd.DataFrame(
        {"probability": p, "decision": (p >= bundle.meta["threshold"]).astype(int)}
    )
    table = one_row_per_input(keys, status, scored, key_name)
    write_predictions(output, table)
    return summary(table, output) + ignored_columns(frame.columns, [*bundle.columns, key_name])


def _keys(frame: pd.DataFrame, id_column: str | None, source: str) -> tuple[list, str]:
    """The id column the model was trained with, else the row number."""
    if id_column is None:
        return list(range(len(frame))), "row"
    if id_column not in frame.columns:
        raise UserInputError(f"{source}: missing the id column '{id_column}' (data.id_column)")
    return frame[id_column].tolist(), id_column


def predict_verb(args: argparse.Namespace) -> str:
    return predict_csv(args.model, args.input, args.output)
