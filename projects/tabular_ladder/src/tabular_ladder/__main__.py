"""CLI (mlcraft's shared verbs):

    python -m tabular_ladder train|search --config X.yaml [--set k=v ...] [--run-dir DIR]
    python -m tabular_ladder evaluate --config X.yaml --model RUN [--run-dir DIR]
    python -m tabular_ladder predict --model RUN --input in.csv --output out.csv
    python -m tabular_ladder serve --model RUN [--host H] [--port P]
    python -m tabular_ladder compress --model RUN [--run-dir DIR]   # the bundle as ONNX
    python -m tabular_ladder loadtest --model RUN [--concurrency 1 8 32] [--batch-ms 0 5]
    python -m tabular_ladder register --model RUN | promote | rollback
    python -m tabular_ladder monitor --model RUN --input batch.csv [--run-dir DIR]
    python -m tabular_ladder report [--results DIR] [--readme FILE]
    python -m tabular_ladder publish [--run-dir RUN]

train, search and evaluate pass pre-flight (tabular_ladder.preflight) and then write only into
their own run folder runs/tabular_ladder/<run-id>/; only `publish` changes results/.
"""

from __future__ import annotations

import os
from pathlib import Path

# Idle OpenMP threads sleep instead of spinning (before LightGBM loads): on a shared machine
# spinning threads steal the cores the working ones need.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from mlcraft import cli  # noqa: E402 - after the OpenMP setting

PROJECT_DIR = Path(__file__).resolve().parents[2]


def _train(config, run, args):
    import json

    from tabular_ladder.train import train

    summary = train(config, run, args.checked)
    print(json.dumps(summary["headline"], indent=2))


def _search(config, run, args):
    from tabular_ladder.search import search

    search(config, run, args.checked)


def _evaluate(config, run, args):
    from tabular_ladder.search import evaluate_verb

    evaluate_verb(config, run, args)


def _expected_bytes() -> int:
    from tabular_ladder.preflight import EXPECTED_BYTES

    return EXPECTED_BYTES


def _monitor_arguments(parser):
    parser.add_argument("--model", required=True, help="a complete train run folder")
    parser.add_argument("--input", required=True, help="the batch (CSV, like predict's input)")
    parser.add_argument("--run-dir", default=None, help="default runs/tabular_ladder/<run-id>")


def _monitor(args):
    from tabular_ladder.batch_monitor import monitor_verb

    return monitor_verb(args)


def _compress_arguments(parser):
    parser.add_argument("--model", required=True, help="a complete train run folder")
    parser.add_argument("--run-dir", default=None, help="default runs/tabular_ladder/<run-id>")


def _compress(args):
    from tabular_ladder.compress import compress

    return compress(args)


PROJECT = cli.Project(
    name="tabular_ladder",
    project_dir=PROJECT_DIR,
    load_config=cli.lazy("tabular_ladder.config:load"),
    train=_train,
    blocks=cli.lazy("tabular_ladder.report:blocks"),
    predict=cli.lazy("tabular_ladder.predict:predict_verb"),
    serve=cli.lazy("tabular_ladder.serving:served_model"),
    request_rows=cli.lazy("tabular_ladder.gating:request_rows"),
    gate_scores=cli.lazy("tabular_ladder.gating:gate_scores"),
    search=_search,
    evaluate=_evaluate,
    preflight=cli.lazy("tabular_ladder.preflight:preflight"),
    expected_bytes=_expected_bytes(),
    extra_verbs={
        "monitor": (
            "drift and estimated performance of a batch against the training split",
            _monitor_arguments,
            _monitor,
        ),
        "compress": (
            "the model bundle as one ONNX graph, with parity, scores, size and latency",
            _compress_arguments,
            _compress,
        ),
    },  # fmt: skip
)

main, console = cli.entry_points(PROJECT)


if __name__ == "__main__":
    console()
