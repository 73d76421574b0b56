"""Image sets as in-memory uint8 tensors, and the fixed stratified split.

Everything is resized once to `image_size` and kept as uint8 (N, C, S, S): at 128-160 px the whole
ELPV set is ~50 MB, so training never decodes a PNG and the data-wait share stays tiny on 2 cores.
C is 1 for grayscale sets (ELPV, Fashion-MNIST, an all-gray folder) and 3 otherwise; the model
input repeats a single channel to RGB.
"""

from __future__ import annotations

import gzip
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from mlcraft.errors import UserInputError
from mlcraft.files import default_runs_dir
from sklearn.model_selection import train_test_split

from .config import DataConfig
from .sources import class_folders, image_files

FASHION_DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_CLASSES = [
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
]  # fmt: skip


@dataclass
class ImageSet:
    images: np.ndarray  # uint8 (N, C, S, S)
    labels: np.ndarray  # int64 (N,)
    classes: list[str]
    meta: pd.DataFrame  # one row per image; `strata` column drives the split
    name: str
    skipped: int = 0  # unreadable files left out (folder data)
    unreadable: list[str] = field(default_factory=list)  # "<path>: <error type>" per skipped file
    data_files: list[tuple[str, Path, int]] = field(default_factory=list)  # for summary.json

    @property
    def channels(self) -> int:
        return int(self.images.shape[1])

    @property
    def positive(self) -> int | None:
        """The positive class index of a binary task (the rarer one), else None."""
        if len(self.classes) != 2:
            return None
        return 1


def load(cfg: DataConfig, seed: int = 0) -> ImageSet:
    loaders = {
        "elpv": load_elpv,
        "folder": load_folder,
        "fashion_mnist": load_fashion_mnist,
        "synthetic": load_synthetic,
    }
    data = loaders[cfg.kind](cfg, seed) if cfg.kind == "synthetic" else loaders[cfg.kind](cfg)
    if cfg.max_images and cfg.max_images < len(data.labels):
        keep, _ = train_test_split(
            np.arange(len(data.labels)),
            train_size=cfg.max_images,
            stratify=data.labels,
            random_state=seed,
        )
        data = subset(data, np.sort(keep))
    check_classes(data)
    return data


def subset(data: ImageSet, idx: np.ndarray) -> ImageSet:
    return ImageSet(
        images=data.images[idx],
        labels=data.labels[idx],
        classes=data.classes,
        meta=data.meta.iloc[idx].reset_index(drop=True),
        name=data.name,
        skipped=data.skipped,
        unreadable=data.unreadable,
        data_files=data.data_files,
    )


def check_classes(data: ImageSet) -> None:
    counts = np.bincount(data.labels, minlength=len(data.classes))
    if len(data.classes) < 2:
        raise UserInputError(f"{data.name}: need at least 2 classes, found {data.classes}")
    empty = [c for c, n in zip(data.classes, counts, strict=True) if n == 0]
    if empty:
        raise UserInputError(f"{data.name}: class(es) with no readable images: {empty}")


# --- ELPV ------------------------------------------------------------------------------------


def load_elpv(cfg: DataConfig) -> ImageSet:
    from mlcraft import elpv

    images, frame = elpv.load_arrays(cfg.image_size)
    # path: the original 300 px file, for the failure gallery (never written to a table)
    meta = frame[["image", "defect_probability", "cell_type", "path"]].copy()
    # Stratify by expert probability x cell type: keeps the label, the 1/3 and 2/3 "unsure"
    # grades and the mono/poly mix the same in every split.
    meta["strata"] = meta["cell_type"] + "-" + meta["defect_probability"].round(3).astype(str)
    labels_path = elpv.locate(elpv.LABELS)
    return ImageSet(
        images=images[:, None],
        labels=frame["defective"].to_numpy(np.int64),
        classes=["functional", "defective"],
        meta=meta,
        name="elpv",
        data_files=[("elpv_labels", labels_path, len(frame))],
    )


# --- your own images: an ImageFolder tree ----------------------------------------------------


def _read_image(path: Path, size: int) -> np.ndarray:
    """(H, W) uint8 for grayscale files, (H, W, 3) for colour; alpha is dropped."""
    from PIL import Image

    with Image.open(path) as img:
        img.load()  # force a full decode so truncated files fail here, not later
        if img.mode in {"1", "L", "I", "I;16", "F", "LA"}:
            img = img.convert("L")
        else:
            img = img.convert("RGB")
        img = img.resize((size, size), Image.Resampling.BILINEAR)
        return np.asarray(img, dtype=np.uint8)


