"""What the shared loadtest and register/promote/rollback verbs need from a vision run: request
rows from its test split, and its decisions on that split (with the run's test-time augmentation,
temperature and threshold, as predict and serve decide).

Both reload the data from the run's own config (results/summary.json) at the model's image size,
so a run is always scored on the split it was trained and evaluated on; a compress run on the
split of the train run it was made from.
"""

from __future__ import annotations

import base64
import io
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
from mlcraft.errors import UserInputError
from mlcraft.runs import train_run, trained_config

from .config import Config
from .preflight import check_model_run

# meta columns that make gate slices where the data has them (ELPV: mono/poly cells)
SLICE_COLUMNS = ("cell_type",)


def run_config(run: Path) -> Config:
    return trained_config(run, Config)


@cache
def _splits(config_json: str, image_size: int) -> dict:
    """The config's data set and split, loaded at the model's image size: split name ->
    (images, labels, meta), plus "classes"."""
    from . import data

    cfg = Config.model_validate_json(config_json)
    data_cfg = cfg.data.model_copy(update={"image_size": image_size})
    dataset = data.load(data_cfg, cfg.seed)
    out: dict = {"classes": dataset.classes}
    for name, index in data.split(dataset, data_cfg, cfg.seed).items():
        meta = dataset.meta.iloc[index].reset_index(drop=True)
        out[name] = (dataset.images[index], dataset.labels[index], meta)
    return out


def run_splits(model: str) -> dict:
    """_splits for the run `model` (a compress run: the train run it was made from): its own
    config, at its model's image size."""
    run = train_run(model)
    meta = check_model_run(run)
    splits = _splits(run_config(run).model_dump_json(), int(meta["image_size"]))
    if list(splits["classes"]) != list(meta["classes"]):
        raise UserInputError(
            f"--model={run}: trained on classes {meta['classes']}, "
            f"its config's data has {splits['classes']}"
        )
    return splits


def gate_scores(model: str) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    """(test labels, the served model's decided labels on them, the slice columns the data
    has): the torch network of a train run or the ONNX graph of a compress run."""
    from .serving import decided, model_logits

    images, labels, frame = run_splits(model)["test"]
    meta, logits_of, _ = model_logits(model)
    _, decisions = decided(meta, logits_of(images))
    slices = frame[[c for c in SLICE_COLUMNS if c in frame]]
    return labels, decisions, slices


def png_base64(image: np.ndarray) -> str:
    """(C, S, S) uint8 -> base64 PNG text, as a client would send it to /predict."""
    from PIL import Image

    pixels = image[0] if image.shape[0] == 1 else image.transpose(1, 2, 0)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def request_rows(model: str, n: int) -> list[dict]:
    """The first n test images as /predict rows {"image_base64": PNG}."""
    images, _, _ = run_splits(model)["test"]
    return [{"image_base64": png_base64(image)} for image in images[:n]]
