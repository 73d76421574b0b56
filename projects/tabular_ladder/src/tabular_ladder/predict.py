"""Batch scoring: a CSV in, calibrated probabilities and the cost-tuned decision out."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from mlcraft.errors import UserInputError
from mlcraft.files import atomic_write_text

from tabular_ladder.bundle import load_bundle


def predict_csv(model_dir: str | Path, input_path: str | Path, output_path: str | Path) -> int:
    bundle = load_bundle(model_dir)
    input_path = Path(input_path)
    if not input_path.is_file():
        raise UserInputError(f"input file not found: {input_path}")
    try:
        frame = pd.read_csv(input_path, na_values=["?"])  # Adult's missing marker
    except pd.errors.EmptyDataError:
        raise UserInputError(f"input file {input_path} is empty") from None
    if frame.empty:
        raise UserInputError(f"input file {input_path} has no rows")
    p = bundle.predict_proba(frame)
    out = pd.DataFrame(
        {"probability": p, "decision": (p >= bundle.meta["threshold"]).astype(int)},
        index=frame.index,
    )
    atomic_write_text(output_path, out.to_csv(index_label="row"))  # all or nothing
    return len(out)
