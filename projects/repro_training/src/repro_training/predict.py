"""`predict`: class probabilities for the images of one .npy array, one output row per image.

The output (mlcraft.predictions) is keyed by the image's index in the array, with a `status`
column: "ok", or why that image was not scored (non-finite values, values outside 0-255); its
probability cells are then empty. What is wrong with the whole command (model, --output, a file
that is no plain .npy array, an empty array, the wrong image shape) is one line and exit 2 before
anything is written.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from mlcraft.errors import UserInputError
from mlcraft.inputs import existing_file
from mlcraft.predictions import OK, one_row_per_input, prediction_output, summary, write_predictions

NPY_MAGIC = b"\x93NUMPY"


def read_images(path: str | Path, image_shape: tuple[int, int]) -> np.ndarray:
    """The .npy array at path: numeric, (n, h, w) with the model's (h, w), at least one image.
    Never unpickles (allow_pickle=False): an object array is refused, not loaded."""
    path = existing_file(path, "--input")
    key = f"--input={path}"
    if path.suffix.lower() != ".npy":
        raise UserInputError(f"{key}: not a .npy file (save the images with numpy.save)")
    with open(path, "rb") as handle:
        if handle.read(len(NPY_MAGIC)) != NPY_MAGIC:
            raise UserInputError(f"{key}: not a .npy array (no NumPy header)")
    try:
        x = np.load(path, allow_pickle=False)
    except ValueError as exc:
        if "allow_pickle" in str(exc):
            raise UserInputError(
                f"{key}: holds pickled Python objects; refused (only numeric arrays are loaded)"
            ) from None
        raise UserInputError(f"{key}: unreadable .npy array ({exc})") from None
    except (OSError, EOFError) as exc:
        raise UserInputError(f"{key}: unreadable .npy array ({exc})") from None
    h, w = image_shape
    if x.dtype.kind not in "uif":
        raise UserInputError(f"{key}: expected numeric images (uint8 0-255), got dtype {x.dtype}")
    if x.ndim != 3 or tuple(x.shape[1:]) != (h, w):
        raise UserInputError(f"{key}: expected images of shape (n, {h}, {w}), got {x.shape}")
    if len(x) == 0:
        raise UserInputError(f"{key}: no images (an empty array)")
    return x


def row_status(x: np.ndarray) -> np.ndarray:
    """OK, or why one image cannot be scored: the model was trained on 0-255 pixel values."""
    flat = x.reshape(len(x), -1).astype(np.float64)
    finite = np.isfinite(flat).all(axis=1)
    with np.errstate(invalid="ignore"):
        in_range = ((flat >= 0) & (flat <= 255)).all(axis=1)
    status = np.full(len(x), OK, dtype=object)
    status[~in_range] = "values outside 0-255"
    status[~finite] = "non-finite values"
    return status


def predict_file(model_path: str | Path, input_path: str | Path, output_path: str | Path) -> str:
    """Score every image of input_path with the model behind --model; write output_path
    atomically. Returns the one line predict prints."""
    from repro_training.evaluate import load_net, resolve_model
    from repro_training.train import predict_images

    model = resolve_model(model_path)  # sha256 of every model file checked here
    output = prediction_output(output_path, [input_path], model_path)
    x = read_images(input_path, model.image_shape)
    status = row_status(x)
    ok = status == OK
    # uint8 stays as it is (what training saw); other numeric dtypes go in as float32 0-255.
    images = x[ok] if x.dtype == np.uint8 else x[ok].astype(np.float32)
    columns = [f"p_{c}" for c in model.classes]
    probs = np.empty((0, len(columns)))
    if ok.any():
        net = load_net(model)
        probs = predict_images(net, images, model.mean_std, model.config.train.precision)
    scored = pd.DataFrame(probs, columns=columns).round(6)
    table = one_row_per_input(range(len(x)), status, scored, key_name="index")
    write_predictions(output, table)
    return summary(table, output)
