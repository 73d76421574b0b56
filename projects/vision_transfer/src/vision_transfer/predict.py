"""`predict --model RUN --input IMAGES --output FILE.csv`: class probabilities per image.

RUN is a complete train run folder (its model/ holds model.safetensors + model.json); IMAGES is a
folder (searched recursively) or one image file. Every argument is checked before the model is
loaded; unreadable images are skipped and counted.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from mlcraft.errors import UserInputError
from mlcraft.inputs import output_file

from .preflight import check_model_run
from .sources import IMAGE_SUFFIXES, image_files


def input_images(path: str | Path) -> list[Path]:
    """The image files an --input names: a folder (recursively) or one image file."""
    path = Path(path)
    if not path.exists():
        raise UserInputError(f"--input={path}: no such file or folder")
    if path.is_file():
        if path.suffix.lower() not in IMAGE_SUFFIXES:
            raise UserInputError(
                f"--input={path}: not an image file (expected one of {sorted(IMAGE_SUFFIXES)})"
            )
        return [path]
    files = image_files(path)
    if not files:
        raise UserInputError(
            f"--input={path}: no image files in the folder ({', '.join(sorted(IMAGE_SUFFIXES))})"
        )
    return files


def load_images(
    files: list[Path], root: Path, size: int, channels: int
) -> tuple[np.ndarray, list[str], list[str]]:
    from .data import _read_image

    arrays, names, skipped = [], [], []
    for path in files:
        try:
            img = _read_image(path, size)
        except Exception:  # PIL raises many types for corrupt files
            skipped.append(str(path))
            continue
        if channels == 1 and img.ndim == 3:
            img = img.mean(axis=2).round().astype(np.uint8)
        if img.ndim == 2:
            img = img[None] if channels == 1 else np.repeat(img[None], 3, 0)
        else:
            img = img.transpose(2, 0, 1)
        arrays.append(img)
        names.append(str(path.relative_to(root)) if root.is_dir() else path.name)
    if not arrays:
        raise UserInputError(f"--input={root}: no readable images ({len(skipped)} unreadable)")
    return np.stack(arrays), names, skipped


def predict(model_run: str | Path, input_path: str | Path, output: str | Path):
    """Write the predictions CSV; returns (frame, output path)."""
    output = output_file(output, "--output")
    files = input_images(input_path)
    check_model_run(model_run)
    if output.resolve().is_relative_to(Path(model_run).resolve()):
        raise UserInputError(
            f"--output={output}: inside the --model run folder; a complete run is never changed"
        )

    import pandas as pd
    import torch
    from mlcraft.files import atomic_write_text

    from .augment import Normalizer
    from .evaluate import decide, predict_logits, softmax
    from .models import load_model

    model, meta = load_model(model_run)
    root = Path(input_path)
    images, names, skipped = load_images(files, root, meta["image_size"], meta["channels"])
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model.to(device)
    norm = Normalizer(meta["mean"], meta["std"], channels_last=False, device=device)
    logits, _ = predict_logits(model, images, norm, tta=bool(meta.get("tta")))
    prob = softmax(logits, meta.get("temperature") or 1.0)
    classes = meta["classes"]
    pred = decide(prob, meta.get("threshold") if len(classes) == 2 else None)
    frame = pd.DataFrame({"file": names, "predicted": [classes[i] for i in pred]})
    for i, name in enumerate(classes):
        frame[f"p_{name}"] = prob[:, i]
    atomic_write_text(output, frame.to_csv(index=False))
    print(
        f"predicted {len(frame)} image(s) -> {output}"
        + (f"; skipped {len(skipped)} unreadable" if skipped else "")
    )
    return frame, output
