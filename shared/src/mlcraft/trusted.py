"""Loading model files that someone else may have made, without letting them run code.

- skops: `load_skops(path, allowed)` loads only when every type the file names that skops does not
  trust by default is in `allowed`, an exact set of full type names that the project's own writer
  produces. Nothing is trusted by prefix: `builtins.eval` and `numpy.ravel` share a prefix with
  harmless types, and a Pipeline of them runs code at predict time.
- a manifest (manifest.json) pins every file of a saved model by sha256; `verify_manifest` checks
  them before anything is loaded, so a swapped or truncated file is refused by name.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from mlcraft.errors import UserInputError
from mlcraft.files import atomic_write_json, sha256_file

MANIFEST = "manifest.json"


def load_skops(path: str | os.PathLike, allowed: set[str] | frozenset[str]):
    """skops.io.load with an exact allow-list; a file naming any other type is refused unloaded."""
    import skops.io as sio

    path = Path(path)
    try:
        untrusted = sio.get_untrusted_types(file=path)
    except Exception as exc:  # noqa: BLE001 - not a skops file at all: say so in one line
        raise UserInputError(f"{path}: not a readable skops file ({type(exc).__name__})") from None
    unexpected = sorted(set(untrusted) - set(allowed))
    if unexpected:
        raise UserInputError(
            f"{path}: refusing to load types this project never writes: {', '.join(unexpected)}"
        )
    return sio.load(path, trusted=list(untrusted))


def write_manifest(folder: str | os.PathLike, files: list[str]) -> dict[str, str]:
    """sha256 of each named file in folder, written to folder/manifest.json (last)."""
    folder = Path(folder)
    hashes = {name: sha256_file(folder / name) for name in files}
    atomic_write_json(folder / MANIFEST, {"sha256": hashes})
    return hashes


def verify_manifest(folder: str | os.PathLike) -> dict[str, str]:
    """Every file in the manifest exists with its recorded sha256; else one-line UserInputError."""
    folder = Path(folder)
    try:
        hashes = json.loads((folder / MANIFEST).read_text())["sha256"]
    except (FileNotFoundError, NotADirectoryError):
        raise UserInputError(
            f"{folder}: no {MANIFEST}; not a model folder this project wrote"
        ) from None
    except (ValueError, KeyError, TypeError):
        raise UserInputError(f"{folder}/{MANIFEST}: unreadable") from None
    for name, digest in hashes.items():
        path = folder / name
        if Path(name).is_absolute() or ".." in Path(name).parts:
            raise UserInputError(f"{folder}/{MANIFEST}: file name {name!r} leaves the folder")
        if not path.is_file():
            raise UserInputError(f"{path}: listed in {MANIFEST} but missing")
        if sha256_file(path) != digest:
            raise UserInputError(f"{path}: sha256 differs from {MANIFEST}; the file was changed")
    return hashes
