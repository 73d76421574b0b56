"""`python -m vision_transfer serve --model RUN`: the run's fine-tuned network behind mlcraft.serve.

A request row is {"image_base64": "<PNG/JPEG/TIFF bytes, base64>"}, or POST /predict/files with
one multipart `files` part per image; an image that does not decode is a 422 naming its row. The response gives the predicted class and the calibrated probability of
every class, with the run's test-time augmentation and decision threshold, as `predict` does.
A compress run serves its fp32 ONNX graph through onnxruntime with the classes, threshold,
temperature and TTA of the train run it was made from.
"""

from __future__ import annotations

import base64
import binascii
import io
from collections.abc import Callable

import numpy as np
from mlcraft.errors import UserInputError
from mlcraft.serve import ServedModel, class_outputs, run_metadata

MAX_IMAGE_BYTES = 5_000_000


def decode_image(encoded: str, size: int, channels: int, row: int) -> np.ndarray:
    """base64 text -> (C, size, size) uint8, resized and converted as training did."""
    from .data import _read_image

    where = f"rows[{row}].image_base64"
    try:
        raw = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise UserInputError(f"{where}: not base64") from None
    if len(raw) > MAX_IMAGE_BYTES:
        raise UserInputError(f"{where}: {len(raw):,} bytes, over {MAX_IMAGE_BYTES:,}")
    try:
        img = _read_image(io.BytesIO(raw), size)
    except Exception as exc:  # noqa: BLE001 - PIL raises many types for a corrupt file
        raise UserInputError(f"{where}: not a readable image ({type(exc).__name__})") from None
    if channels == 1 and img.ndim == 3:
        img = img.mean(axis=2).round().astype(np.uint8)
    if img.ndim == 2:
        return img[None] if channels == 1 else np.repeat(img[None], 3, 0)
    return img.transpose(2, 0, 1)


def served_model(model_run: str) -> ServedModel:
    meta, logits_of, extra = model_logits(model_run)
    return _served(model_run, meta, logits_of, extra)


def model_logits(model_run: str) -> tuple[dict, Callable[[np.ndarray], np.ndarray], dict]:
    """(the train run's model.json, uint8 images -> logits with the run's TTA, what /metadata
    says of the format): a train run's torch network, or a compress run's fp32 ONNX graph."""
    from mlcraft.runs import complete_run, read_run_info

    if read_run_info(complete_run(model_run, "--model")).get("verb") == "compress":
        return _onnx_logits(model_run)
    import torch

    from .augment import Normalizer
    from .evaluate import predict_logits
    from .models import load_model

    network, meta = load_model(model_run)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    network.to(device)
    norm = Normalizer(meta["mean"], meta["std"], channels_last=False, device=device)

    def logits_of(images: np.ndarray) -> np.ndarray:
        return predict_logits(network, images, norm, tta=bool(meta.get("tta")))[0]

    return meta, logits_of, {"format": "torch"}


def _onnx_logits(model_run: str) -> tuple[dict, Callable[[np.ndarray], np.ndarray], dict]:
    """A compress run's model.onnx, after its manifest and the train run's are checked. The fp32
    graph, not the INT8 copy: on this convolutional network dynamic INT8 costs accuracy and is
    no faster on a CPU (results/compress/)."""
    from pathlib import Path

    from mlcraft.compress import onnx_logits, session
    from mlcraft.runs import train_run
    from mlcraft.trusted import verify_manifest

    from .compress import ONNX, SOURCE, normalised, views
    from .preflight import check_model_run

    folder = Path(model_run) / "model"
    verify_manifest(folder)
    source = train_run(model_run)
    meta = check_model_run(source, f"{folder / SOURCE}: model_run")  # its manifest too
    sess = session(folder / ONNX)

    def logits_of(images: np.ndarray) -> np.ndarray:
        x = normalised(images, meta)
        tta = bool(meta.get("tta"))
        return np.mean([onnx_logits(sess, {"images": v}) for v in views(x, tta)], axis=0)

    return meta, logits_of, {"format": "onnx", "train_run": Path(source).name}


def decided(meta: dict, logits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(probabilities, decided labels) as the run decides: its temperature, then its threshold
    (binary) or the argmax. What serve answers and what the gate compares."""
    from .evaluate import decide, softmax

    prob = softmax(np.asarray(logits, dtype=np.float64), meta.get("temperature") or 1.0)
    threshold = meta.get("threshold") if len(meta["classes"]) == 2 else None
    return prob, decide(prob, threshold)


def _served(model_run: str, meta: dict, logits_of, extra: dict) -> ServedModel:
    """Either format behind one contract: decode as training did, the run's TTA inside
    `logits_of`, its temperature and threshold, the same metadata."""
    classes = meta["classes"]
    threshold = meta.get("threshold") if len(classes) == 2 else None

    def predict(rows: list[dict]) -> list[dict]:
        images = np.stack(
            [
                decode_image(row["image_base64"], meta["image_size"], meta["channels"], i)
                for i, row in enumerate(rows)
            ]
        )
        return class_outputs(*decided(meta, logits_of(images)), classes)

    metadata = (
        run_metadata(model_run)
        | extra
        | {
            "classes": classes,
            "threshold": threshold,
            "temperature": meta.get("temperature"),
            "tta": bool(meta.get("tta")),
            "image_size": meta["image_size"],
            "arch": meta["arch"],
        }
    )
    return ServedModel(
        "vision_transfer", {"image_base64": (str, ...)}, predict, metadata, max_rows=64,
        file_field="image_base64",
    )  # fmt: skip
