"""`predict --model RUN --input IMAGES --output FILE.csv`: class probabilities per image.

RUN is a complete train run folder (its model/ holds model.safetensors + model.json); IMAGES is a
folder (searched recursively) or one image file. Every argument is checked before the model is
loaded. The CSV has one row per input file, keyed by its path (mlcraft.predictions): status "ok"
with the class probabilities, or why the file was not scored ("unreadable image: <error type>").
A single --input file that is empty or does not decode is one line and exit 2 instead: there is
nothing else to score.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from mlcraft.errors import UserInputError

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
        check_decodes(path)
        return [path]
    files = image_files(path)
    if not files:
        raise UserInputError(
            f"--input={path}: no image files in the folder ({', '.join(sorted(IMAGE_SUFFIXES))})"
        )
    return files


def check_decodes(path: Path) -> None:
    """One --input image file decodes in full; else one line naming why."""
    from .data import _read_image

    if path.stat().st_size == 0:
        raise UserInputError(f"--input={path}: the file is empty (0 bytes)")
    try:
        _read_image(path, 1)  # the full decode read_images does, to a 1x1 image
    except Exception as exc:  # noqa: BLE001 - PIL raises many types for corrupt files
        raise UserInputError(f"--input={path}: unreadable image ({type(exc).__name__})") from None


def read_images(files: list[Path], size: int, channels: int) -> tuple[np.ndarray | None, list[str]]:
    """The readable images as (N, C, S, S) uint8 and one status per file: "ok" or the reason."""
    from mlcraft.predictions import OK

    from .data import _read_image

    arrays, status = [], []
    for path in files:
        try:
            img = _read_image(path, size)
        except Exception as exc:  # noqa: BLE001 - PIL raises many types for corrupt files
            status.append(f"unreadable image: {type(exc).__name__}")
            continue
        if channels == 1 and img.ndim == 3:
            img = img.mean(axis=2).round().astype(np.uint8)
        if img.ndim == 2:
            img = img[None] if channels == 1 else np.repeat(img[None], 3, 0)
        else:
            img = img.transpose(2, 0, 1)
        arrays.append(img)
        status.append(OK)
    return (np.stack(arrays) if arrays else None), status


def file_keys(files: list[Path], input_path: Path) -> list[str]:
    """Each file's path relative to an --input folder, or its name for a single --input file."""
    if input_path.is_dir():
        return [str(path.relative_to(input_path)) for path in files]
    return [path.name for path in files]


def predict(model_run: str | Path, input_path: str | Path, output: str | Path):
    """Write the predictions CSV: one row per input file, keyed by its path, with a status;
    returns (frame, output path). Every argument is checked before the model is loaded."""
    from mlcraft.predictions import prediction_output

    output = prediction_output(output, [input_path], model_run)
    files = input_images(input_path)
    prediction_output(output, files)  # nor one of the images in an --input folder
    check_model_run(model_run)

    import pandas as pd
    import torch
    from mlcraft.predictions import one_row_per_input, summary, write_predictions

    from .augment import Normalizer
    from .evaluate import decide, predict_logits, softmax
    from .models import load_model

    model, meta = load_model(model_run)
    classes = meta["classes"]
    images, status = read_images(files, meta["image_size"], meta["channels"])
    scored = pd.DataFrame(columns=["predicted", *(f"p_{name}" for name in classes)])
    if images is not None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
        model.to(device)
        norm = Normalizer(meta["mean"], meta["std"], channels_last=False, device=device)
        logits, _ = predict_logits(model, images, norm, tta=bool(meta.get("tta")))
        prob = softmax(logits, meta.get("temperature") or 1.0)
        pred = decide(prob, meta.get("threshold") if len(classes) == 2 else None)
        scored = pd.DataFrame({"predicted": [classes[i] for i in pred]})
        for i, name in enumerate(classes):
            scored[f"p_{name}"] = prob[:, i]
    frame = one_row_per_input(file_keys(files, Path(input_path)), status, scored, key_name="file")
    write_predictions(output, frame)
    print(summary(frame, output))
    return frame, output
