"""CLI: the shared verbs (mlcraft.cli) plus this project's own.

    python -m repro_training train --config configs/default.yaml [--set k=v ...] [--run-dir DIR]
    python -m repro_training evaluate --config X.yaml --model RUN
    python -m repro_training predict --model RUN --input images.npy --output probs.csv
    python -m repro_training report | publish
    python -m repro_training run --config X.yaml --run-dir D [--seed N] [--resume]
    python -m repro_training verify RUN [--run-dir DIR]
    python -m repro_training bench --config configs/default.yaml [--steps N]
    python -m repro_training hardware-cell [--precision bf16 ...]

Heavy modules (torch, Lightning) are imported inside the handlers, so a bad flag or config is
reported before any of them loads.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from mlcraft import cli

PROJECT_DIR = Path(__file__).resolve().parents[2]


def _train(cfg, run, args):
    from repro_training.suite import run_suite

    summary = run_suite(cfg, run, args.checked)
    print(json.dumps(summary["headline"], indent=2))


def _evaluate(cfg, run, args):
    from repro_training.evaluate import evaluate

    model, split = args.checked
    evaluate(cfg, run, model, split)


def _predict(args):
    from repro_training.predict import predict_file

    return predict_file(args.model, args.input, args.output)


def _run_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, help="YAML config (configs/default.yaml ...)")
    parser.add_argument("--set", dest="overrides", action="extend", nargs="+", default=[],
                        metavar="KEY=VALUE", help="override config keys")  # fmt: skip
    parser.add_argument("--run-dir", required=True,
                        help="the checkpoint folder: a new one, or the one to --resume")  # fmt: skip
    parser.add_argument("--seed", type=int, default=None, help="default: the config's first seed")
    parser.add_argument("--resume", action="store_true", help="continue from run-dir's last.pt")


def _run(args) -> int:
    """One resumable training run into --run-dir (a checkpoint folder, not a train run folder)."""
    from repro_training.config import load
    from repro_training.preflight import preflight
    from repro_training.train import fit

    cfg = load(args.config, args.overrides)
    args.verb = "run"
    preflight(cfg, args)

    seed = cfg.seeds[0] if args.seed is None else args.seed
    result = fit(cfg, seed, args.run_dir, resume=args.resume)
    print(json.dumps({"run_dir": str(result.run_dir), "weights_sha256": result.weights_sha256,
                      "test_accuracy": result.test_accuracy}))  # fmt: skip
    return 0


def _verify_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", metavar="RUN", help="a single run folder or a train run")
    parser.add_argument("--run-dir", dest="out_dir", default=None,
                        help="the verify run folder (default runs/repro_training/<run-id>)")  # fmt: skip


def _verify(args) -> int:
    from repro_training.manifest import verify

    report = verify(args.run_dir, args.out_dir)
    print(json.dumps(report, indent=2))
    return 0 if report["weights_match"] else 1


def _cell_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    parser.add_argument("--grad-checkpointing", action="store_true")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--widths", default="16,32,64")
    parser.add_argument("--stem-stride", type=int, default=2)
    parser.add_argument("--deterministic", action="store_true")


def _cell(args) -> int:
    from repro_training.hardware import bench_cell

    widths = [int(w) for w in args.widths.split(",")]
    cell = bench_cell(args.precision, args.grad_checkpointing, args.batch_size, args.size,
                      args.steps, widths, args.stem_stride, args.deterministic)  # fmt: skip
    print(json.dumps(cell))
    return 0


PROJECT = cli.Project(
    name="repro_training",
    project_dir=PROJECT_DIR,
    load_config=cli.lazy("repro_training.config:load"),
    train=_train,
    blocks=cli.lazy("repro_training.report:blocks"),
    bench=cli.lazy("repro_training.bench:run_bench"),
    predict=_predict,
    evaluate=_evaluate,
    preflight=cli.lazy("repro_training.preflight:preflight"),
    expected_bytes=100_000_000,
    extra_verbs={
        "run": ("one resumable training run into --run-dir", _run_arguments, _run),
        "verify": ("rerun a run from its manifest; exit 1 if the weights differ",
                   _verify_arguments, _verify),
        "hardware-cell": ("one hardware-table cell (JSON on stdout)", _cell_arguments, _cell),
    },
)  # fmt: skip

main, console = cli.entry_points(PROJECT)


if __name__ == "__main__":
    console()
