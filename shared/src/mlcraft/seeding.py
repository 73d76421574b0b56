"""Seeding and determinism for Python, NumPy and (when installed) torch.

torch is imported lazily, so this module also serves the torch-free tabular project.
"""

from __future__ import annotations

import hashlib
import os
import random

import numpy as np

# cuBLAS reads this when CUDA initialises; it must be set before the first CUDA call.
CUBLAS_WORKSPACE = ":4096:8"


def _torch():
    try:
        import torch
    except ImportError:
        return None
    return torch


def seed_everything(seed: int) -> int:
    """Seed Python's random, NumPy's global RNG and torch (CPU and every CUDA device)."""
    if not 0 <= seed < 2**32:
        raise ValueError(f"seed must be in [0, 2**32), got {seed}")
    os.environ["PYTHONHASHSEED"] = str(seed)
    random.seed(seed)
    np.random.seed(seed)
    torch = _torch()
    if torch is not None:
        torch.manual_seed(seed)  # also seeds all CUDA devices
    return seed


def set_deterministic(enabled: bool = True, warn_only: bool = False) -> None:
    """Ask torch for deterministic kernels (errors on ops that have none, unless warn_only)."""
    if enabled:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", CUBLAS_WORKSPACE)
    torch = _torch()
    if torch is None:
        return
    torch.use_deterministic_algorithms(enabled, warn_only=warn_only)
    torch.backends.cudnn.deterministic = enabled
    torch.backends.cudnn.benchmark = not enabled


def worker_init_fn(worker_id: int) -> None:
    """DataLoader worker seeding: derive NumPy/random seeds from the worker's torch seed.

    torch gives each worker base_seed + worker_id, where base_seed comes from the loader's
    generator; seeding NumPy from it makes per-worker augmentation reproducible.
    """
    torch = _torch()
    seed = torch.initial_seed() % 2**32 if torch is not None else worker_id
    random.seed(seed)
    np.random.seed(seed)


def make_generator(seed: int):
    """A torch.Generator for DataLoader(generator=...), so shuffling does not depend on global state."""
    torch = _torch()
    if torch is None:
        raise ImportError("make_generator needs torch: install mlcraft[torch]")
    generator = torch.Generator()
    generator.manual_seed(seed)
    return generator


def tensor_bytes(tensor) -> bytes:
    """A CPU tensor's raw bytes whatever its dtype (bf16 has no NumPy twin): reinterpreted as
    uint8 first."""
    torch = _torch()
    return tensor.reshape(-1).view(torch.uint8).numpy().tobytes() if tensor.numel() else b""


def tensor_digest(state_dict: dict) -> str:
    """sha256 over names, dtypes, shapes and raw bytes, in key order: equal iff bitwise equal."""
    h = hashlib.sha256()
    for name in sorted(state_dict):
        tensor = state_dict[name].detach().cpu().contiguous()
        h.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        h.update(tensor_bytes(tensor))
    return h.hexdigest()
