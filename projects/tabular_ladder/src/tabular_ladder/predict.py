"""Batch scoring: a CSV in, calibrated probabilities and the cost-tuned decision out."""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd
from mlcraft.files import atomic_write_text
from mlcraft.inputs import output_file, read_csv

from tabular_ladder.preflight import model_run


def predict_csv(model: str | Path, input_path: str | Path, output_path: str | Path) -> int:
    """Score input_path with the bundle of the complete run `model`; write output_path
    atomically (nothing is written on any error). Returns the number of rows."""
    output_path = output_file(output_path, "--output")
    folder = model_run(model)
    frame = read_csv(input_path, "--input", na_values=["?"])  # "?" is Adult's missing marker
    from tabular_ladder.bundle import load_bundle  # LightGBM and skops: once the input is good

    bundle = load_bundle(folder / "model")
    p = bundle.predict_proba(frame, f"--input={input_path}")
    out = pd.DataFrame(
        {"probability": p, "decision": (p >= bundle.meta["threshold"]).astype(int)},
        index=frame.index,
    )
    atomic_write_text(output_path, out.to_csv(index_label="row"))
    return len(out)


def predict_verb(args: argparse.Namespace) -> str:
    rows = predict_csv(args.model, args.input, args.output)
    return f"{rows} predictions to {args.output}"
