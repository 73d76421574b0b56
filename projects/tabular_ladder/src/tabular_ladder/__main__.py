"""CLI: python -m tabular_ladder train|search|evaluate|predict|report."""

from __future__ import annotations

import argparse
import json
import os
import sys

# Idle OpenMP threads sleep instead of spinning (before LightGBM loads): on a shared machine
# spinning threads steal the cores the working ones need.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from mlcraft.cli import run_cli
from mlcraft.config import load_config


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tabular_ladder", description=__doc__)
    verbs = parser.add_subparsers(dest="verb", required=True)
    for verb, text in [
        ("train", "the full run: ladder, tuning, analyses, results/ and a model bundle"),
        ("search", "only the Optuna search (a named study resumes where it stopped)"),
        ("evaluate", "score a saved model bundle on the configured data's test split"),
    ]:
        sub = verbs.add_parser(verb, help=text)
        sub.add_argument("--config", required=True)
        sub.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
        if verb == "evaluate":
            sub.add_argument("--model", required=True, help="run dir or its model/ folder")
    predict = verbs.add_parser("predict", help="score a CSV with a saved model bundle")
    predict.add_argument("--model", required=True, help="run dir or its model/ folder")
    predict.add_argument("--input", required=True)
    predict.add_argument("--output", required=True)
    verbs.add_parser("report", help="render README tables from results/")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.verb == "predict":
        from tabular_ladder.predict import predict_csv

        rows = predict_csv(args.model, args.input, args.output)
        print(f"wrote {rows} predictions to {args.output}")
        return 0
    if args.verb == "report":
        from tabular_ladder.report import render

        changed = render()
        print(f"README blocks updated: {changed or 'none (already current)'}")
        return 0
    from tabular_ladder.config import TrainConfig

    config = load_config(args.config, TrainConfig, args.set)
    if args.verb == "train":
        from tabular_ladder.train import train

        summary = train(config)
        print(json.dumps(summary["headline"], indent=2))
    elif args.verb == "search":
        from tabular_ladder.search import search

        print(json.dumps(search(config), indent=2))
    else:
        from tabular_ladder.search import evaluate_bundle

        print(json.dumps(evaluate_bundle(config, args.model), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
