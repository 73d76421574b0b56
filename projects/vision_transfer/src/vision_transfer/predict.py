"""`predict --model <run dir> --input <folder>`: class probabilities for every image in a folder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch
from mlcraft.errors import UserInputError
from mlcraft.files import atomic_write_text

from .augment import Normalizer
from .data import IMAGE_SUFFIXES, _read_image
from .evaluate import predict_logits, softmax
from .models import load_run


def load_folder_images(
    folder: Path, size: int, channels: int
) -> tuple[np.ndarray, list[str], list[str]]:
    if not folder.is_dir():
        raise UserInputError(f"--input {folder} is not a folder")
    files = sorted(
        p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
    )
    arrays, names, skipped = [], [], []
    for path in files:
        try:
            img = _read_image(path, size)
        except Exception:
            skipped.append(str(path))
            continue
        if channels == 1 and img.ndim == 3:
            img = img.mean(axis=2).round().astype(np.uint8)
        if img.ndim == 2:
            img = img[None] if channels == 1 else np.repeat(img[None], 3, 0)
        else:
            img = img.transpose(2, 0, 1)
        arrays.append(img)
        names.append(str(path.relative_to(folder)))
    if not arrays:
        raise UserInputError(f"--input {folder}: no readable images ({len(skipped)} unreadable)")
    return np.stack(arrays), names, skipped


def predict_folder(model_dir: str | Path, folder: str | Path, output: str | Path | None = None):
    model, meta = load_run(model_dir)
    images, names, skipped = load_folder_images(Path(folder), meta["image_size"], meta["channels"])
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model.to(device)
    norm = Normalizer(meta["mean"], meta["std"], channels_last=False, device=device)
    logits, _ = predict_logits(model, images, norm, tta=bool(meta.get("tta")))
    prob = softmax(logits, meta.get("temperature") or 1.0)
    classes = meta["classes"]
    threshold = meta.get("threshold")
    if len(classes) == 2 and threshold is not None:
        pred = (prob[:, 1] >= threshold).astype(int)
    else:
        pred = prob.argmax(1)
    frame = pd.DataFrame({"file": names, "predicted": [classes[i] for i in pred]})
    for i, name in enumerate(classes):
        frame[f"p_{name}"] = prob[:, i]
    output = Path(output) if output else Path(model_dir) / "predictions.csv"
    atomic_write_text(output, frame.to_csv(index=False))
    print(
        f"predicted {len(frame)} image(s) -> {output}"
        + (f"; skipped {len(skipped)} unreadable" if skipped else "")
    )
    return frame, output
