"""CLI: python -m vision_transfer train|search|evaluate|predict|report [--config X.yaml] [--set k=v]."""

from __future__ import annotations

import argparse

from mlcraft.cli import run_cli


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="vision_transfer", description=__doc__)
    sub = parser.add_subparsers(dest="verb", required=True)
    for verb in ("train", "search", "evaluate"):
        p = sub.add_parser(verb)
        p.add_argument("--config", required=True)
        p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
        if verb == "evaluate":
            p.add_argument("--model", help="a model run dir to score on the config's test split")
    p = sub.add_parser("predict", help="predict every image under a folder")
    p.add_argument(
        "--model", required=True, help="a model run dir (model.json + model.safetensors)"
    )
    p.add_argument("--input", required=True, help="a folder of images (searched recursively)")
    p.add_argument("--output", help="CSV path (default: <model>/predictions.csv)")
    p = sub.add_parser("report", help="render README blocks from results/")
    p.add_argument("--results", default="results")
    p.add_argument("--readme", default="README.md")
    args = parser.parse_args(argv)

    if args.verb == "predict":
        from .predict import predict_folder

        predict_folder(args.model, args.input, args.output)
        return 0
    if args.verb == "report":
        from .report import render

        changed = render(args.results, args.readme)
        print(f"README blocks updated: {changed or 'none (already current)'}")
        return 0
    from .config import load

    cfg = load(args.config, args.set)
    if args.verb == "train":
        from .pipeline import run_train

        run_train(cfg)
    elif args.verb == "evaluate":
        from mlcraft.errors import UserInputError

        from .evaluate import evaluate_run

        if not args.model:
            raise UserInputError("evaluate needs --model <run dir> (a folder written by train)")
        evaluate_run(cfg, args.model)
    else:
        from .search import run_search

        run_search(cfg)
    return 0


if __name__ == "__main__":
    raise SystemExit(run_cli(main))
