"""The ladder: majority class, then logistic regression; test accuracy with bootstrap CIs."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from mlcraft.config import config_to_dict
from mlcraft.reporting import write_table
from mlcraft.seeding import seed_everything
from mlcraft.stats import bootstrap_ci
from mlcraft.tracking import TrackedRun
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from project_template import data as data_mod
from project_template.config import Config

PROJECT = "project_template"
PROJECT_DIR = Path(__file__).resolve().parents[2]


def accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    return float(np.mean(y_true == y_pred))


def rungs(seed: int) -> dict:
    return {
        "majority": DummyClassifier(strategy="most_frequent"),
        "logistic regression": make_pipeline(
            StandardScaler(), LogisticRegression(max_iter=2000, random_state=seed)
        ),
    }


def train(cfg: Config, run, checked) -> dict:
    seed_everything(cfg.seed)
    frame, name, source = checked
    data = data_mod.split(frame, name, source, cfg.data, cfg.seed)
    with TrackedRun(PROJECT, config_to_dict(cfg), cfg.seed, run_folder=run) as tracked:
        if cfg.data.path:
            tracked.add_data_file("data", cfg.data.path, len(frame))
        rows = []
        y_test = data.y_test.to_numpy()
        for rung, model in rungs(cfg.seed).items():
            started = time.perf_counter()
            model.fit(data.X_train, data.y_train)
            seconds = time.perf_counter() - started
            pred = model.predict(data.X_test)
            point, lo, hi = bootstrap_ci(accuracy, y_test, pred, n_boot=cfg.ladder.n_boot, seed=0)
            rows.append({"rung": rung, "test_accuracy": point, "ci_low": lo, "ci_high": hi,
                         "fit_seconds": seconds})  # fmt: skip
        ladder = write_table(run.results, "ladder", pd.DataFrame(rows))
        if cfg.faults:
            from mlcraft.faults import run_drills

            from project_template.faults import FAULTS

            with tempfile.TemporaryDirectory() as scratch:
                frame = run_drills(PROJECT, PROJECT_DIR, FAULTS, Path(scratch))
            write_table(run.results, "faults", frame)
        best = ladder.iloc[ladder["test_accuracy"].idxmax()]
        headline = {
            "data": name,
            "n_train": len(data.X_train),
            "n_test": len(data.X_test),
            "test_accuracy_best": float(best["test_accuracy"]),
            "best_rung": best["rung"],
            "test_accuracy_majority": float(ladder.loc[0, "test_accuracy"]),
        }
        return tracked.write_summary(headline)
