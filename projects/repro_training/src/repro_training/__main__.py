"""CLI: python -m repro_training train|run|verify|evaluate|predict|bench|report."""

from __future__ import annotations

import argparse
import json
import sys

from mlcraft.cli import run_cli


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="repro_training", description=__doc__)
    sub = parser.add_subparsers(dest="verb", required=True)

    def with_config(p):
        p.add_argument("--config", required=True, help="YAML config (configs/default.yaml ...)")
        p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
        return p

    with_config(sub.add_parser("train", help="the configured runs and checks; writes a summary"))
    run = with_config(sub.add_parser("run", help="one training run into --run-dir (resumable)"))
    run.add_argument("--run-dir", required=True)
    run.add_argument("--seed", type=int, default=None, help="default: the config's first seed")
    run.add_argument("--resume", action="store_true", help="continue from run-dir's last.pt")
    verify = sub.add_parser(
        "verify", help="rerun a run from its manifest; exit 1 if weights differ"
    )
    verify.add_argument("run_dir")
    evaluate = sub.add_parser("evaluate", help="test accuracy of a finished run's weights")
    evaluate.add_argument("run_dir")
    predict = sub.add_parser("predict", help="class probabilities for a .npy of uint8 images")
    predict.add_argument("run_dir")
    predict.add_argument("--input", required=True, help=".npy uint8 array (n, h, w)")
    predict.add_argument("--output", required=True, help="CSV of class probabilities")
    bench = sub.add_parser("bench", help="one hardware-table cell (JSON on stdout)")
    bench.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    bench.add_argument("--grad-checkpointing", action="store_true")
    bench.add_argument("--batch-size", type=int, default=128)
    bench.add_argument("--size", type=int, default=64)
    bench.add_argument("--steps", type=int, default=8)
    bench.add_argument("--widths", default="16,32,64")
    bench.add_argument("--stem-stride", type=int, default=2)
    bench.add_argument("--deterministic", action="store_true")
    sub.add_parser("report", help="render README tables from results/")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.verb == "report":
        from repro_training.report import render

        changed = render()
        print(f"README blocks updated: {changed or 'none'}")
        return 0
    if args.verb == "bench":
        from repro_training.hardware import bench_cell

        widths = [int(w) for w in args.widths.split(",")]
        cell = bench_cell(args.precision, args.grad_checkpointing, args.batch_size, args.size,
                          args.steps, widths, args.stem_stride, args.deterministic)  # fmt: skip
        print(json.dumps(cell))
        return 0
    if args.verb == "verify":
        from repro_training.manifest import verify

        report = verify(args.run_dir)
        print(json.dumps(report, indent=2))
        return 0 if report["weights_match"] else 1
    if args.verb in ("evaluate", "predict"):
        from repro_training import evaluate

        if args.verb == "evaluate":
            print(json.dumps(evaluate.evaluate_run(args.run_dir), indent=2))
        else:
            evaluate.predict_file(args.run_dir, args.input, args.output)
        return 0

    from repro_training.config import load

    cfg = load(args.config, args.set)
    if args.verb == "run":
        from repro_training.train import fit

        seed = cfg.seeds[0] if args.seed is None else args.seed
        result = fit(cfg, seed, args.run_dir, resume=args.resume)
        print(json.dumps({"run_dir": str(result.run_dir), "weights_sha256": result.weights_sha256,
                          "test_accuracy": result.test_accuracy}))  # fmt: skip
        return 0
    from repro_training.suite import run_suite

    summary = run_suite(cfg)
    print(json.dumps(summary["headline"], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