def load_folder(cfg: DataConfig) -> ImageSet:
    if not cfg.path:
        raise UserInputError("data.kind=folder needs data.path (an ImageFolder root)")
    root = Path(cfg.path)
    if not root.is_dir():
        raise UserInputError(f"data.path {root} is not a folder")
    classes = class_folders(root)
    if len(classes) < 2:
        raise UserInputError(
            f"{root}: an ImageFolder needs one sub-folder per class (>= 2), found {classes}"
        )
    arrays, labels, paths, skipped, reasons = [], [], [], 0, []
    for label, name in enumerate(classes):
        files = image_files(root / name)
        for path in files:
            try:
                arrays.append(_read_image(path, cfg.image_size))
            except Exception as exc:  # PIL raises many types for corrupt files
                skipped += 1
                reasons.append(f"{path.relative_to(root)}: {type(exc).__name__}")
                continue
            labels.append(label)
            paths.append(str(path))
    if skipped:
        print(f"data: skipped {skipped} unreadable file(s) under {root}, e.g. {reasons[:3]}")
    if not arrays:
        raise UserInputError(f"{root}: no readable images")
    gray = all(a.ndim == 2 for a in arrays)
    if gray:
        images = np.stack(arrays)[:, None]
    else:  # a mix: gray images become RGB
        images = np.stack([a if a.ndim == 3 else np.repeat(a[..., None], 3, 2) for a in arrays])
        images = images.transpose(0, 3, 1, 2)
    labels_arr = np.asarray(labels, dtype=np.int64)
    data = ImageSet(
        images=np.ascontiguousarray(images),
        labels=labels_arr,
        classes=classes,
        meta=pd.DataFrame({"path": paths, "strata": labels_arr}),
        name=f"folder:{root.name}",
        skipped=skipped,
        unreadable=reasons,
    )
    check_classes(data)
    return data


# --- Fashion-MNIST ---------------------------------------------------------------------------


def _read_idx(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb") as handle:
        raw = handle.read()
    ndim = raw[3]
    shape = struct.unpack(f">{ndim}I", raw[4 : 4 + 4 * ndim])
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def _find_idx(folder: Path, stem: str) -> Path | None:
    for name in (f"{stem}.gz", stem):
        for candidate in (folder / name, folder / "raw" / name):
            if candidate.is_file():
                return candidate
    return None


FASHION_STEMS = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}
FASHION_HOW_TO = (
    "get it with the Debian/Ubuntu package `dataset-fashion-mnist` "
    f"(sudo apt-get install dataset-fashion-mnist, files in {FASHION_DEBIAN_DIR}), "
    "or set data.path to a folder holding the four *-ubyte.gz files, "
    "or run online with data.source=torchvision"
)


def fashion_files(folder: Path) -> dict[str, Path | None]:
    """The four IDX files (.gz or plain, in folder or folder/raw) by stem; None where missing."""
    return {stem: _find_idx(folder, stem) for stem in FASHION_STEMS.values()}


def _fashion_from_folder(folder: Path) -> dict[str, np.ndarray] | None:
    found = fashion_files(folder)
    if any(p is None for p in found.values()):
        return None
    return {key: _read_idx(found[stem]) for key, stem in FASHION_STEMS.items()}


def load_fashion_mnist(cfg: DataConfig) -> ImageSet:
    how_to = FASHION_HOW_TO
    folder = Path(cfg.path) if cfg.path else FASHION_DEBIAN_DIR
    arrays = None
    if cfg.source in {"auto", "debian"}:
        arrays = _fashion_from_folder(folder)
        if arrays is None and cfg.source == "debian":
            raise UserInputError(f"Fashion-MNIST not found in {folder}: {how_to}")
    if arrays is None:  # torchvision's downloader (needs the internet)
        cache = default_runs_dir() / "cache" / "fashion-mnist"
        try:
            from torchvision.datasets import FashionMNIST

            FashionMNIST(str(cache), train=True, download=True)
            FashionMNIST(str(cache), train=False, download=True)
        except Exception as exc:
            raise UserInputError(
                f"Fashion-MNIST not in {folder} and the torchvision download failed "
                f"({type(exc).__name__}: {str(exc).splitlines()[0][:120]}); {how_to}"
            ) from None
        arrays = _fashion_from_folder(cache / "FashionMNIST")
        if arrays is None:
            raise UserInputError(f"Fashion-MNIST download left no IDX files in {cache}; {how_to}")
    images = np.concatenate([arrays["x_train"], arrays["x_test"]])
    labels = np.concatenate([arrays["y_train"], arrays["y_test"]]).astype(np.int64)
    if cfg.image_size != images.shape[-1]:
        import torch
        import torch.nn.functional as F

        resized = []
        for start in range(0, len(images), 4096):
            chunk = torch.from_numpy(images[start : start + 4096]).float()[:, None]
            chunk = F.interpolate(chunk, size=cfg.image_size, mode="bilinear", antialias=True)
            resized.append(chunk.round().clamp(0, 255).to(torch.uint8).numpy())
        images = np.concatenate(resized)
    else:
        images = images[:, None]
    split = np.array(["train"] * len(arrays["y_train"]) + ["test"] * len(arrays["y_test"]))
    return ImageSet(
        images=np.ascontiguousarray(images),
        labels=labels,
        classes=FASHION_CLASSES,
        meta=pd.DataFrame({"strata": labels, "official_split": split}),
        name="fashion_mnist",
    )


