"""`python -m text_classifier compress --model RUN`: the fine-tuned rung as one ONNX file, its
parity with torch, an onnxruntime INT8 copy, and what each variant costs and scores.

Writes a run folder (never results/):
    model/model.onnx, model/model.int8.onnx   inputs input_ids + attention_mask (batch axis
                                              dynamic, sequence padded to the run's max length)
    model/source.json                         the train run whose tokenizer and decisions serve it
    model/manifest.json                       sha256 of each, checked before serving
    results/compress/compress.csv|.md         torch-fp32 / onnx-fp32 / onnx-int8 on validation and
                                              test: accuracy, macro-F1, ECE (deployed and re-fitted
                                              temperature), size, CPU latency of 1 and 32 texts
    results/compress/compress.json            model_run, model_config, git, hardware, parity
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from mlcraft.errors import UserInputError
from mlcraft.runs import COMPRESS_SOURCE

from text_classifier import artifacts

ONNX, INT8 = "model.onnx", "model.int8.onnx"
SOURCE = COMPRESS_SOURCE  # model/source.json: the train run
PARITY_ROWS = 256  # parity is measured on the first 256 test texts
LATENCY_BATCHES = (1, 32)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="a complete train run that saved finetune")
    parser.add_argument("--run-dir", default=None, help="the run folder to create")
    parser.add_argument(
        "--max-rows", type=int, default=None,
        help="score only the first N validation and test rows (quick checks; default: all)",
    )  # fmt: skip


def padded(tokenizer, texts: list[str], max_length: int) -> dict[str, np.ndarray]:
    """The exported graph's inputs: int64, every row padded to the run's max length."""
    batch = tokenizer(list(texts), truncation=True, max_length=max_length, padding="max_length",
                      return_tensors="np")  # fmt: skip
    return {name: batch[name].astype(np.int64) for name in ("input_ids", "attention_mask")}


def _logits_module(model):
    import torch

    class Logits(torch.nn.Module):
        """(input_ids, attention_mask) -> logits: the signature the ONNX file has."""

        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask):
            return self.model(input_ids=input_ids, attention_mask=attention_mask).logits

    return Logits().eval()


def _torch_logits(module, inputs: dict[str, np.ndarray], batch_size: int = 64) -> np.ndarray:
    import torch

    out = []
    with torch.no_grad():
        for start in range(0, len(inputs["input_ids"]), batch_size):
            part = [torch.from_numpy(inputs[k][start : start + batch_size]) for k in inputs]
            out.append(module(*part).float().numpy())
    return np.concatenate(out)


def _check(model: str, max_rows: int | None) -> tuple[Path, dict]:
    if max_rows is not None and max_rows < 1:
        raise UserInputError(f"--max-rows={max_rows}: must be positive")
    run_dir = artifacts.check_run(model)
    meta = artifacts.load_meta(run_dir)
    if "finetune" not in meta.get("files", {}):
        raise UserInputError(
            f"--model={run_dir}: the run saved no fine-tuned model (a TF-IDF-only run); "
            "compress exports the fine-tuned transformer"
        )
    return run_dir, meta


def compress(args: argparse.Namespace) -> int:
    from mlcraft.runs import open_run
    from mlcraft.tracking import environment_fingerprint

    from text_classifier.gating import _data, run_config

    run_dir, meta = _check(args.model, args.max_rows)
    config = run_config(run_dir)
    data = _data(config.model_dump_json())
    splits = {name: data.splits[name].head(args.max_rows) for name in ("val", "test")}
    fingerprint = environment_fingerprint()  # the code as it was when compress started
    with open_run("text_classifier", "compress", None, args.run_dir, 200_000_000) as run:
        table, diff = export_and_measure(run, run_dir, meta, splits, config.torch_threads)
        out = run.results / "compress"
        from mlcraft.files import atomic_write_json
        from mlcraft.reporting import write_table

        write_table(out, "compress", table, digits=4)
        atomic_write_json(out / "compress.json", {
            "model_run": run_dir.name,
            "model_config": json.loads((run_dir / "results" / "summary.json").read_text())["config"],
            **{key: fingerprint[key] for key in ("git_sha", "git_dirty", "hardware")},
            "parity_max_abs_logit_diff": diff, "parity_rows": min(PARITY_ROWS, len(splits["test"])),
            "max_length": meta["max_length"], "torch_threads": config.torch_threads,
        })  # fmt: skip
        print(table.to_string(index=False))
        print(f"parity: max |logit diff| torch vs onnxruntime = {diff:.2e}")
    print(f"run complete: {run.final}")
    return 0


def export_and_measure(run, run_dir: Path, meta: dict, splits: dict, threads: int | None):
    """Export, quantize, score every variant; returns (the variant table, parity)."""
    import torch
    from mlcraft import compress as mc
    from mlcraft.files import atomic_write_json
    from mlcraft.trusted import write_manifest

    from text_classifier.data import encode_labels
    from text_classifier.models import load_classifier, load_tokenizer, use_threads

    use_threads(threads)
    folder = artifacts.verified_folder(artifacts.rung_path(run_dir, meta, "finetune"))
    tokenizer = load_tokenizer(folder)
    module = _logits_module(load_classifier(folder, len(meta["classes"])))
    inputs = {name: padded(tokenizer, split["text"].tolist(), meta["max_length"])
              for name, split in splits.items()}  # fmt: skip
    run.model.mkdir(parents=True, exist_ok=True)
    example = tuple(torch.from_numpy(v[:2]) for v in inputs["test"].values())
    mc.export_onnx(module, example, run.model / ONNX, ["input_ids", "attention_mask"])
    mc.quantize_int8(run.model / ONNX, run.model / INT8)
    atomic_write_json(run.model / SOURCE, {"model_run": str(run_dir.absolute())})
    write_manifest(run.model, [ONNX, INT8, SOURCE])

    sessions = {name: mc.session(run.model / f, threads) for name, f in
                (("onnx-fp32", ONNX), ("onnx-int8", INT8))}  # fmt: skip
    logits_fns = {"torch-fp32": lambda x: _torch_logits(module, x)}
    for name, sess in sessions.items():
        logits_fns[name] = lambda x, sess=sess: mc.onnx_logits(sess, x)
    sizes = {"torch-fp32": (Path(folder) / "model.safetensors").stat().st_size,
             "onnx-fp32": (run.model / ONNX).stat().st_size,
             "onnx-int8": (run.model / INT8).stat().st_size}  # fmt: skip
    logits = {
        name: {split: fn(x) for split, x in inputs.items()} for name, fn in logits_fns.items()
    }
    diff = mc.parity(logits["torch-fp32"]["test"][:PARITY_ROWS],
                     logits["onnx-fp32"]["test"][:PARITY_ROWS])  # fmt: skip
    texts = (splits["test"]["text"].tolist() * 32)[:32]
    latency = {
        name: {n: mc.latency_ms(lambda fn=fn, n=n: fn(padded(tokenizer, texts[:n], meta["max_length"])))
               for n in LATENCY_BATCHES}
        for name, fn in logits_fns.items()
    }  # fmt: skip
    labels = {split: encode_labels(frame["label_raw"], meta["classes"])[0]
              for split, frame in splits.items()}  # fmt: skip
    return variant_table(logits, labels, sizes, latency, meta), diff


def variant_table(logits, labels, sizes, latency, meta):
    """mlcraft.compress.split_report on validation and on test, one row per variant and split
    (the temperature is re-fitted on validation either way)."""
    from mlcraft.compress import split_report

    temperature = meta["decisions"]["finetune"]["temperature"]
    return split_report(logits, labels, sizes, latency, temperature, "text")
