"""CLI: python -m text_classifier train|search|evaluate|predict|serve|report|publish (mlcraft.cli).

    python -m text_classifier train --config configs/smoke.yaml [--set k=v ...] [--run-dir DIR]
    python -m text_classifier search --config configs/search.yaml
    python -m text_classifier evaluate --config configs/default.yaml --model RUN
    python -m text_classifier predict --model RUN --input in.csv --output out.csv [--rung tfidf]
        [--encoding latin-1] [--id-column id]
    python -m text_classifier serve --model RUN [--host H] [--port P]
    python -m text_classifier compress --model RUN [--run-dir DIR]   # ONNX fp32 + INT8
    python -m text_classifier bench --config configs/default.yaml [--steps N]   # throughput
    python -m text_classifier loadtest|register|promote|rollback --model RUN
    python -m text_classifier report          # README blocks from results/
    python -m text_classifier publish         # the newest complete reference run -> results/

Heavy imports (torch, transformers, sklearn) stay inside the handlers, so a bad flag or config
fails in a fraction of a second.
"""

from __future__ import annotations

import os
from pathlib import Path

from mlcraft import cli

from text_classifier import PROJECT_DIR
from text_classifier.preflight import TRAIN_BYTES

# Tokenizers' own thread pool fights torch for the 2 cores and warns after fork: keep it off.
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def _train(cfg, run, args):
    from text_classifier.train import run as train

    return train(cfg, run, args.checked)


def _bench(cfg, run, args):
    from text_classifier.bench import run_bench

    return run_bench(cfg, run, args)


def _search(cfg, run, args):
    from text_classifier.search import search

    return search(cfg, run, args.checked)


def _evaluate(cfg, run, args):
    from text_classifier.predict import evaluate_run

    data, meta = args.checked
    return evaluate_run(cfg, run, data, Path(args.model), meta)


def _predict(args):
    from text_classifier.predict import predict_file

    return predict_file(
        args.model, args.input, args.output, args.rung, args.encoding, args.id_column
    )


def _predict_arguments(parser) -> None:
    parser.add_argument(
        "--rung", default="finetune", choices=["finetune", "tfidf"],
        help="which saved model answers (default: the fine-tuned transformer)",
    )  # fmt: skip
    parser.add_argument("--encoding", default="utf-8", help="text encoding of --input")
    parser.add_argument(
        "--id-column", default=None, help="key output rows by this column (default: row number)"
    )


def _compress(args) -> int:
    from text_classifier.compress import compress

    return compress(args)


def _compress_arguments(parser) -> None:
    from text_classifier.compress import add_arguments

    add_arguments(parser)


PROJECT = cli.Project(
    name="text_classifier",
    project_dir=PROJECT_DIR,
    load_config=cli.lazy("text_classifier.config:load"),
    train=_train,
    blocks=cli.lazy("text_classifier.report:blocks"),
    predict=_predict,
    serve=cli.lazy("text_classifier.serving:served_model"),
    search=_search,
    evaluate=_evaluate,
    bench=_bench,
    preflight=cli.lazy("text_classifier.preflight:preflight"),
    expected_bytes=TRAIN_BYTES,  # the fine-tuned MiniLM (~90 MB) + TF-IDF + tables
    predict_arguments=_predict_arguments,
    request_rows=cli.lazy("text_classifier.gating:request_rows"),
    gate_scores=cli.lazy("text_classifier.gating:gate_scores"),
    gate_metric="accuracy_score",  # on decided labels: works for any number of classes
    extra_verbs={
        "compress": (
            "the fine-tuned model as ONNX fp32 and INT8, with parity, scores and latency",
            _compress_arguments,
            _compress,
        ),
    },  # fmt: skip
)

main, console = cli.entry_points(PROJECT)


if __name__ == "__main__":
    console()
