"""Typed configuration: an unknown key or a bad value is an error naming the key."""

from __future__ import annotations

from mlcraft.config import StrictModel, load_config
from pydantic import Field


class DataConfig(StrictModel):
    path: str | None = None  # None: scikit-learn's bundled breast cancer set
    target: str = "target"  # a column with two or more classes
    test_fraction: float = Field(0.25, gt=0, lt=1)


class LadderConfig(StrictModel):
    n_boot: int = Field(1000, gt=10)  # bootstrap resamples for the confidence intervals


class Config(StrictModel):
    seed: int = 0
    data: DataConfig = DataConfig()
    ladder: LadderConfig = LadderConfig()
    faults: bool = False  # run the fault drills and write results/faults.csv (reference run)


def load(path, overrides=None) -> Config:
    return load_config(path, Config, overrides)
