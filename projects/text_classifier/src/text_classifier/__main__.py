"""CLI: python -m text_classifier train|search|evaluate|predict|report --config X.yaml [--set k=v]."""

from __future__ import annotations

import argparse
import os

from mlcraft.cli import run_cli

# Tokenizers' own thread pool fights torch for the 2 cores and warns after fork: keep it off.
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m text_classifier", description=__doc__)
    verbs = parser.add_subparsers(dest="verb", required=True)
    for verb, help_text in (
        ("train", "run the ladder and analyses (configs/default.yaml = the reference run)"),
        ("search", "Optuna search over fine-tuning hyperparameters (resumes a killed study)"),
        ("evaluate", "re-score a saved run folder on the configured test split"),
    ):
        sub = verbs.add_parser(verb, help=help_text)
        sub.add_argument("--config", required=True)
        sub.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
        if verb == "evaluate":
            sub.add_argument("--model", required=True, help="a run folder written by train")
    predict = verbs.add_parser("predict", help="predict a CSV/JSONL with a saved run folder")
    predict.add_argument("--model", required=True, help="a run folder written by train")
    predict.add_argument("--input", required=True)
    predict.add_argument("--output", default=None, help="default: <input>.predictions.csv")
    predict.add_argument("--rung", default="finetune", choices=["finetune", "tfidf"])
    predict.add_argument("--config", default=None, help="unused; accepted for symmetry")
    report = verbs.add_parser("report", help="render README blocks from results/")
    report.add_argument("--results", default="results")
    report.add_argument("--readme", default="README.md")
    report.add_argument("--config", default=None, help="unused; accepted for symmetry")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.verb == "report":
        from text_classifier.report import report

        changed = report(args.results, args.readme)
        print(f"README blocks updated: {changed or 'none (already current)'}")
        return 0
    if args.verb == "predict":
        from text_classifier.predict import predict_file

        out = predict_file(args.model, args.input, args.output, args.rung)
        print(f"wrote {out}")
        return 0
    from text_classifier.config import load

    cfg = load(args.config, args.set)
    if args.verb == "train":
        from text_classifier.train import run

        run(cfg)
    elif args.verb == "search":
        from text_classifier.search import search

        search(cfg)
    elif args.verb == "evaluate":
        from text_classifier.predict import evaluate_run

        print(evaluate_run(args.model, cfg))
    return 0


if __name__ == "__main__":
    raise SystemExit(run_cli(main))
