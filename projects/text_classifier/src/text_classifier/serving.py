"""`python -m text_classifier serve --model RUN`: the run's best saved rung behind mlcraft.serve.

A request row is {"text": "..."}; a blank text is a 422 naming the row. The response gives the
predicted label and the calibrated probability of every class, as `predict` does for a file. The
fine-tuned model is served when the run saved one, otherwise TF-IDF (a CPU user's run).
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
