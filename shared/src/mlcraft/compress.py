"""A trained torch model as ONNX, checked for parity, and INT8-quantized with what that costs.

- `export_onnx`: torch.onnx (the torch.export-based exporter) with a dynamic batch axis and the
  weights inside the one file, so a served model is a single artifact with one sha256.
- `parity`: the largest |logit difference| between torch and onnxruntime on real inputs; the
  caller bounds it in a test.
- `quantize_int8`: onnxruntime dynamic quantization (weights to int8, activations quantized on
  the fly). It targets MatMul/Gemm-heavy models (transformers); on a convolutional network it
  also rewrites Conv, with larger error: measured, not assumed.
- `variant_report`: accuracy, macro-F1 and ECE of each variant on test, before and after
  re-fitting the temperature on validation, with its size on disk and CPU latency.
"""

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlcraft.calibration import ece, fit_temperature, softmax_with_temperature


def export_onnx(model, example: tuple, path: str | os.PathLike, input_names: list[str]) -> Path:
    """Export model(*example) -> logits with every input's first axis (the batch) dynamic."""
    import torch

    path = Path(path)
    batch = torch.export.Dim("batch", min=1, max=4096)
    shapes = tuple({0: batch} for _ in example)
    model.eval()
    program = torch.onnx.export(
        model, example, input_names=input_names, output_names=["logits"],
        dynamic_shapes=shapes, dynamo=True, external_data=False, verbose=False,
    )  # fmt: skip
    program.save(str(path), external_data=False)
    return path


def session(path: str | os.PathLike, threads: int | None = None):
    import onnxruntime as ort

    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def onnx_logits(sess, inputs: dict[str, np.ndarray], batch_size: int = 64) -> np.ndarray:
    """Logits for every row, in batches (inputs share their first axis)."""
    n = len(next(iter(inputs.values())))
    out = []
    for start in range(0, n, batch_size):
        feed = {name: value[start : start + batch_size] for name, value in inputs.items()}
        out.append(sess.run(["logits"], feed)[0])
    return np.concatenate(out)


def parity(torch_logits: np.ndarray, onnx_logits_: np.ndarray) -> float:
    return float(np.max(np.abs(np.asarray(torch_logits) - np.asarray(onnx_logits_))))


def quantize_int8(source: str | os.PathLike, target: str | os.PathLike) -> Path:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8)
    return Path(target)


def latency_ms(predict: Callable[[], Any], repeats: int = 20) -> float:
    """Median wall time of one call, after one warm-up call."""
    predict()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        predict()
        times.append(time.perf_counter() - started)
    return float(np.median(times) * 1000)


