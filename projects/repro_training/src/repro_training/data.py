"""Data sets as in-memory uint8 arrays with a fixed split, plus the sampler and augmentation.

Everything that decides which examples a step sees is explicit state here, because resume has to
restore it: the data order is a pure function of (seed, epoch), and the position in the epoch is
the only thing a checkpoint needs to save about the sampler.
"""

from __future__ import annotations

import gzip
import hashlib
import random
import zipfile
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from mlcraft.errors import UserInputError
from mlcraft.files import sha256_file

from repro_training.config import DataConfig

if TYPE_CHECKING:  # torch and scikit-learn load lazily: pre-flight errors stay fast
    import torch

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


def class_counts(y: np.ndarray, classes: list[str]) -> dict[str, int]:
    counts = np.bincount(y, minlength=len(classes))
    return {name: int(n) for name, n in zip(classes, counts, strict=True) if n}


def _label_key(cfg: DataConfig) -> str:
    return f"data.y_key={cfg.y_key}" if cfg.name == "npz" else f"data.name={cfg.name}"


def _split(x, y, cfg: DataConfig, groups=None, classes: list[str] | None = None):
    from sklearn.model_selection import train_test_split

    classes = classes or [str(c) for c in range(int(y.max()) + 1)]
    if len(np.unique(y)) < 2:
        raise UserInputError(
            f"{_label_key(cfg)}: one class only ({class_counts(y, classes)}); need at least two"
        )
    strata = (
        y if groups is None else np.asarray([f"{a}-{b}" for a, b in zip(y, groups, strict=True)])
    )
    try:
        idx_train, idx_test = train_test_split(
            np.arange(len(y)), test_size=cfg.test_fraction, random_state=cfg.split_seed,
            stratify=strata,
        )  # fmt: skip
    except ValueError as exc:  # a class too small to appear on both sides of the split
        raise UserInputError(
            f"{_label_key(cfg)}: cannot split {class_counts(y, classes)} with "
            f"data.test_fraction={cfg.test_fraction} ({exc})"
        ) from None
    return idx_train, idx_test


def _digits(cfg: DataConfig) -> Split:
    import sklearn
    from sklearn.datasets import load_digits

    bunch = load_digits()
    # 0..16 grey levels -> 0..255 uint8, so every data set shares one pipeline.
    x = np.round(bunch.images * (255.0 / 16.0)).astype(np.uint8)
    y = bunch.target.astype(np.int64)
    classes = [str(c) for c in range(10)]
    tr, te = _split(x, y, cfg, classes=classes)
    path = Path(sklearn.__file__).parent / "datasets" / "data" / "digits.csv.gz"
    files = {"digits": {"path": str(path), "sha256": sha256_file(path), "rows": len(y)}}
    return Split(x[tr], y[tr], x[te], y[te], classes, files)


def _elpv(cfg: DataConfig) -> Split:
    from mlcraft import elpv

    images, frame = elpv.load_arrays(cfg.size)
    y = frame["defective"].to_numpy(np.int64)
    cell = frame["cell_type"].to_numpy()
    classes = ["functional", "defective"]
    tr, te = _split(images, y, cfg, groups=cell, classes=classes)
    labels = elpv.locate(elpv.LABELS)
    files = {
        "elpv_labels": {"path": str(labels), "sha256": elpv.LABELS.sha256, "rows": len(y)},
        "elpv_images": {"path": str(labels.parent / "images"), "sha256": elpv.IMAGES_DIGEST,
                        "rows": len(y)},
    }  # fmt: skip
    return Split(images[tr], y[tr], images[te], y[te], classes, files, cell[te])


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
            missing = next(p.name for p in paths.values() if not p.is_file())
            raise UserInputError(
                f"data.fashion_mnist_dir={folder}: Fashion-MNIST not found (no {missing}); install "
                "Debian's dataset-fashion-mnist or set data.download=true to fetch it with torchvision"
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


def _npz(cfg: DataConfig) -> Split:
    """Your own images: an .npz with uint8 (n, h, w) images and one label per image."""
    from mlcraft.inputs import existing_file

    if cfg.path is None:
        raise UserInputError(
            "data.path: required with data.name=npz (an .npz of images and labels)"
        )
    path = existing_file(cfg.path, "data.path")
    try:
        archive = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise UserInputError(f"data.path={path}: not a NumPy .npz file ({exc})") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise UserInputError(f"data.path={path}: a single .npy array, not an .npz of x and y")
    with archive:
        wanted = {"data.x_key": cfg.x_key, "data.y_key": cfg.y_key, "data.group_key": cfg.group_key}
        arrays = {}
        for key, name in wanted.items():
            if name is None:
                continue
            if name not in archive.files:
                raise UserInputError(
                    f"{key}={name}: no such array in {path} (it holds {', '.join(archive.files)})"
                )
            try:
                arrays[key] = archive[name]
            except ValueError as exc:  # object arrays need pickle: never loaded
                raise UserInputError(f"{key}={name}: unreadable array in {path} ({exc})") from None
    x, labels = arrays["data.x_key"], arrays["data.y_key"]
    if x.dtype != np.uint8 or x.ndim != 3 or len(x) < 2:
        raise UserInputError(
            f"data.x_key={cfg.x_key}: expected uint8 images of shape (n, h, w), got {x.dtype} "
            f"{x.shape}"
        )
    for key, values in arrays.items():
        if key != "data.x_key" and (values.ndim != 1 or len(values) != len(x)):
            raise UserInputError(
                f"{key}={wanted[key]}: expected one value per image ({len(x)}), got shape "
                f"{values.shape}"
            )
    if labels.dtype.kind not in "iuUSb":
        raise UserInputError(
            f"data.y_key={cfg.y_key}: labels must be integers or strings, got {labels.dtype}"
        )
    names, y = np.unique(labels, return_inverse=True)
    classes = [str(c) for c in names]
    groups = arrays.get("data.group_key")
    groups = None if groups is None else groups.astype(str)
    tr, te = _split(x, y.astype(np.int64), cfg, groups=groups, classes=classes)
    y = y.astype(np.int64)
    files = {"npz": {"path": str(path.absolute()), "sha256": sha256_file(path), "rows": len(y)}}
    test_groups = None if groups is None else groups[te]
    return Split(x[tr], y[tr], x[te], y[te], classes, files, test_groups)


LOADERS = {"digits": _digits, "elpv": _elpv, "fashion_mnist": _fashion, "npz": _npz}


@lru_cache(maxsize=4)
def _load_cached(cfg_json: str) -> Split:
    cfg = DataConfig.model_validate_json(cfg_json)
    loader = LOADERS[cfg.name]
    split = loader(cfg)
    if cfg.max_train is not None and cfg.max_train < len(split.y_train):
        split.x_train, split.y_train = (
            split.x_train[: cfg.max_train],
            split.y_train[: cfg.max_train],
        )
    if len(split.y_train) == 0 or len(split.y_test) == 0:
        raise UserInputError(f"data.name={cfg.name}: empty train or test split")
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
    import torch

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
    import torch

    mean, std = split.mean_std
    x = split.x_train[idx] if train else split.x_test[idx]
    y = split.y_train[idx] if train else split.y_test[idx]
    if train and augment_on:
        x = augment(x)
    return to_tensor(x, mean, std), torch.from_numpy(y)
