"""Checkpoints: atomic writes, weights_only loads, canonical digests, and the RNG states.

A resumable checkpoint must hold every piece of state that changes what the next step computes:
weights and BatchNorm buffers, optimizer (momentum buffers), LR scheduler, grad scaler, the three
global RNGs (Python, NumPy, torch) and the sampler's position; and everything the run records: the
per-epoch history and the running sums of the epoch under way. Missing any one of them gives a
different model or a different record, silently; tests/test_resume.py proves each is needed.
"""

from __future__ import annotations

import hashlib
import io
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
from mlcraft.errors import UserInputError
from mlcraft.files import atomic_write_bytes
from mlcraft.seeding import tensor_bytes

STATE_KEYS = (
    "python_rng", "numpy_rng", "torch_rng", "sampler", "optimizer", "scheduler", "scaler", "history",
)  # fmt: skip


def save(path: str | Path, state: dict[str, Any]) -> Path:
    """torch.save to memory, then temp file + fsync + rename: a kill never leaves half a file."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return atomic_write_bytes(path, buffer.getvalue())


def load(path: str | Path) -> dict[str, Any]:
    """weights_only=True: tensors and plain containers only, never arbitrary pickled code."""
    path = Path(path)
    if not path.is_file():
        raise UserInputError(f"checkpoint not found: {path}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a truncated or foreign file: one clear line, not a traceback
        raise UserInputError(f"checkpoint {path} cannot be loaded: {exc}") from None


def nested_digest(obj: Any) -> str:
    """sha256 of any nested structure of tensors/arrays/numbers (optimizer, RNG states...)."""
    h = hashlib.sha256()

    def feed(x: Any) -> None:
        if isinstance(x, torch.Tensor):
            t = x.detach().cpu().contiguous()
            h.update(f"T{t.dtype}{tuple(t.shape)}".encode())
            h.update(tensor_bytes(t))
        elif isinstance(x, np.ndarray):
            h.update(f"A{x.dtype}{x.shape}".encode() + np.ascontiguousarray(x).tobytes())
        elif isinstance(x, dict):
            for key in sorted(x, key=str):
                h.update(f"K{key}".encode())
                feed(x[key])
        elif isinstance(x, list | tuple):
            h.update(f"L{len(x)}".encode())
            for item in x:
                feed(item)
        else:
            h.update(f"V{x!r}".encode())

    feed(obj)
    return h.hexdigest()


def capture_rng() -> dict[str, Any]:
    """The three global RNG states, as weights_only-loadable types (tensors, ints, tuples), plus
    every CUDA device's generator when CUDA is in use (dropout on a GPU draws from it)."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    state = {
        "python_rng": random.getstate(),
        "numpy_rng": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": pos,
                      "has_gauss": has_gauss, "gauss": gauss},
        "torch_rng": torch.get_rng_state(),
    }  # fmt: skip
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda_rng"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any], skip: frozenset[str] = frozenset()) -> None:
    if "python_rng" not in skip:
        version, internal, gauss = state["python_rng"]
        random.setstate((version, tuple(internal), gauss))
    if "numpy_rng" not in skip:
        s = state["numpy_rng"]
        keys = s["keys"].numpy().astype(np.uint32)
        np.random.set_state((s["kind"], keys, s["pos"], s["has_gauss"], s["gauss"]))
    if "torch_rng" not in skip:
        torch.set_rng_state(state["torch_rng"])
        if "cuda_rng" in state and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda_rng"])
