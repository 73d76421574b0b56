"""Fault drills: tests/test_faults.py runs each one, and the reference run writes the table
(results/faults.csv). Every drill runs the real CLI in a fresh process (mlcraft.faults)."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import numpy as np
from mlcraft.faults import Fault, writes

SMOKE = ["train", "--config", "configs/smoke.yaml"]
NPZ = [*SMOKE, "--set", "data.name=npz"]
_MODEL_CACHE: list[Path] = []


def _npz(**arrays) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def _images(n: int) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (n, 8, 8), dtype=np.uint8)


def _with_model(*then):
    """A finished single run at {scratch}/model (a tiny digits model: trained once per process,
    copied into each drill that needs one), plus any other setup."""

    def setup(scratch: Path) -> None:
        if not _MODEL_CACHE or not (_MODEL_CACHE[0] / "weights.pt").is_file():
            from repro_training.config import Config
            from repro_training.train import fit

            cfg = Config.model_validate({
                "seeds": [0], "tracking": False,
                "data": {"name": "digits", "max_train": 128},
                "model": {"widths": [4], "stem_stride": 1},
                "train": {"epochs": 1, "batch_size": 32, "base_batch_size": 32, "threads": 1},
            })  # fmt: skip
            _MODEL_CACHE[:] = [fit(cfg, 0, scratch / "model").run_dir]
        if _MODEL_CACHE[0] != scratch / "model":
            shutil.copytree(_MODEL_CACHE[0], scratch / "model")
        for step in then:
            step(scratch)

    return setup


PREDICT = ["predict", "--model", "{scratch}/model", "--input", "{scratch}/x.npy"]

FAULTS = [
    Fault("kill mid-train, then train again", SMOKE,
          kill_when="repro_training/*.partial/runs/seed0/manifest.json", then=SMOKE),
    Fault("read-only output", [*SMOKE, "--run-dir", "{mount}/run"], mount="read_only",
          message="not writable"),
    Fault("full disk", [*SMOKE, "--run-dir", "{mount}/run"], mount="full", message="MB free"),
    Fault("run dir under a file", [*SMOKE, "--run-dir", "{scratch}/afile/run"],
          setup=writes("afile", b"x"), message="is a file"),
    Fault("missing data folder (Fashion-MNIST)",
          [*SMOKE, "--set", "data.name=fashion_mnist", "data.fashion_mnist_dir={scratch}/nope"],
          message="data.fashion_mnist_dir="),
    Fault("missing data file", [*NPZ, "data.path={scratch}/nope.npz"], message="no such file"),
    Fault("old output key", [*SMOKE, "--set", "results_dir=results"],
          message="unknown config key 'results_dir'"),
    Fault("bad value", [*SMOKE, "--set", "train.epochs=0"], message="train.epochs"),
    Fault("unknown label array (column)", [*NPZ, "data.path={scratch}/d.npz", "data.y_key=label"],
          setup=writes("d.npz", _npz(x=_images(40), y=np.arange(40) % 2)),
          message="data.y_key=label"),
    Fault("non-UTF-8 config", ["train", "--config", "{scratch}/latin1.yaml"],
          setup=writes("latin1.yaml", "seeds: [0]  # caf\xe9\n".encode("latin-1")),
          message="UTF-8"),
    Fault("folder given as data file", [*NPZ, "data.path={scratch}"], message="folder"),
    Fault("empty data file", [*NPZ, "data.path={scratch}/empty.npz"],
          setup=writes("empty.npz", b""), message="empty"),
    Fault("one-class labels", [*NPZ, "data.path={scratch}/one.npz"],
          setup=writes("one.npz", _npz(x=_images(40), y=np.ones(40, dtype=np.int64))),
          message="one class"),
    Fault("repeated seed", [*SMOKE, "--set", "seeds=[0, 0]"], message="seeds="),
    Fault("predict on images of the wrong shape", [*PREDICT, "--output", "{scratch}/p.csv"],
          setup=_with_model(writes("x.npy", _npy(np.zeros((2, 9, 9), np.uint8)))),
          message="expected images of shape"),
    Fault("predict on a pickled .npy", [*PREDICT, "--output", "{scratch}/p.csv"],
          setup=_with_model(writes("x.npy", _npy(np.array([None], dtype=object)))),
          message="pickled Python objects"),
    Fault("predict on binary garbage", [*PREDICT, "--output", "{scratch}/p.csv"],
          setup=_with_model(writes("x.npy", b"\x00garbage" * 64)), message="no NumPy header"),
    Fault("predict --output is a folder", [*PREDICT, "--output", "{scratch}"],
          setup=_with_model(writes("x.npy", _npy(_images(2)))), message="is a folder"),
    Fault("predict --output is the input", [*PREDICT, "--output", "{scratch}/x.npy"],
          setup=_with_model(writes("x.npy", _npy(_images(2)))), message="is the --input file"),
    Fault("predict --output inside the model run",
          [*PREDICT, "--output", "{scratch}/model/p.csv"],
          setup=_with_model(writes("x.npy", _npy(_images(2)))), message="inside the --model run"),
    Fault("evaluate a folder that is no run",
          ["evaluate", "--config", "configs/smoke.yaml", "--model", "{scratch}"],
          message="not a complete run"),
    Fault("resume with nothing to resume",
          ["run", "--config", "configs/smoke.yaml", "--run-dir", "{scratch}/r", "--resume"],
          message="nothing to resume"),
    Fault("missing config file", ["train", "--config", "configs/nope.yaml"], message="not found"),
    Fault("publish a folder that is no run", ["publish", "--run-dir", "{scratch}"],
          message="not a complete run"),
]  # fmt: skip