def _scores(y: np.ndarray, prob: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import accuracy_score, f1_score

    pred = prob.argmax(axis=1)
    return {
        "accuracy": float(accuracy_score(y, pred)),
        "macro_f1": float(f1_score(y, pred, average="macro")),
        "ece": float(ece(y, prob)),
    }


def variant_report(
    variants: dict[str, dict[str, Any]], y_val: np.ndarray, y_test: np.ndarray, temperature: float
) -> pd.DataFrame:
    """variants: name -> {"val_logits", "test_logits", "size_bytes", "latency_ms"}.

    Each variant is scored with the deployed temperature (fitted on the original model) and with
    a temperature re-fitted on its own validation logits: does recalibration undo what
    quantization did to the probabilities?"""
    rows = []
    for name, v in variants.items():
        refit = fit_temperature(v["val_logits"], y_val)
        deployed = _scores(y_test, softmax_with_temperature(v["test_logits"], temperature))
        refitted = _scores(y_test, softmax_with_temperature(v["test_logits"], refit))
        rows.append({
            "variant": name, **deployed, "ece_refit_temperature": refitted["ece"],
            "temperature_refit": refit, "size_mb": v["size_bytes"] / 1e6,
            "latency_ms": v["latency_ms"],
        })  # fmt: skip
    return pd.DataFrame(rows)


def split_report(
    logits: dict[str, dict[str, np.ndarray]],
    labels: dict[str, np.ndarray],
    sizes: dict[str, int],
    latency: dict[str, dict[int, float]],
    temperature: float,
    unit: str,
) -> pd.DataFrame:
    """variant_report on validation and on test, one row per variant and split.

    logits: variant -> {"val", "test"} logits; labels: {"val", "test"}; latency: variant ->
    {batch size: ms} for batches of 1 and 32 `unit`s (e.g. "text", "image")."""
    frames = []
    for split, shown in (("validation", "val"), ("test", "test")):
        variants = {
            name: {"val_logits": by_split["val"], "test_logits": by_split[shown],
                   "size_bytes": sizes[name], "latency_ms": latency[name][1]}
            for name, by_split in logits.items()
        }  # fmt: skip
        frame = variant_report(variants, labels["val"], labels[shown], temperature)
        frame.insert(1, "split", split)
        frame.insert(2, "rows", len(labels[shown]))
        frames.append(frame)
    table = pd.concat(frames, ignore_index=True)
    table = table.rename(columns={"latency_ms": f"latency_ms_1_{unit}"})
    table[f"latency_ms_32_{unit}s"] = [latency[name][32] for name in table["variant"]]
    return table


def _refit_verdict(original: float, before: float, after: float) -> str:
    """Did re-fitting the temperature bring the INT8 model's ECE back to the original's?"""
    if before <= original:
        return "quantization did not worsen calibration, so there was nothing to restore"
    if after <= original:
        return "re-fitting restored calibration"
    if after >= before:
        return "re-fitting did not restore calibration (the ECE rose)"
    closed = (before - after) / (before - original)
    return f"re-fitting did not restore calibration (it closed {closed:.0%} of the gap)"


def int8_summary(table: pd.DataFrame) -> str | None:
    """What INT8 did on test, from the variant table (split_report): its accuracy change against
    the original (the first variant) and its ECE before and after re-fitting the temperature.
    None when the table has no scored INT8 row (a tree ensemble has none)."""
    if not {"variant", "accuracy", "ece", "ece_refit_temperature"} <= set(table.columns):
        return None
    test = table[table["split"] == "test"] if "split" in table else table
    int8 = test[test["variant"].str.contains("int8") & test["accuracy"].notna()]
    if test.empty or int8.empty:
        return None
    original, quantized = test.iloc[0], int8.iloc[0]
    name, base = quantized["variant"], original["variant"]
    rows = f" on {int(quantized['rows']):,} test rows" if "rows" in test else " on test"
    refit = f" (T = {quantized['temperature_refit']:.4f})" if "temperature_refit" in test else ""
    before, after = quantized["ece"], quantized["ece_refit_temperature"]
    return (
        f"{name}{rows}: accuracy {quantized['accuracy']:.4f} against {original['accuracy']:.4f} "
        f"for {base} ({quantized['accuracy'] - original['accuracy']:+.4f}). Its ECE is "
        f"{before:.4f} with the deployed temperature ({base}: {original['ece']:.4f}) and "
        f"{after:.4f} with a temperature re-fitted on validation{refit}: "
        f"{_refit_verdict(original['ece'], before, after)}."
    )


def published_block(results: Path) -> str | None:
    """The README/docs text for a published compress run (results/compress/), or None when there
    is none: which model, code and machine, the parity, what INT8 did, and the variant table."""
    from mlcraft.reporting import markdown_table

    folder = Path(results) / "compress"
    if not (folder / "compress.json").is_file() or not (folder / "compress.csv").is_file():
        return None
    meta = json.loads((folder / "compress.json").read_text())
    hardware = meta.get("hardware") or {}
    parity = [(key, value) for key, value in meta.items() if key.startswith("parity_max_abs_")]
    what = {"logit": "logit", "prob": "probability"}
    text = (
        f"Model run {meta['model_run']} (git {str(meta.get('git_sha'))[:7]}) on "
        f"{hardware.get('cpu_count', '?')} cores ({hardware.get('cpu_model', 'unknown CPU')})."
    )
    rows = meta.get("parity_rows")
    for key, value in parity:
        kind = next((word for short, word in what.items() if f"_{short}_" in key), "output")
        text += (
            f" Parity on {rows:,} test rows: max |{kind} difference| against the original "
            f"{value:.1e}."
            if isinstance(rows, int)
            else f" Max |{kind} difference| {value:.1e}."
        )
    table = pd.read_csv(folder / "compress.csv")
    int8 = int8_summary(table)
    if int8:
        text += f" {int8}"
    for column in ("rows", "decisions_flipped"):  # counts beside a blank row read back as floats
        if column in table:
            table[column] = pd.Series(
                [None if pd.isna(v) else int(v) for v in table[column]], dtype=object
            )
    return text + "\n\n" + markdown_table(table, digits=4)
