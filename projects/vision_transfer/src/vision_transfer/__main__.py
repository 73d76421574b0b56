"""CLI (mlcraft.cli, the same verbs and flags as every project):

    python -m vision_transfer train|search --config configs/X.yaml [--set k=v ...] [--run-dir DIR]
    python -m vision_transfer evaluate --config configs/X.yaml --model RUN [--run-dir DIR]
    python -m vision_transfer predict --model RUN --input IMAGES --output FILE.csv
    python -m vision_transfer serve --model RUN [--host H] [--port P]
    python -m vision_transfer loadtest --model RUN [--concurrency N ...] [--run-dir DIR]
    python -m vision_transfer register --model RUN | promote | rollback
    python -m vision_transfer compress --model RUN [--run-dir DIR]   # ONNX fp32 + INT8
    python -m vision_transfer bench --config configs/X.yaml [--steps N] [--run-dir DIR]
    python -m vision_transfer report [--results DIR] [--readme FILE]
    python -m vision_transfer publish [--run-dir RUN] [--allow-dirty]

train, search and evaluate run the pre-flight checks (vision_transfer.preflight), then write only
into a new run folder runs/vision_transfer/<run-id>/ (or --run-dir). Heavy imports (torch, timm)
happen inside the handlers.
"""

from __future__ import annotations

from mlcraft import cli

from vision_transfer.sources import project_dir

PROJECT_DIR = project_dir()


def _train(cfg, run, args):
    from vision_transfer.pipeline import run_train

    return run_train(cfg, run, args.checked)


def _search(cfg, run, args):
    from vision_transfer.search import run_search

    return run_search(cfg, run, args.checked)


def _evaluate(cfg, run, args):
    from vision_transfer.evaluate import evaluate_run

    return evaluate_run(cfg, run, args.checked, args.model)


def _bench(cfg, run, args):
    from vision_transfer.bench import run_bench

    return run_bench(cfg, run, args)


def _compress(args):
    from vision_transfer.compress import compress

    return compress(args)


def _compress_arguments(parser):
    from vision_transfer.compress import add_arguments

    add_arguments(parser)


def _predict(args):
    from vision_transfer.predict import predict

    return predict(args.model, args.input, args.output)[1]


PROJECT = cli.Project(
    name="vision_transfer",
    project_dir=PROJECT_DIR,
    load_config=cli.lazy("vision_transfer.config:load"),
    train=_train,
    search=_search,
    evaluate=_evaluate,
    bench=_bench,
    predict=_predict,
    serve=cli.lazy("vision_transfer.serving:served_model"),
    request_rows=cli.lazy("vision_transfer.gating:request_rows"),
    gate_scores=cli.lazy("vision_transfer.gating:gate_scores"),
    gate_metric="accuracy_score",  # on decided labels: works for any number of classes
    extra_verbs={
        "compress": (
            "the network as ONNX fp32 and INT8, with parity, scores and latency",
            _compress_arguments,
            _compress,
        ),
    },  # fmt: skip
    blocks=cli.lazy("vision_transfer.report:blocks"),
    preflight=cli.lazy("vision_transfer.preflight:check"),
    expected_bytes=60_000_000,  # vision_transfer.preflight.EXPECTED_BYTES
)

main, console = cli.entry_points(PROJECT)


if __name__ == "__main__":
    console()
