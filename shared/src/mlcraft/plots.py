"""Matplotlib on a headless backend, and atomic PNG writes."""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from mlcraft.files import atomic_write_bytes  # noqa: E402

__all__ = ["plt", "save_figure"]


def save_figure(fig, path: str | Path, dpi: int = 110) -> Path:
    """Write a figure as PNG atomically and close it (small files: plots are committed)."""
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    plt.close(fig)
    return atomic_write_bytes(path, buffer.getvalue())
