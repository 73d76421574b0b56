"""Typed configs: an unknown key or a bad value is an error naming the key."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from mlcraft.config import StrictModel, config_to_dict, load_config
from pydantic import Field

Precision = Literal["fp32", "bf16"]


class DataConfig(StrictModel):
    name: Literal["elpv", "fashion_mnist", "digits", "npz"] = "elpv"
    size: int = Field(64, ge=8, le=300)  # ELPV only: images are downscaled to size x size
    test_fraction: float = Field(0.25, gt=0, lt=1)
    split_seed: int = 0  # fixed across training seeds: seeds vary the training, not the split
    max_train: int | None = Field(None, ge=2)  # subsample the training set (tests, quick looks)
    fashion_mnist_dir: str = "/usr/share/datasets/fashion-mnist"
    download: bool = False  # Fashion-MNIST via torchvision when the Debian files are absent
    # Your own images (data.name: npz): an .npz holding uint8 images (n, h, w) under x_key and
    # one label per image under y_key; group_key optionally names a slice label per image.
    path: str | None = None
    x_key: str = "x"
    y_key: str = "y"
    group_key: str | None = None


class ModelConfig(StrictModel):
    widths: list[int] = Field(default_factory=lambda: [16, 32, 64], min_length=1)
    stem_stride: int = Field(2, ge=1, le=4)
    dropout: float = Field(0.1, ge=0, lt=1)
    grad_checkpointing: bool = False


class TrainConfig(StrictModel):
    epochs: int = Field(20, ge=1)
    batch_size: int = Field(64, ge=2)  # the GLOBAL (effective) batch, split across devices
    base_lr: float = Field(0.1, gt=0)  # learning rate at base_batch_size
    base_batch_size: int = Field(64, ge=1)
    lr_scaling: Literal["linear", "sqrt", "none"] = "linear"
    momentum: float = Field(0.9, ge=0, lt=1)
    weight_decay: float = Field(5e-4, ge=0)
    warmup_fraction: float = Field(0.1, ge=0, lt=1)
    precision: Precision = "fp32"
    grad_scaler: bool = False  # only fp16 needs it; on here it is checkpointed like everything
    augment: bool = True
    checkpoint_every_steps: int = Field(20, ge=1)  # mid-epoch checkpoints, so a kill loses little
    threads: int | None = Field(None, ge=1)  # torch.set_num_threads; None keeps torch's default
    deterministic: bool = True
    devices: int = Field(1, ge=1)
    strategy: Literal["auto", "ddp", "ddp_spawn"] = "ddp_spawn"
    accelerator: Literal["cpu", "gpu", "auto"] = "cpu"
    num_nodes: int = Field(1, ge=1)
    step_sleep_s: float = Field(0.0, ge=0)  # test hook: slow steps so a kill lands mid-epoch


class NumpyMLPConfig(StrictModel):
    hidden: int = Field(64, ge=1)
    epochs: int = Field(30, ge=1)
    lr: float = Field(0.05, gt=0)
    momentum: float = Field(0.9, ge=0, lt=1)
    batch_size: int = Field(32, ge=1)
    weight_decay: float = Field(1e-4, ge=0)


class ChecksConfig(StrictModel):
    """Which measurements `train` runs around the main seeds (the reference run turns all on)."""

    numpy_mlp: bool = True
    digits_cnn: bool = True  # the CNN on digits too, beside the NumPy MLP in the ladder
    determinism: bool = True  # the same seed twice -> identical weights?
    # Default vs deterministic kernels, each run twice in fresh processes: identical? how slow?
    determinism_modes: bool = False
    threads: bool = True  # 1 vs 2 torch threads: what changes
    resume: bool = True  # a SIGKILLed subprocess resumed vs an uninterrupted run
    ddp: bool = True  # devices=2 (gloo) vs single process
    hardware: bool = True  # fp32/bf16 x grad checkpointing throughput and memory table
    profile: bool = True  # torch.profiler trace + data-wait vs compute split
    smoke: bool = True  # the smoke config end to end in a fresh process (its wall time)
    check_epochs: int = Field(2, ge=1)  # epochs of the determinism/resume/thread runs


class Config(StrictModel):
    seeds: list[int] = Field(default_factory=lambda: [0, 1, 2], min_length=1)
    data: DataConfig = Field(default_factory=DataConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    numpy_mlp: NumpyMLPConfig = Field(default_factory=NumpyMLPConfig)
    checks: ChecksConfig = Field(default_factory=ChecksConfig)
    tracking: bool = True  # log single `run`s to MLflow (a train run is always tracked)
    faults: bool = False  # run the fault drills at the end of a train (the reference run does)


def load(path: str | Path, overrides: list[str] | None = None) -> Config:
    return load_config(path, Config, overrides)


def to_dict(config: Config) -> dict:
    return config_to_dict(config)
