"""`python -m text_classifier serve --model RUN`: the run's best saved rung behind mlcraft.serve.

A request row is {"text": "..."}; a blank text is a 422 naming the row. The response gives the
predicted label and the calibrated probability of every class, as `predict` does for a file. The
fine-tuned model is served when the run saved one, otherwise TF-IDF (a CPU user's run). A
compress run serves its INT8 ONNX model through onnxruntime, with the tokenizer, temperature and
threshold of the train run it was made from.
"""

from __future__ import annotations

from typing import Annotated

from mlcraft.serve import ServedModel, class_outputs, run_metadata
from pydantic import StringConstraints

from text_classifier import artifacts
from text_classifier.predict import SERVED_RUNGS, load_predictor

MAX_CHARS = 20_000  # a long review is ~4,000 characters; the tokenizer truncates anyway
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_CHARS)]


def served_model(model: str) -> ServedModel:
    from mlcraft.runs import complete_run, read_run_info

    if read_run_info(complete_run(model, "--model")).get("verb") == "compress":
        return _served_onnx(model)
    meta = artifacts.load_meta(model)
    saved = [rung for rung in SERVED_RUNGS if rung in meta.get("files", {})]
    rung = saved[0] if saved else "finetune"  # rung_path names what the run did save
    artifacts.rung_path(model, meta, rung)
    predictor, meta = load_predictor(model, rung, meta)
    from text_classifier.evaluate import decide

    classes = meta["classes"]
    threshold = meta["decisions"][rung]["threshold"]

    def predict(rows: list[dict]) -> list[dict]:
        prob = predictor([row["text"] for row in rows])
        labels = decide(prob, threshold)
        return class_outputs(prob, labels, classes)

    metadata = run_metadata(model) | {
        "rung": rung,
        "classes": classes,
        "threshold": threshold,
        "temperature": meta["decisions"][rung]["temperature"],
        "max_length_tokens": meta.get("max_length"),
    }
    return ServedModel("text_classifier", {"text": (Text, ...)}, predict, metadata, max_rows=256)


def _served_onnx(model: str) -> ServedModel:
    """The compress run's model.int8.onnx, after its manifest and the train run's are checked."""
    from pathlib import Path

    from mlcraft.calibration import softmax_with_temperature
    from mlcraft.compress import onnx_logits, session
    from mlcraft.runs import train_run
    from mlcraft.trusted import verify_manifest

    from text_classifier.compress import INT8, padded
    from text_classifier.evaluate import decide
    from text_classifier.models import load_tokenizer

    folder = Path(model) / "model"
    verify_manifest(folder)
    source = train_run(model)
    meta = artifacts.load_meta(source, "compress source run")
    tokenizer = load_tokenizer(
        artifacts.verified_folder(artifacts.rung_path(source, meta, "finetune"))
    )
    sess = session(folder / INT8)
    decisions, classes = meta["decisions"]["finetune"], meta["classes"]

    def predict(rows: list[dict]) -> list[dict]:
        inputs = padded(tokenizer, [row["text"] for row in rows], meta["max_length"])
        prob = softmax_with_temperature(onnx_logits(sess, inputs), decisions["temperature"])
        return class_outputs(prob, decide(prob, decisions["threshold"]), classes)

    metadata = run_metadata(model) | {
        "rung": "finetune-onnx-int8",
        "model_run": source.name,
        "classes": classes,
        "threshold": decisions["threshold"],
        "temperature": decisions["temperature"],
        "max_length_tokens": meta["max_length"],
    }
    return ServedModel("text_classifier", {"text": (Text, ...)}, predict, metadata, max_rows=256)
