"""The ELPV solar-cell electroluminescence images, read offline from the `elpv-dataset` wheel.

Used by vision_transfer and repro_training. 2,624 grayscale 300x300 PNGs, each with an expert
defect probability (0, 1/3, 2/3, 1) and a cell type (mono/poly). Data licence CC BY-NC-SA 4.0
(Buerhop-Lutz et al. 2018; Deitsch et al. 2019). The labels file and every image are pinned: the
labels by sha256, the images by one digest over their individual sha256s.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import numpy as np
import pandas as pd

from mlcraft.carriers import CarrierFile, locate
from mlcraft.errors import UserInputError
from mlcraft.files import atomic_write_bytes, default_runs_dir, sha256_file
from mlcraft.stats import binomial_ci

LABELS = CarrierFile(
    "elpv-dataset",
    "1.0.0.post1",
    "elpv_dataset/data/labels.csv",
    "0abe6fe7700aea571717d7d7dfec005a47c6207b4cde26a4556b6807a115483d",
)
N_IMAGES = 2624
# sha256 over "name sha256\n" lines of all images, sorted by name.
IMAGES_DIGEST = "e9c344447bbbe075b14f492697f25276b840b27262a55157a5d43e00592d3f90"
DEFECT_THRESHOLD = 0.5
# Deitsch et al. (Solar Energy 2019, arXiv 1807.02894): their CNN (VGG-19) reaches 88.42% accuracy
# trained on 1,968 of the cells, so measured on the other 656, at 300 px on their own split.
PUBLISHED_CNN_ACCURACY = 0.8842
PUBLISHED_TEST_CELLS = N_IMAGES - 1968


def published_band() -> dict:
    """Deitsch et al.'s CNN accuracy as a hero figure draws it: a band, the binomial (Wilson) 95%
    interval of 88.42% on their 656 test cells, i.e. the noise of their own test set. Keys: label,
    lo, hi (mlcraft.plots.ladder_figure's reference), value and n (for the caption)."""
    lo, hi = binomial_ci(PUBLISHED_CNN_ACCURACY, PUBLISHED_TEST_CELLS)
    label = f"Deitsch et al. 2019, {100 * PUBLISHED_CNN_ACCURACY:.2f}% (binomial 95% CI)"
    return {"label": label, "lo": lo, "hi": hi, "value": PUBLISHED_CNN_ACCURACY,
            "n": PUBLISHED_TEST_CELLS}  # fmt: skip


def published_caption(band: dict) -> str:
    """What a figure's published band is, from the band the run drew (its summary.json)."""
    return (
        f"The shaded band: Deitsch et al.'s VGG-19 accuracy, {100 * band['value']:.2f}% (Solar "
        f"Energy 2019, arXiv 1807.02894), binomial 95% CI on their {band['n']:,} test cells "
        f"[{100 * band['lo']:.1f}%, {100 * band['hi']:.1f}%]; their split, 300 px: comparable in kind, "
        "not to the decimal."
    )


def images_digest(paths: list[Path]) -> str:
    lines = "".join(f"{p.name} {sha256_file(p)}\n" for p in sorted(paths, key=lambda p: p.name))
    return hashlib.sha256(lines.encode()).hexdigest()


def load_index(verify_images: bool = True) -> pd.DataFrame:
    """One row per image: path, defect_probability, cell_type, defective (probability >= 0.5)."""
    labels_path = locate(LABELS)
    frame = pd.read_csv(
        labels_path, sep=r"\s+", header=None, names=["image", "defect_probability", "cell_type"]
    )
    frame["path"] = [labels_path.parent / name for name in frame["image"]]
    if len(frame) != N_IMAGES:
        raise UserInputError(f"ELPV labels list {len(frame)} images, expected {N_IMAGES}")
    missing = [str(p) for p in frame["path"] if not p.is_file()]
    if missing:
        raise UserInputError(
            f"ELPV images missing ({len(missing)}), e.g. {missing[0]}; reinstall elpv-dataset"
        )
    if verify_images:
        digest = images_digest(list(frame["path"]))
        if digest != IMAGES_DIGEST:
            raise UserInputError(
                f"ELPV images digest mismatch: expected {IMAGES_DIGEST}, got {digest}; "
                f"reinstall {LABELS.distribution}=={LABELS.version}"
            )
    frame["defective"] = (frame["defect_probability"] >= DEFECT_THRESHOLD).astype(int)
    return frame


def load_arrays(size: int, cache_dir: str | Path | None = None) -> tuple[np.ndarray, pd.DataFrame]:
    """All images as uint8 (N, size, size), resized with antialiasing; cached as .npy per size.

    The cache key includes the images digest, so a changed data set never reuses a stale cache.
    """
    from PIL import Image

    if not 8 <= size <= 300:
        raise UserInputError(f"ELPV image size must be between 8 and 300 pixels, got {size}")
    frame = load_index()
    cache_dir = Path(cache_dir) if cache_dir else default_runs_dir() / "cache"
    cache = cache_dir / f"elpv-{size}px-{IMAGES_DIGEST[:12]}.npy"
    if cache.is_file():
        images = np.load(cache)
        if images.shape == (N_IMAGES, size, size):
            return images, frame
    images = np.empty((len(frame), size, size), dtype=np.uint8)
    for i, path in enumerate(frame["path"]):
        with Image.open(path) as img:
            img = img.convert("L")
            if size != img.width:
                img = img.resize((size, size), Image.Resampling.BILINEAR, reducing_gap=None)
            images[i] = np.asarray(img)
    buffer = io.BytesIO()
    np.save(buffer, images)
    atomic_write_bytes(cache, buffer.getvalue())
    return images, frame
