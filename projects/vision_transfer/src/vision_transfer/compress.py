"""`python -m vision_transfer compress --model RUN`: the fine-tuned network as one ONNX file, its
parity with torch, an onnxruntime INT8 copy, and what each variant costs and scores.

Writes a run folder (never results/):
    model/model.onnx, model/model.int8.onnx   input "images": float (B, 3, S, S) after the run's
                                              normalisation (batch axis dynamic); output "logits"
    model/source.json                         the train run whose model.json (classes, threshold,
                                              temperature, TTA) serves it
    model/manifest.json                       sha256 of each, checked before loading
    results/compress/compress.csv|.md         torch-fp32 / onnx-fp32 / onnx-int8 on validation and
                                              test (the run's TTA views averaged, as it decides):
                                              accuracy, macro-F1, ECE (deployed and re-fitted
                                              temperature), size, CPU latency of 1 and 32 images
    results/compress/compress.json            model_run, model_config, git, hardware, parity
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from mlcraft.errors import UserInputError
from mlcraft.runs import COMPRESS_SOURCE

ONNX, INT8 = "model.onnx", "model.int8.onnx"
SOURCE = COMPRESS_SOURCE  # model/source.json: the train run
PARITY_ROWS = 256  # parity is measured on the first 256 test images, single view
LATENCY_BATCHES = (1, 32)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="a complete train run folder")
    parser.add_argument("--run-dir", default=None, help="the run folder to create")
    parser.add_argument(
        "--max-rows", type=int, default=None,
        help="score only the first N validation and test images (quick checks; default: all)",
    )  # fmt: skip


def compress(args: argparse.Namespace) -> int:
    from mlcraft.files import atomic_write_json
    from mlcraft.reporting import write_table
    from mlcraft.runs import open_run
    from mlcraft.tracking import environment_fingerprint

    from .gating import run_splits
    from .preflight import check_model_run

    if args.max_rows is not None and args.max_rows < 1:
        raise UserInputError(f"--max-rows={args.max_rows}: must be positive")
    check_model_run(args.model)  # a train run (complete, manifest) before anything else
    splits = run_splits(args.model)
    run_dir = Path(args.model)
    chosen = {name: (splits[name][0][: args.max_rows], splits[name][1][: args.max_rows])
              for name in ("val", "test")}  # fmt: skip
    fingerprint = environment_fingerprint()  # the code as it was when compress started
    with open_run("vision_transfer", "compress", None, args.run_dir, 100_000_000) as run:
        table, diff = export_and_measure(run, run_dir, chosen)
        out = run.results / "compress"
        write_table(out, "compress", table, digits=4)
        summary = json.loads((run_dir / "results" / "summary.json").read_text())
        atomic_write_json(out / "compress.json", {
            "model_run": run_dir.name, "model_config": summary["config"],
            **{key: fingerprint[key] for key in ("git_sha", "git_dirty", "hardware")},
            "parity_max_abs_logit_diff": diff,
            "parity_rows": min(PARITY_ROWS, len(chosen["test"][0])),
        })  # fmt: skip
        print(table.to_string(index=False))
        print(f"parity: max |logit diff| torch vs onnxruntime = {diff:.2e}")
    print(f"run complete: {run.final}")
    return 0


def normalised(images: np.ndarray, meta: dict) -> np.ndarray:
    """uint8 (N, C, S, S) -> the ONNX input: float32 (N, 3, S, S) after the run's mean/std."""
    from .augment import Normalizer

    norm = Normalizer(meta["mean"], meta["std"], channels_last=False)
    return norm(norm.to_unit(images)).contiguous().numpy()


def views(x: np.ndarray, tta: bool) -> list[np.ndarray]:
    """The inputs the run averages over: the 8 dihedral views with TTA, else the image itself."""
    import torch

    from .augment import dihedral

    tensor = torch.from_numpy(x)
    return [dihedral(tensor, k).contiguous().numpy() for k in (range(8) if tta else (0,))]


def export_and_measure(run, run_dir: Path, chosen: dict) -> tuple:
    """Export, quantize, score every variant; returns (the variant table, parity)."""
    import torch
    from mlcraft import compress as mc
    from mlcraft.files import atomic_write_json
    from mlcraft.trusted import write_manifest

    from .models import load_model

    network, meta = load_model(run_dir)
    tta = bool(meta.get("tta"))
    inputs = {split: normalised(images, meta) for split, (images, _) in chosen.items()}
    run.model.mkdir(parents=True, exist_ok=True)
    mc.export_onnx(network, (torch.from_numpy(inputs["test"][:2]),), run.model / ONNX, ["images"])
    mc.quantize_int8(run.model / ONNX, run.model / INT8)
    atomic_write_json(run.model / SOURCE, {"model_run": str(run_dir.absolute())})
    write_manifest(run.model, [ONNX, INT8, SOURCE])

    def torch_logits(x: np.ndarray, batch_size: int = 64) -> np.ndarray:
        with torch.no_grad():
            return np.concatenate([network(torch.from_numpy(x[i : i + batch_size])).numpy()
                                   for i in range(0, len(x), batch_size)])  # fmt: skip

    single = {"torch-fp32": torch_logits}
    for name, file in (("onnx-fp32", ONNX), ("onnx-int8", INT8)):
        sess = mc.session(run.model / file)
        single[name] = lambda x, sess=sess: mc.onnx_logits(sess, {"images": x})
    diff = mc.parity(single["torch-fp32"](inputs["test"][:PARITY_ROWS]),
                     single["onnx-fp32"](inputs["test"][:PARITY_ROWS]))  # fmt: skip

    def decided(fn):  # the run's decision input: logits averaged over its TTA views
        return lambda x: np.mean([fn(view) for view in views(x, tta)], axis=0)

    logits = {name: {split: decided(fn)(x).astype(np.float64) for split, x in inputs.items()}
              for name, fn in single.items()}  # fmt: skip
    sizes = {"torch-fp32": (run_dir / "model" / "model.safetensors").stat().st_size,
             "onnx-fp32": (run.model / ONNX).stat().st_size,
             "onnx-int8": (run.model / INT8).stat().st_size}  # fmt: skip
    batch = np.concatenate([inputs["test"]] * 32)[:32]
    latency = {name: {n: mc.latency_ms(lambda fn=fn, n=n: decided(fn)(batch[:n]), repeats=5)
                      for n in LATENCY_BATCHES}
               for name, fn in single.items()}  # fmt: skip
    labels = {split: y for split, (_, y) in chosen.items()}
    return variant_table(logits, labels, sizes, latency, meta), diff


def variant_table(logits, labels, sizes, latency, meta):
    """mlcraft.compress.split_report on validation and on test, one row per variant and split
    (the temperature is re-fitted on validation either way)."""
    from mlcraft.compress import split_report

    temperature = meta.get("temperature") or 1.0
    return split_report(logits, labels, sizes, latency, temperature, "image")
