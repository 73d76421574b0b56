"""Reading a user's input files with one-line errors that name the file and the problem."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from mlcraft.errors import UserInputError


def existing_file(path: str | os.PathLike, key: str) -> Path:
    """The path is a non-empty regular file; otherwise a UserInputError naming key and path."""
    path = Path(path)
    if not path.exists():
        raise UserInputError(f"{key}={path}: no such file")
    if path.is_dir():
        raise UserInputError(f"{key}={path}: is a folder, not a file")
    if path.stat().st_size == 0:
        raise UserInputError(f"{key}={path}: the file is empty")
    return path


def refuse_binary(path: Path, key: str) -> None:
    """A NUL byte in the first 8 KiB: an image, archive or model file given where text belongs."""
    with open(path, "rb") as handle:
        if b"\x00" in handle.read(8192):
            raise UserInputError(
                f"{key}={path}: a binary file, not text (a NUL byte near the start)"
            )


def read_csv(path: str | os.PathLike, key: str, **kwargs) -> pd.DataFrame:
    """pandas.read_csv with the failures a user can cause turned into one line each."""
    path = existing_file(path, key)
    refuse_binary(path, key)
    try:
        frame = pd.read_csv(path, encoding="utf-8", **kwargs)
    except UnicodeDecodeError as exc:
        raise UserInputError(
            f"{key}={path}: not UTF-8 text (byte {exc.start}); re-save it as UTF-8 CSV"
        ) from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise UserInputError(f"{key}={path}: not a readable CSV ({str(exc).strip()})") from None
    if frame.empty:
        raise UserInputError(f"{key}={path}: no data rows")
    return frame


def output_file(path: str | os.PathLike, key: str = "--output") -> Path:
    """An output path that can be written: not a folder, its folder exists or can be made."""
    from mlcraft.runs import check_writable_dir

    path = Path(path)
    if path.is_dir():
        raise UserInputError(f"{key}={path}: is a folder; give a file name")
    check_writable_dir(path.parent, key)
    return path
