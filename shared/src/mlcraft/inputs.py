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
    except UnicodeDecodeError:
        raise UserInputError(f"{key}={path}: not UTF-8 text ({_first_bad_byte(path)}); "
                             "re-save it as UTF-8 CSV") from None  # fmt: skip
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise UserInputError(f"{key}={path}: not a readable CSV ({str(exc).strip()})") from None
    if frame.empty:
        raise UserInputError(f"{key}={path}: no data rows")
    _refuse_duplicate_header(path, key, kwargs.get("sep", ","))
    return frame


def _first_bad_byte(path: Path) -> str:
    """Where the file stops being UTF-8, counted in the whole file (pandas counts per chunk)."""
    raw = path.read_bytes()
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        return f"byte {exc.start} on line {line}"
    return "an undecodable byte"


def _refuse_duplicate_header(path: Path, key: str, sep: str) -> None:
    """pandas renames a repeated column to `name.1` and reads on: which of the two was meant?"""
    import csv

    with open(path, encoding="utf-8", newline="") as handle:
        header = next(csv.reader(handle, delimiter=sep), [])
    repeated = sorted({name for name in header if header.count(name) > 1})
    if repeated:
        raise UserInputError(
            f"{key}={path}: column(s) {repeated} appear more than once in the header"
        )


def output_file(path: str | os.PathLike, key: str = "--output") -> Path:
    """An output path that can be written: not a folder, its folder exists or can be made."""
    from mlcraft.runs import check_writable_dir

    path = Path(path)
    if path.is_dir():
        raise UserInputError(f"{key}={path}: is a folder; give a file name")
    check_writable_dir(path.parent, key)
    return path