# --- generated images (smoke runs, tests) ----------------------------------------------------


SYNTHETIC_CLASSES = ["plain", "cracked", "spotted"]


def synthetic_images(
    n_per_class: int, size: int, seed: int = 0, classes: int = 2
) -> tuple[np.ndarray, np.ndarray]:
    """Gray 'cells' with a grid of busbars; class 1 adds a dark diagonal crack, class 2 a dark
    round spot. uint8 (N, S, S)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    images, labels = [], []
    for label in range(classes):
        for _ in range(n_per_class):
            img = 150 + 20 * rng.standard_normal((size, size))
            img[:, (np.arange(size) % max(size // 4, 2)) == 0] = 60  # busbars
            if label == 1:
                a, b = rng.uniform(-1.5, 1.5), rng.uniform(0.2, 0.8)
                img[np.abs(yy - (a * (xx - 0.5) + b)) < 0.04] = 30
            elif label == 2:
                cy, cx = rng.uniform(0.25, 0.75, size=2)
                img[(yy - cy) ** 2 + (xx - cx) ** 2 < 0.12**2] = 30
            images.append(np.clip(img, 0, 255).astype(np.uint8))
            labels.append(label)
    return np.stack(images), np.asarray(labels, dtype=np.int64)


def load_synthetic(cfg: DataConfig, seed: int = 0) -> ImageSet:
    images, labels = synthetic_images(
        cfg.synthetic_per_class, cfg.image_size, seed, cfg.synthetic_classes
    )
    return ImageSet(
        images=images[:, None],
        labels=labels,
        classes=SYNTHETIC_CLASSES[: cfg.synthetic_classes],
        meta=pd.DataFrame({"strata": labels}),
        name="synthetic",
    )


def write_synthetic_folder(
    root: str | Path, n_per_class: int, size: int, seed: int = 0, classes: int = 2
) -> Path:
    """An ImageFolder tree of generated PNGs (for tests and `predict` demos)."""
    from PIL import Image

    root = Path(root)
    images, labels = synthetic_images(n_per_class, size, seed, classes)
    for i, (img, label) in enumerate(zip(images, labels, strict=True)):
        folder = root / SYNTHETIC_CLASSES[label]
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(folder / f"img{i:04d}.png")
    return root


# --- the split -------------------------------------------------------------------------------


def split(data: ImageSet, cfg: DataConfig, seed: int = 0) -> dict[str, np.ndarray]:
    """Fixed stratified train/val/test indices (sorted). An official test split is respected."""
    n = len(data.labels)
    strata = data.meta["strata"].astype(str).to_numpy()
    index = np.arange(n)
    if "official_split" in data.meta and (data.meta["official_split"] == "test").any():
        test = index[data.meta["official_split"].to_numpy() == "test"]
        rest = index[data.meta["official_split"].to_numpy() != "test"]
        val_share = cfg.val_fraction
    else:
        rest, test = _stratified(index, strata, cfg.test_fraction, seed)
        val_share = cfg.val_fraction / (1 - cfg.test_fraction)
    train, val = _stratified(rest, strata[rest], val_share, seed + 1)
    parts = {"train": np.sort(train), "val": np.sort(val), "test": np.sort(test)}
    for name, idx in parts.items():
        present = np.unique(data.labels[idx])
        if len(present) < 2:
            raise UserInputError(
                f"{data.name}: the {name} split has only class(es) {present.tolist()}; "
                "add images or change data.val_fraction/test_fraction"
            )
    return parts


def _stratified(index: np.ndarray, strata: np.ndarray, share: float, seed: int):
    # Strata too small to split fall back to stratifying by nothing rather than failing.
    _, counts = np.unique(strata, return_counts=True)
    stratify = strata if counts.min() >= 2 and int(len(index) * share) >= len(counts) else None
    try:
        return train_test_split(index, test_size=share, stratify=stratify, random_state=seed)
    except ValueError as exc:
        raise UserInputError(f"cannot split {len(index)} images: {exc}") from None
