"""Pre-flight: every check a run can make before it fits anything or creates any folder.

Order: the run folder (writable, free disk), the model of `evaluate`, the carriers a run needs,
then the data: loaded and split once (the handler reuses it as args.checked), with every column
the config names (target, positive label, time column, drop, slices, monotone keys) checked
against it. Each failure is one UserInputError naming the config key and its value.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from mlcraft.errors import UserInputError
from mlcraft.inputs import existing_file
from mlcraft.runs import check_free_disk, check_writable_dir, complete_run, runs_root

from tabular_ladder.config import TrainConfig, check_adult_keys

PROJECT = "tabular_ladder"
# What a train run writes into its folder: tables and plots (~0.5 MB) and the model bundle
# (a few MB for the tuned booster), with room to spare.
EXPECTED_BYTES = 20_000_000
# A model bundle's files (tabular_ladder.bundle), listed here so checking a run folder stays cheap.
BUNDLE_FILES = ("prep.skops", "model.txt", "calibrator.skops", "meta.json")


def check_run_dir(args: argparse.Namespace) -> None:
    """The same checks open_run makes, made first so a bad --run-dir fails in a second."""
    verb = getattr(args, "verb", "train")
    need = EXPECTED_BYTES if verb == "train" else EXPECTED_BYTES // 10
    run_dir = getattr(args, "run_dir", None)
    if run_dir:
        target = Path(run_dir).absolute()
        if target.exists():
            raise UserInputError(
                f"--run-dir={target}: already exists (a run never overwrites another)"
            )
    else:
        target = runs_root(PROJECT)
    # Both look at the nearest folder that exists above the target.
    check_writable_dir(target)
    check_free_disk(target, need)


def model_run(path: str | Path, key: str = "--model") -> Path:
    """A complete run folder holding a model bundle (what `evaluate` and `predict` read)."""
    return complete_run(path, key, tuple(f"model/{name}" for name in BUNDLE_FILES))


def check_carriers(config: TrainConfig, verb: str) -> None:
    if verb == "train" and config.flights.enabled:
        from mlcraft.carriers import locate

        from tabular_ladder.flights import FLIGHTS, PLANES

        locate(FLIGHTS), locate(PLANES)


def check_analyses(config: TrainConfig, data) -> None:
    from tabular_ladder.data import check_monotone, check_slices

    columns = list(data.X_train.columns)
    check_slices(columns, config.analyses.slices)
    check_monotone(data.numeric, columns, config.analyses.monotone)


def preflight(config: TrainConfig, args: argparse.Namespace):
    """Raise UserInputError on anything wrong; return the loaded Dataset for the handler.
    The cheap checks come first: scikit-learn (for the split) loads only once they pass."""
    verb = getattr(args, "verb", "train")
    if config.data.source == "adult":
        check_adult_keys(config.data)
    elif config.data.source == "csv":
        if not config.data.path or not config.data.target:
            missing = "data.path" if not config.data.path else "data.target"
            raise UserInputError(f"{missing} is required when data.source is 'csv'")
        existing_file(config.data.path, "data.path")
    check_run_dir(args)
    if verb == "evaluate":
        model_run(args.model)
    check_carriers(config, verb)
    from tabular_ladder.data import load

    data = load(config.data)
    if verb == "train":
        check_analyses(config, data)
        from tabular_ladder.audit import audit

        data.audit = audit(config, data)  # data.audit=error stops here, before any folder
    return data
