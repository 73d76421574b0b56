"""`python -m tabular_ladder serve --model RUN`: the run's model bundle behind mlcraft.serve.

A request row carries every column of the bundle's schema (null for a missing value): numbers
for numeric columns, strings for categorical ones. The response gives the calibrated probability
of the positive class and the cost-tuned decision, as `predict` does for a CSV. A compress run
serves its ONNX graph through onnxruntime, with the calibration map, threshold and schema of the
train run it was made from: the same request and response.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd
from mlcraft.serve import ServedModel, run_metadata

from tabular_ladder.bundle import Bundle, load_bundle
from tabular_ladder.preflight import model_run


def served_model(model: str) -> ServedModel:
    bundle, predict_proba, extra = scorer(model)
    return _served(Path(model), bundle, predict_proba, extra)


def scorer(model: str) -> tuple[Bundle, Callable, dict]:
    """(the bundle, the function that scores a frame with it, what /metadata says of the format)
    for a train run, or for a compress run: its ONNX graph through onnxruntime, with the schema
    and calibration map of the train run's bundle."""
    from mlcraft.runs import complete_run, read_run_info

    if read_run_info(complete_run(model, "--model")).get("verb") == "compress":
        from tabular_ladder.compress import load_compressed

        onnx, train = load_compressed(Path(model))
        extra = {"format": "onnx", "runtime": "onnxruntime", "model_run": train.name}
        return onnx.bundle, onnx.predict_proba, extra
    bundle = load_bundle(model_run(model) / "model")  # manifest and type allow-list checked first
    return bundle, bundle.predict_proba, {"format": "lightgbm", "runtime": "lightgbm"}


def _served(folder: Path, bundle: Bundle, predict_proba, extra: dict) -> ServedModel:
    """The request schema, the response and /metadata from the bundle; predict_proba scores."""
    threshold = float(bundle.meta["threshold"])
    fields = {
        column["name"]: ((float | None) if column["kind"] == "numeric" else (str | None), ...)
        for column in bundle.meta["schema"]
    }
    missing_tokens = set(bundle.meta.get("na_values", []))  # the training data's missing markers

    def predict(rows: list[dict]) -> list[dict]:
        frame = pd.DataFrame(rows, columns=bundle.columns)
        if missing_tokens:
            frame = frame.mask(frame.isin(missing_tokens))
        probability = predict_proba(frame, "request")
        return [
            {"probability": round(float(p), 6), "decision": int(p >= threshold)}
            for p in probability
        ]

    metadata = (
        run_metadata(folder)
        | extra
        | {
            "threshold": threshold,
            "calibration": bundle.meta.get("calibration"),
            "costs": {
                "false_negative": bundle.meta.get("cost_fn"),
                "false_positive": bundle.meta.get("cost_fp"),
            },
            "input_schema": bundle.meta["schema"],
        }
    )
    return ServedModel("tabular_ladder", fields, predict, metadata, score_key="probability")
