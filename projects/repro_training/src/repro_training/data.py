"""Data sets as in-memory uint8 arrays with a fixed split, plus the sampler and augmentation.

Everything that decides which examples a step sees is explicit state here, because resume has to
restore it: the data order is a pure function of (seed, epoch), and the position in the epoch is
the only thing a checkpoint needs to save about the sampler.
"""

from __future__ import annotations

import gzip
import hashlib
import random
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path

import numpy as np
import torch
from mlcraft.errors import UserInputError
from mlcraft.files import sha256_file
from sklearn.model_selection import train_test_split

from repro_training.config import DataConfig

FASHION_FILES = {
    "train_x": "train-images-idx3-ubyte.gz",
    "train_y": "train-labels-idx1-ubyte.gz",
    "test_x": "t10k-images-idx3-ubyte.gz",
    "test_y": "t10k-labels-idx1-ubyte.gz",
}


@dataclass
class Split:
    x_train: np.ndarray  # uint8 (n, h, w)
    y_train: np.ndarray  # int64 (n,)
    x_test: np.ndarray
    y_test: np.ndarray
    classes: list[str]
    files: dict[str, dict] = field(default_factory=dict)  # name -> {path, sha256, rows}
    test_groups: np.ndarray | None = None  # ELPV: cell type per test image, for slices

    @property
    def digest(self) -> str:
        """sha256 over the exact arrays a run trains and tests on (split included)."""
        h = hashlib.sha256()
        for array in (self.x_train, self.y_train, self.x_test, self.y_test):
            h.update(np.ascontiguousarray(array).tobytes())
        return h.hexdigest()

    @cached_property
    def mean_std(self) -> tuple[float, float]:
        x = self.x_train.astype(np.float64) / 255.0
        return float(x.mean()), float(x.std() + 1e-8)


def _split(x, y, cfg: DataConfig, groups=None):
    if len(np.unique(y)) < 2:
        raise UserInputError(f"data set {cfg.name} has a single class; need at least two")
    strata = (
        y if groups is None else np.asarray([f"{a}-{b}" for a, b in zip(y, groups, strict=True)])
    )
    idx_train, idx_test = train_test_split(
        np.arange(len(y)), test_size=cfg.test_fraction, random_state=cfg.split_seed, stratify=strata
    )
    return idx_train, idx_test


def _digits(cfg: DataConfig) -> Split:
    import sklearn
    from sklearn.datasets import load_digits

    bunch = load_digits()
    # 0..16 grey levels -> 0..255 uint8, so every data set shares one pipeline.
    x = np.round(bunch.images * (255.0 / 16.0)).astype(np.uint8)
    y = bunch.target.astype(np.int64)
    tr, te = _split(x, y, cfg)
    path = Path(sklearn.__file__).parent / "datasets" / "data" / "digits.csv.gz"
    files = {"digits": {"path": str(path), "sha256": sha256_file(path), "rows": len(y)}}
    return Split(x[tr], y[tr], x[te], y[te], [str(c) for c in range(10)], files)


def _elpv(cfg: DataConfig) -> Split:
    from mlcraft import elpv

    images, frame = elpv.load_arrays(cfg.size)
    y = frame["defective"].to_numpy(np.int64)
    cell = frame["cell_type"].to_numpy()
    tr, te = _split(images, y, cfg, groups=cell)
    labels = elpv.locate(elpv.LABELS)
    files = {
        "elpv_labels": {"path": str(labels), "sha256": elpv.LABELS.sha256, "rows": len(y)},
        "elpv_images": {"path": str(labels.parent / "images"), "sha256": elpv.IMAGES_DIGEST,
                        "rows": len(y)},
    }  # fmt: skip
    return Split(images[tr], y[tr], images[te], y[te], ["functional", "defective"], files, cell[te])


