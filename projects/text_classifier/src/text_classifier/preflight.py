"""Pre-flight: every check a user's config, data, model or paths can fail, before any folder is
made and before anything is fitted. Each failure is one UserInputError naming the key and value.

In order: evaluate's --model (a complete train run with a saved model), the output folder
(writable, room for the run), the data (data.path a readable UTF-8 CSV/JSONL with
data.text_column and data.label_column, two or more classes with 3+ rows each; or the carrier
data installed and sha256-checked), the model (model.name_or_path: the carrier installed, a local
folder with config.json, or a Hub id that loads), for train the data audit (data.audit: error
stops on a finding), and for evaluate the test labels.
Returns what the handler reuses (args.checked): the loaded and split Dataset (and for evaluate the
model run's meta), so the data is read once.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from mlcraft.errors import UserInputError

from text_classifier.config import Config

PROJECT = "text_classifier"
TRAIN_BYTES = 200_000_000  # a train run: the fine-tuned MiniLM (~90 MB), TF-IDF, tables, plots


def expected_bytes(verb: str) -> int:
    return TRAIN_BYTES if verb == "train" else TRAIN_BYTES // 10  # what mlcraft.cli checks too


def check_output(args: argparse.Namespace) -> None:
    """The run folder can be made, on a writable disk with room for the run (mlcraft.runs.open_run
    checks again with the same numbers when it makes the folder): a second, not minutes, to learn
    that --run-dir is under a file or on a full or read-only disk."""
    from mlcraft.runs import check_free_disk, check_writable_dir, runs_root

    target = Path(args.run_dir).absolute() if args.run_dir else runs_root(PROJECT) / "run"
    check_writable_dir(target)  # the nearest folder that exists on the way to it
    check_free_disk(target, expected_bytes(args.verb))


def preflight(cfg: Config, args: argparse.Namespace):
    from text_classifier.data import load_dataset
    from text_classifier.sources import resolve_model

    meta = check_evaluate_model(args.model) if args.verb == "evaluate" else None
    check_output(args)
    data = load_dataset(cfg.data, cfg.seed)
    if args.verb == "train":
        from text_classifier.audit import audit

        data.audit = audit(cfg.data.audit, data.splits, data.classes)  # error mode stops here
    source = resolve_model(cfg.model.name_or_path)
    print(f"pre-flight ok: {len(data.frame):,} rows, classes {data.classes}; model {source}")
    if meta is None:
        return data
    check_labels(args.model, meta, data)
    return data, meta


def check_evaluate_model(run_dir: str) -> dict:
    from text_classifier import artifacts
    from text_classifier.predict import SERVED_RUNGS

    meta = artifacts.load_meta(run_dir)
    saved = [rung for rung in SERVED_RUNGS if rung in meta.get("files", {})]
    if not saved:
        raise UserInputError(f"--model={run_dir}: the run saved no {' or '.join(SERVED_RUNGS)}")
    return meta


def check_labels(run_dir: str, meta: dict, data) -> None:
    unknown = sorted(set(data.splits["test"]["label_raw"].astype(str)) - set(meta["classes"]))
    if unknown:
        raise UserInputError(
            f"--model={run_dir}: the test data has label(s) {unknown[:5]} the model never saw "
            f"(it knows {meta['classes']})"
        )
