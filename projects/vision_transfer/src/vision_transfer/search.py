"""`search`: an Optuna study over learning rates, unfrozen depth and augmentation strength.

Each trial fine-tunes the pretrained model (a fresh head) and reports validation
accuracy per epoch (the median pruner stops poor trials early). The study lives in Optuna storage
with load_if_exists, so rerunning the same command resumes it; several workers can share it.
Sized for a GPU (configs/search.yaml); tests run 2 tiny trials.
"""

from __future__ import annotations

from pathlib import Path

import optuna
from mlcraft.files import atomic_write_text
from mlcraft.search import create_study

from . import data as data_mod
from . import models
from .augment import Normalizer
from .config import Config
from .pipeline import resolve_device
from .train import fit


def run_search(cfg: Config) -> optuna.Study:
    sc = cfg.search
    device = resolve_device(cfg)
    dataset = data_mod.load(cfg.data, cfg.seed)
    split = data_mod.split(dataset, cfg.data, cfg.seed)
    k = len(dataset.classes)
    probe = models.build(cfg.model, k)
    mean, std = models.input_stats(probe)
    norm = Normalizer(mean, std, channels_last=cfg.channels_last, device=device)
    n_stages = len(models.stage_groups(probe)) - 1

    def objective(trial: optuna.Trial) -> float:
        ft = cfg.finetune.model_copy(
            update={
                "lr_head": trial.suggest_float("lr_head", *sc.lr_head, log=True),
                "lr_backbone": trial.suggest_float("lr_backbone", *sc.lr_backbone, log=True),
                "augment": trial.suggest_categorical("augment", sc.augment),
                "augment_strength": trial.suggest_float("augment_strength", *sc.augment_strength),
            }
        )
        lo, hi = sc.unfrozen_stages
        depth = trial.suggest_int("unfrozen_stages", lo, min(hi, n_stages))
        model = models.build(cfg.model, k)

        def report(epoch: int, row: dict) -> None:
            trial.report(row["val_accuracy"], epoch)
            if trial.should_prune():
                raise optuna.TrialPruned()

        result = fit(
            model, dataset.images, dataset.labels, split["train"], split["val"], ft, norm,
            cfg.seed, last_stages=None if depth >= n_stages else depth,
            autocast=cfg.bf16, on_epoch=report,
        )  # fmt: skip
        best = result.history[result.best_epoch - 1] if result.best_epoch else result.history[-1]
        trial.set_user_attr("train_seconds", result.train_seconds)
        return float(best["val_accuracy"])

    study = create_study(
        sc.study_name,
        storage=sc.storage,
        direction="maximize",
        sampler={"name": sc.sampler},
        pruner={"name": sc.pruner},
        seed=cfg.seed,
    )
    done = len([t for t in study.trials if t.state.is_finished()])
    remaining = max(sc.n_trials - done, 0)  # n_trials is the study's total: reruns resume
    print(f"study {sc.study_name}: {done} finished trial(s), running {remaining} more")
    if remaining:
        study.optimize(objective, n_trials=remaining, timeout=sc.timeout_s)
    frame = study.trials_dataframe()
    atomic_write_text(
        _out(cfg) / "search_trials.csv", frame.to_csv(index=False) if len(frame) else ""
    )
    completed = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if completed:
        print(f"best val accuracy {study.best_value:.4f} with {study.best_params}")
    return study


def _out(cfg: Config) -> Path:
    out = Path(cfg.output.results_dir)
    out.mkdir(parents=True, exist_ok=True)
    return out
