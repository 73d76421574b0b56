"""Pre-flight: every check that needs no training, before any run folder is made.

Each failure is one UserInputError naming the config key (or flag) and its value. The loaded data
is returned so the handler reuses it (data.load is cached per process as well).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from mlcraft.errors import UserInputError
from mlcraft.runs import check_free_disk, check_writable_dir

from repro_training import data as data_mod
from repro_training.config import Config, to_dict

RUN_BYTES = 20_000_000  # one `run` folder: checkpoint, weights, test probabilities, manifest


def check_data(cfg: Config) -> data_mod.Split:
    """The data source exists and loads; both sides of the split hold two classes or more; the
    batch fits the training set and splits evenly over the devices."""
    split = data_mod.load(cfg.data)  # carriers, files and arrays: one line per problem
    for side, y in (("train", split.y_train), ("test", split.y_test)):
        counts = data_mod.class_counts(y, split.classes)
        if len(counts) < 2:
            hint = " (raise data.max_train)" if side == "train" and cfg.data.max_train else ""
            raise UserInputError(
                f"data.name={cfg.data.name}: the {side} split has one class only ({counts}); "
                f"need at least two{hint}"
            )
    check_batch(cfg, len(split.y_train))
    return split


def check_batch(cfg: Config, n_train: int, what: str = "") -> None:
    batch, world = cfg.train.batch_size, cfg.train.devices * cfg.train.num_nodes
    if batch > n_train:
        where = f"the {n_train} training examples{what}"
        raise UserInputError(f"train.batch_size={batch} exceeds {where}")
    if batch % world:
        raise UserInputError(
            f"train.batch_size={batch} must be divisible by the device count {world} "
            "(train.devices x train.num_nodes)"
        )


def check_recipe(cfg: Config) -> None:
    """Seeds, devices and the checks' own variants of the recipe."""
    repeated = sorted({s for s in cfg.seeds if cfg.seeds.count(s) > 1})
    if repeated:
        raise UserInputError(f"seeds={cfg.seeds}: seed {repeated[0]} repeats")
    if cfg.train.accelerator == "gpu":
        import torch

        if not torch.cuda.is_available():
            raise UserInputError("train.accelerator=gpu: no CUDA device is visible")


def check_suite(cfg: Config, split: data_mod.Split) -> None:
    """What `train` runs besides the seeds: the digits rungs and the 2-process DDP run."""
    checks = cfg.checks
    if checks.ddp and cfg.train.batch_size % 2:
        raise UserInputError(
            f"train.batch_size={cfg.train.batch_size}: checks.ddp runs 2 processes and needs an "
            "even batch (or set checks.ddp=false)"
        )
    if (checks.digits_cnn and cfg.data.name != "digits") or checks.resume:
        digits = data_mod.load(cfg.data.model_copy(update={"name": "digits"}))
        check_batch(cfg, len(digits.y_train), " of digits (checks.digits_cnn / checks.resume)")


def for_train(cfg: Config) -> data_mod.Split:
    check_recipe(cfg)
    split = check_data(cfg)
    check_suite(cfg, split)
    return split


def for_run(cfg: Config, args: argparse.Namespace) -> data_mod.Split:
    """`run --run-dir D [--resume]`: D is a checkpoint folder, reused only by --resume."""
    run_dir = Path(args.run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise UserInputError(f"--run-dir={run_dir}: is a file, not a folder")
    check_writable_dir(run_dir, "--run-dir")
    last = run_dir / "checkpoints" / "last.pt"
    if args.resume:
        if not last.is_file():
            raise UserInputError(f"--run-dir={run_dir}: nothing to resume (no checkpoints/last.pt)")
        _same_config(cfg, run_dir)
    elif last.exists() or (run_dir / "manifest.json").exists():
        raise UserInputError(
            f"--run-dir={run_dir}: already holds a run; add --resume to continue it, or choose "
            "a new folder (a run never overwrites another)"
        )
    check_free_disk(run_dir, RUN_BYTES, "--run-dir")
    check_recipe(cfg)
    return check_data(cfg)


def _same_config(cfg: Config, run_dir: Path) -> None:
    import yaml

    stored_path = run_dir / "config.yaml"
    if not stored_path.is_file():
        return
    stored = yaml.safe_load(stored_path.read_text())
    differs = sorted(_diff(stored, to_dict(cfg)))
    if differs:
        raise UserInputError(
            f"--resume: the config differs from {stored_path} at {', '.join(differs[:4])}; "
            "a resumed run must continue the same recipe"
        )


def _diff(a, b, prefix: str = "") -> set[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = set()
        for key in a.keys() | b.keys():
            out |= _diff(a.get(key), b.get(key), f"{prefix}{key}.")
        return out
    return set() if a == b else {prefix.rstrip(".")}


def for_evaluate(cfg: Config, args: argparse.Namespace):
    from repro_training.evaluate import check_compatible, resolve_model

    model = resolve_model(args.model)
    split = data_mod.load(cfg.data)
    check_compatible(model, cfg, split)
    return model, split


def preflight(cfg: Config, args: argparse.Namespace):
    """Project.preflight: what each verb needs checked; returns what the handler reuses."""
    if args.verb == "evaluate":
        return for_evaluate(cfg, args)
    if args.verb == "run":
        return for_run(cfg, args)
    if args.verb == "bench":  # one model timed: the recipe and the data, not the suite's checks
        check_recipe(cfg)
        return check_data(cfg)
    return for_train(cfg)
