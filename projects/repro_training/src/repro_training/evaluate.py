"""Evaluate or predict with a finished model: rebuild it from its config, load weights_only.

`--model` names either a complete train run (its `model/` folder holds the first seed's weights)
or a finished single run (`python -m repro_training run --run-dir D`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import yaml
from mlcraft.errors import UserInputError
from mlcraft.runs import PARTIAL, is_complete, read_run_info
from mlcraft.seeding import tensor_digest
from mlcraft.trusted import verify_manifest

from repro_training.config import Config

MODEL_FILES = ("config.yaml", "manifest.json", "weights.pt")
# Pinned by sha256 in manifest.json when a run finishes (mlcraft.trusted), checked before loading.
PINNED_FILES = ("config.yaml", "weights.pt", "metrics.json")


@dataclass
class Model:
    folder: Path  # the folder holding config.yaml, manifest.json and weights.pt
    config: Config
    manifest: dict

    @property
    def classes(self) -> list[str]:
        return list(self.manifest["input"]["classes"])

    @property
    def image_shape(self) -> tuple[int, int]:
        return tuple(self.manifest["input"]["image_shape"])

    @property
    def mean_std(self) -> tuple[float, float]:
        return tuple(self.manifest["input"]["mean_std"])


def resolve_model(path: str | Path, key: str = "--model") -> Model:
    """The model behind --model, checked before anything is loaded or written."""
    path = Path(path)
    if not path.exists():
        raise UserInputError(f"{key}={path}: no such folder")
    if not path.is_dir():
        raise UserInputError(f"{key}={path}: not a folder (give a run folder)")
    if path.name.endswith(PARTIAL):
        raise UserInputError(f"{key}={path}: not a complete run (an unfinished .partial folder)")
    folder = path
    if (path / "run.json").is_file():  # a train run folder (mlcraft.runs)
        info = read_run_info(path)
        if not is_complete(path):
            raise UserInputError(
                f"{key}={path}: not a complete run (status {info.get('status')!r})"
            )
        folder = path / "model"
        if not (folder / "weights.pt").is_file():
            raise UserInputError(f"{key}={path}: not a complete run with a model (no model/)")
    elif not (path / "manifest.json").is_file():
        raise UserInputError(
            f"{key}={path}: not a complete run folder (no run.json or manifest.json)"
        )
    missing = [name for name in MODEL_FILES if not (folder / name).is_file()]
    if missing:
        raise UserInputError(f"{key}={path}: not a complete run (missing {', '.join(missing)})")
    try:
        manifest = json.loads((folder / "manifest.json").read_text())
    except ValueError as exc:
        raise UserInputError(f"{key}={path}: unreadable manifest.json ({exc})") from None
    if manifest.get("status") != "finished" or "input" not in manifest:
        raise UserInputError(
            f"{key}={path}: not a complete run (status {manifest.get('status')!r}; "
            "resume it with `run --resume`)"
        )
    _check_file_hashes(folder, manifest, key, path)
    try:
        config = Config.model_validate(yaml.safe_load((folder / "config.yaml").read_text()))
    except (ValueError, yaml.YAMLError) as exc:
        raise UserInputError(f"{key}={path}: unreadable config.yaml ({exc})") from None
    return Model(folder, config, manifest)


def _check_file_hashes(folder: Path, manifest: dict, key: str, path: Path) -> None:
    """Every model file has the sha256 the manifest recorded when the run finished, checked
    before anything is parsed or loaded: a swapped or edited file is refused by name."""
    pinned = set(manifest.get("sha256") or {})
    unpinned = [name for name in PINNED_FILES if name not in pinned]
    if unpinned:
        raise UserInputError(
            f"{key}={path}: manifest.json pins no sha256 for {', '.join(unpinned)} (a run from "
            "before model files were pinned); retrain it"
        )
    verify_manifest(folder)


def load_net(model: Model):
    from repro_training import checkpoint as ckpt
    from repro_training.train import build_model

    net = build_model(model.config, len(model.classes))
    net.load_state_dict(ckpt.load(model.folder / "weights.pt"))
    net.eval()
    return net


def check_compatible(model: Model, cfg: Config, split, key: str = "--model") -> None:
    """The configured data has the model's classes and image shape."""
    if list(split.classes) != model.classes:
        raise UserInputError(
            f"{key}={model.folder}: trained on classes {model.classes}, but data.name="
            f"{cfg.data.name} has {list(split.classes)}"
        )
    if tuple(split.x_test.shape[1:]) != model.image_shape:
        raise UserInputError(
            f"{key}={model.folder}: trained on {model.image_shape} images, but data.name="
            f"{cfg.data.name} has {tuple(split.x_test.shape[1:])}"
        )


def evaluate(cfg: Config, run, model: Model, split) -> dict:
    """Test accuracy of the model on the configured test split, into the run's results/."""
    import pandas as pd
    from mlcraft.config import config_to_dict
    from mlcraft.reporting import write_table
    from mlcraft.tracking import TrackedRun

    from repro_training.train import PROJECT, predict_images

    net = load_net(model)
    with TrackedRun(PROJECT, config_to_dict(cfg), model.manifest["seed"], run_folder=run) as tr:
        for name, info in split.files.items():
            tr.data_files[name] = info
        probs = predict_images(net, split.x_test, model.mean_std, model.config.train.precision)
        pred = probs.argmax(1)
        row = {
            "model": str(model.folder),
            "data": cfg.data.name,
            "n_test": len(split.y_test),
            "test_accuracy": float((pred == split.y_test).mean()),
            "weights_sha256": tensor_digest(net.state_dict()),
        }
        write_table(run.results, "evaluation", pd.DataFrame([row]))
        tr.write_summary(
            {"test_accuracy": row["test_accuracy"], "n_test": row["n_test"]},
            {"model": row["model"], "weights_sha256": row["weights_sha256"]},
        )
    print(json.dumps(row, indent=2))
    return row
