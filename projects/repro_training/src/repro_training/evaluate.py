"""Evaluate or predict with a finished run: rebuild the model from its config, load weights_only."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import yaml
from mlcraft.errors import UserInputError
from mlcraft.files import atomic_write_text

from repro_training import checkpoint as ckpt
from repro_training import data as data_mod
from repro_training.config import Config
from repro_training.train import build_model, predict_proba


def load_run(run_dir: str | Path):
    run_dir = Path(run_dir)
    config_path = run_dir / "config.yaml"
    if not config_path.is_file():
        raise UserInputError(f"{run_dir} is not a run folder (no config.yaml)")
    cfg = Config.model_validate(yaml.safe_load(config_path.read_text()))
    split = data_mod.load(cfg.data)
    net = build_model(cfg, len(split.classes))
    net.load_state_dict(ckpt.load(run_dir / "weights.pt"))
    net.eval()
    return cfg, split, net


def evaluate_run(run_dir: str | Path) -> dict:
    cfg, split, net = load_run(run_dir)
    probs = predict_proba(net, split, cfg.train.precision)
    accuracy = float((probs.argmax(1) == split.y_test).mean())
    return {"run_dir": str(run_dir), "test_accuracy": accuracy, "n_test": len(split.y_test),
            "weights_sha256": ckpt.tensor_digest(net.state_dict())}  # fmt: skip


def predict_file(run_dir: str | Path, input_path: str | Path, output_path: str | Path) -> None:
    import torch

    cfg, split, net = load_run(run_dir)
    input_path = Path(input_path)
    if not input_path.is_file():
        raise UserInputError(f"input file not found: {input_path}")
    try:
        x = np.load(input_path, allow_pickle=False)
    except ValueError as exc:
        raise UserInputError(f"{input_path} is not a .npy array: {exc}") from None
    expected = split.x_train.shape[1:]
    if x.dtype != np.uint8 or x.ndim != 3 or x.shape[1:] != expected:
        raise UserInputError(
            f"{input_path}: expected uint8 images of shape (n, {expected[0]}, {expected[1]}), "
            f"got {x.dtype} {x.shape}"
        )
    mean, std = split.mean_std
    with torch.no_grad():
        probs = torch.softmax(net(data_mod.to_tensor(x, mean, std)), dim=1).numpy()
    header = ",".join(f"p_{c}" for c in split.classes)
    lines = [header] + [",".join(f"{v:.6f}" for v in row) for row in probs]
    atomic_write_text(output_path, "\n".join(lines) + "\n")
