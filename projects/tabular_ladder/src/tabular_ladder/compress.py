"""`python -m tabular_ladder compress --model RUN`: a train run's bundle as one ONNX graph
(tabular_ladder.onnx_model), its parity with the native bundle, and what each costs and scores.

Writes a run folder (never results/):
    model/model.onnx                  preprocessing + booster -> LightGBM raw score; one [N, 1]
                                      input per schema column
    model/source.json                 the train run whose calibration map, threshold and schema
                                      serve it, with the sha256 of its bundle files
    model/manifest.json               sha256 of each, checked before serving
    results/compress/compress.csv|.md native vs ONNX on the run's test split: ROC AUC, ECE, max
                                      |probability difference|, decisions flipped at the bundle
                                      threshold, size on disk, CPU latency of 1 and 1,000 rows;
                                      INT8 as a row saying why it does not apply
    results/compress/compress.json    model_run, model_config, git, hardware, parity
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd
from mlcraft.runs import COMPRESS_SOURCE as SOURCE

ONNX = "model.onnx"
LATENCY_ROWS = (1, 1000)
# Dynamic INT8 quantization rewrites MatMul/Gemm (and Conv) weights; a tree ensemble has none,
# so there is nothing to quantize: the table says so instead of showing a number.
INT8_NOTE = "not applicable: dynamic INT8 quantizes MatMul/Gemm weights; a tree ensemble has none"


def compress(args: argparse.Namespace) -> int:
    from mlcraft.files import atomic_write_json
    from mlcraft.reporting import write_table
    from mlcraft.runs import open_run
    from mlcraft.tracking import environment_fingerprint

    from tabular_ladder.bundle import load_bundle
    from tabular_ladder.gating import _data, run_config
    from tabular_ladder.preflight import model_run

    run_dir = model_run(args.model)  # a complete run with a bundle, before anything is made
    bundle = load_bundle(run_dir / "model")  # manifest and type allow-list checked
    config = run_config(run_dir)
    data = _data(config.model_dump_json())
    test = bundle.check(data.X_test, f"--model={run_dir}: test split")
    fingerprint = environment_fingerprint()  # the code as it was when compress started
    with open_run("tabular_ladder", "compress", None, args.run_dir, 20_000_000) as run:
        table, diff = export_and_measure(run, run_dir, bundle, test, data.y_test, config.n_jobs)
        out = run.results / "compress"
        write_table(out, "compress", table, digits=4)
        summary = json.loads((run_dir / "results" / "summary.json").read_text())
        atomic_write_json(out / "compress.json", {
            "model_run": run_dir.name, "model_config": summary["config"],
            **{key: fingerprint[key] for key in ("git_sha", "git_dirty", "hardware")},
            "parity_max_abs_prob_diff": diff, "parity_rows": len(test),
            "threshold": float(bundle.meta["threshold"]),
            "calibration": bundle.meta.get("calibration"), "onnxruntime_threads": config.n_jobs,
            "int8": INT8_NOTE,
        })  # fmt: skip
        print(table.drop(columns="note").to_string(index=False))
        print(f"parity: max |probability diff| native vs onnxruntime = {diff:.2e}")
    print(f"run complete: {run.final}")
    return 0


def export_and_measure(run, run_dir: Path, bundle, test: pd.DataFrame, y: np.ndarray,
                       threads: int) -> tuple[pd.DataFrame, float]:  # fmt: skip
    """Export, score both variants on the test split; returns (the variant table, parity)."""
    import onnx
    from mlcraft.files import atomic_write_json
    from mlcraft.trusted import write_manifest

    from tabular_ladder.onnx_model import OnnxScorer, to_onnx

    run.model.mkdir(parents=True, exist_ok=True)
    onnx.save(to_onnx(bundle, f"--model={run_dir}"), run.model / ONNX)
    source = run_dir / "model"
    atomic_write_json(run.model / SOURCE, {
        "model_run": str(run_dir.absolute()),
        "bundle_sha256": json.loads((source / "manifest.json").read_text())["sha256"],
    })  # fmt: skip
    write_manifest(run.model, [ONNX, SOURCE])

    scorer = OnnxScorer(run.model / ONNX, bundle, threads)
    variants = {"native": bundle.score, "onnx": scorer.score}
    prob = {name: score(test) for name, score in variants.items()}
    size = {name: (folder / name).stat().st_size for folder, name in
            ((source, "prep.skops"), (source, "model.txt"), (source, "calibrator.skops"),
             (run.model, ONNX))}  # fmt: skip
    # both variants need the calibration map
    sizes = {"native": size["prep.skops"] + size["model.txt"] + size["calibrator.skops"],
             "onnx": size[ONNX] + size["calibrator.skops"]}  # fmt: skip
    batch = pd.concat([test] * (LATENCY_ROWS[-1] // len(test) + 1)).head(LATENCY_ROWS[-1])
    latency = {name: {n: latency_ms(score, batch.head(n)) for n in LATENCY_ROWS}
               for name, score in variants.items()}  # fmt: skip
    threshold = float(bundle.meta["threshold"])
    table = variant_table(y, prob, sizes, latency, threshold)
    return table, float(np.max(np.abs(prob["native"] - prob["onnx"])))


def latency_ms(score, rows: pd.DataFrame) -> float:
    from mlcraft.compress import latency_ms as median_ms

    return median_ms(lambda: score(rows))


def variant_table(y, prob: dict, sizes: dict, latency: dict, threshold: float) -> pd.DataFrame:
    """One row per variant (native first): scores, parity with native, cost; then INT8."""
    from mlcraft.calibration import ece
    from sklearn.metrics import roc_auc_score

    native = prob["native"]
    rows = []
    for name, p in prob.items():
        rows.append({
            "variant": name, "rows": len(p), "roc_auc": float(roc_auc_score(y, p)),
            "ece_15": float(ece(y, p, 15)),
            "max_abs_prob_diff": float(np.max(np.abs(p - native))),
            "decisions_flipped": int(((p >= threshold) != (native >= threshold)).sum()),
            "size_mb": sizes[name] / 1e6,
            **{f"latency_ms_{n}_rows": latency[name][n] for n in LATENCY_ROWS},
            "note": "lightgbm + skops" if name == "native" else "onnxruntime; calibration map "
                    "as in the bundle",
        })  # fmt: skip
    rows.append({"variant": "onnx-int8", "note": INT8_NOTE})
    table = pd.DataFrame(rows)
    for column in ("rows", "decisions_flipped"):  # integers beside the INT8 row's blanks
        counts = [None if pd.isna(v) else int(v) for v in table[column]]
        table[column] = pd.Series(counts, dtype=object)
    return table


def load_compressed(run: Path):
    """(OnnxScorer, the train run) for a compress run: its manifest, then the train run's bundle
    (manifest, type allow-list), which must be the very bundle the graph was made from."""
    from mlcraft.errors import UserInputError
    from mlcraft.runs import train_run
    from mlcraft.trusted import verify_manifest

    from tabular_ladder.bundle import load_bundle
    from tabular_ladder.onnx_model import OnnxScorer
    from tabular_ladder.preflight import model_run

    folder = run / "model"
    verify_manifest(folder)
    train = model_run(train_run(run), f"{folder / SOURCE}: model_run")
    source = json.loads((folder / SOURCE).read_text())  # readable: train_run read it
    bundle = load_bundle(train / "model")
    if verify_manifest(train / "model") != source["bundle_sha256"]:
        raise UserInputError(f"{train}/model: not the bundle {run.name} was made from "
                             "(its files' sha256 differ)")  # fmt: skip
    return OnnxScorer(folder / ONNX, bundle), train