def _read_idx(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") as handle:
        raw = handle.read()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def _fashion(cfg: DataConfig) -> Split:
    folder = Path(cfg.fashion_mnist_dir)
    paths = {key: folder / name for key, name in FASHION_FILES.items()}
    if not all(p.is_file() for p in paths.values()):
        if not cfg.download:
            raise UserInputError(
                f"Fashion-MNIST not found in {folder} (data.fashion_mnist_dir); install Debian's "
                "dataset-fashion-mnist or set data.download=true to fetch it with torchvision"
            )
        folder = _download_fashion()
        paths = {key: folder / name for key, name in FASHION_FILES.items()}
    arrays = {key: _read_idx(p) for key, p in paths.items()}
    files = {f"fashion_{k}": {"path": str(p), "sha256": sha256_file(p), "rows": len(arrays[k])}
             for k, p in paths.items()}  # fmt: skip
    classes = ["tshirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker",
               "bag", "boot"]  # fmt: skip
    # Fashion-MNIST has a canonical test set; test_fraction/split_seed do not apply.
    return Split(arrays["train_x"], arrays["train_y"].astype(np.int64), arrays["test_x"],
                 arrays["test_y"].astype(np.int64), classes, files)  # fmt: skip


def _download_fashion() -> Path:
    try:
        from torchvision.datasets import FashionMNIST
    except ImportError:
        raise UserInputError("data.download=true needs torchvision installed") from None
    from mlcraft.files import default_runs_dir

    root = default_runs_dir() / "cache" / "torchvision"
    FashionMNIST(str(root), train=True, download=True)
    FashionMNIST(str(root), train=False, download=True)
    return root / "FashionMNIST" / "raw"


@lru_cache(maxsize=4)
def _load_cached(cfg_json: str) -> Split:
    cfg = DataConfig.model_validate_json(cfg_json)
    loader = {"digits": _digits, "elpv": _elpv, "fashion_mnist": _fashion}[cfg.name]
    split = loader(cfg)
    if cfg.max_train is not None and cfg.max_train < len(split.y_train):
        split.x_train, split.y_train = (
            split.x_train[: cfg.max_train],
            split.y_train[: cfg.max_train],
        )
    if len(split.y_train) == 0 or len(split.y_test) == 0:
        raise UserInputError(f"data set {cfg.name}: empty train or test split")
    return split


def load(cfg: DataConfig) -> Split:
    """The fixed train/test split of the configured data set (cached per process)."""
    return _load_cached(cfg.model_dump_json())


class EpochSampler:
    """Global batches of a seeded per-epoch permutation; each rank takes its slice of a batch.

    With one device a step sees exactly the same examples as the union of all ranks' slices with
    several, so the effective batch is `batch_size` whatever the device count.
    """

    def __init__(self, n: int, batch_size: int, seed: int, rank: int = 0, world_size: int = 1):
        if batch_size % world_size:
            raise UserInputError(
                f"train.batch_size={batch_size} must be divisible by the device count {world_size}"
            )
        if n < batch_size:
            raise UserInputError(f"train.batch_size={batch_size} exceeds the {n} training examples")
        self.n, self.batch_size, self.seed = n, batch_size, seed
        self.rank, self.world_size = rank, world_size
        self.per_device = batch_size // world_size

    @property
    def steps_per_epoch(self) -> int:
        return self.n // self.batch_size  # drop_last: every step has a full batch

    def order(self, epoch: int) -> np.ndarray:
        return np.random.default_rng([self.seed, epoch]).permutation(self.n)

    def batches(self, epoch: int, start_step: int = 0):
        order = self.order(epoch)
        for step in range(start_step, self.steps_per_epoch):
            batch = order[step * self.batch_size : (step + 1) * self.batch_size]
            yield step, batch[self.rank * self.per_device : (self.rank + 1) * self.per_device]


def to_tensor(x_uint8: np.ndarray, mean: float, std: float) -> torch.Tensor:
    x = torch.from_numpy(np.ascontiguousarray(x_uint8)).float().div_(255.0)
    return x.sub_(mean).div_(std).unsqueeze(1)  # (n, 1, h, w)


def augment(x_uint8: np.ndarray) -> np.ndarray:
    """Random shift (NumPy's global RNG) and brightness jitter (Python's random).

    Deliberately drawn from the two global RNGs that libraries use behind your back, so the resume
    test proves both are checkpointed; dropout draws from torch's.
    """
    n, h, w = x_uint8.shape
    pad = max(1, h // 16)
    padded = np.pad(x_uint8, ((0, 0), (pad, pad), (pad, pad)), mode="edge")
    offsets = np.random.randint(0, 2 * pad + 1, size=(n, 2))
    out = np.empty_like(x_uint8)
    for i, (dy, dx) in enumerate(offsets):
        out[i] = padded[i, dy : dy + h, dx : dx + w]
    gains = np.array([random.uniform(0.85, 1.15) for _ in range(n)], dtype=np.float32)
    return np.clip(out * gains[:, None, None], 0, 255).astype(np.uint8)


def make_batch(split: Split, idx: np.ndarray, train: bool, augment_on: bool):
    mean, std = split.mean_std
    x = split.x_train[idx] if train else split.x_test[idx]
    y = split.y_train[idx] if train else split.y_test[idx]
    if train and augment_on:
        x = augment(x)
    return to_tensor(x, mean, std), torch.from_numpy(y)
