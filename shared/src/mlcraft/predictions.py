"""One shape for every prediction file, and the checks every `predict` makes before loading a model.

A prediction file has exactly one row per input row, in input order, keyed by the input's row
number (or its id column), with a `status` column: "ok" for a scored row, otherwise why the row
could not be scored (its prediction cells are then empty). Outputs line up with inputs, always.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from mlcraft.errors import UserInputError
from mlcraft.files import atomic_write_text
from mlcraft.inputs import output_file

OK = "ok"


def prediction_output(
    output: str | os.PathLike,
    inputs: Sequence[str | os.PathLike] = (),
    model_run: str | os.PathLike | None = None,
) -> Path:
    """--output can be written, is not one of the inputs, and is not inside the model's run folder
    (a complete run is never changed). Checked before anything is read or loaded."""
    path = output_file(output, "--output")
    target = path.resolve()
    for source in inputs:
        source = Path(source)
        if source.is_file() and source.resolve() == target:
            raise UserInputError(
                f"--output={path}: is the --input file; predictions never overwrite their input"
            )
    if model_run is not None and target.is_relative_to(Path(model_run).resolve()):
        raise UserInputError(
            f"--output={path}: inside the --model run folder; a complete run is never changed"
        )
    return path


def one_row_per_input(
    keys: Sequence | pd.Index,
    status: Sequence[str],
    scored: pd.DataFrame,
    key_name: str = "row",
) -> pd.DataFrame:
    """The prediction table: key, status, then scored's columns, filled for the "ok" rows in order.

    keys: the input's row number or id, one per input row; status: OK or the reason per input row;
    scored: one row per OK row, in input order.
    """
    status = np.asarray(list(status), dtype=object)
    ok = status == OK
    if len(keys) != len(status) or int(ok.sum()) != len(scored):
        raise ValueError(
            f"{len(keys)} keys, {len(status)} statuses, {int(ok.sum())} ok, {len(scored)} scored rows"
        )
    frame = pd.DataFrame({key_name: list(keys), "status": status})
    for column in scored.columns:
        filled = pd.Series(index=frame.index, dtype=_nullable(scored[column]))
        filled[ok] = scored[column].to_numpy()
        frame[column] = filled
    return frame


def _nullable(values: pd.Series):
    """A dtype that holds the column's values and an empty cell: integer decisions stay integers."""
    if pd.api.types.is_bool_dtype(values):
        return "boolean"
    if pd.api.types.is_integer_dtype(values):
        return "Int64"
    return float if pd.api.types.is_float_dtype(values) else object


def write_predictions(path: str | os.PathLike, frame: pd.DataFrame) -> int:
    """Atomic: on any error no prediction file (and no half of one) is left. Returns the row count."""
    atomic_write_text(path, frame.to_csv(index=False))
    return len(frame)


def summary(frame: pd.DataFrame, output: str | os.PathLike) -> str:
    """The one line predict prints: how many rows, how many scored, why the others were not."""
    unscored = frame.loc[frame["status"] != OK, "status"].value_counts()
    line = f"{len(frame)} rows to {output}: {len(frame) - int(unscored.sum())} scored"
    if len(unscored):
        line += "; not scored: " + ", ".join(f"{n} {reason}" for reason, n in unscored.items())
    return line


def ignored_columns(columns: Iterable, used: Iterable) -> str:
    """The end of predict's line naming the input columns the model never reads (first five,
    then a count); "" when it reads them all."""
    used = set(used)
    ignored = [str(c) for c in columns if c not in used]
    if not ignored:
        return ""
    shown = ", ".join(ignored[:5]) + (f", ... ({len(ignored)})" if len(ignored) > 5 else "")
    return f"; ignored {len(ignored)} column(s) the model does not use: {shown}"
