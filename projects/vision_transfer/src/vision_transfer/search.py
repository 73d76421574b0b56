"""`search`: an Optuna study over learning rates, unfrozen depth and augmentation strength.

Each trial fine-tunes the pretrained model (a fresh head) and reports validation accuracy per
epoch (the median pruner stops poor trials early). The study lives in Optuna storage with
load_if_exists, and mlcraft.search.run_study counts the finished trials of every worker: rerunning
the same command resumes the study (a killed worker's trial is failed and retried), and several
workers can share it. Each search run writes the study's trial table into its own run folder
(results/search_trials.csv, rewritten after every trial, and search_best.json at the end).
Sized for a GPU (configs/search.yaml); configs/smoke.yaml runs 2 tiny trials.
"""

from __future__ import annotations

import optuna
from mlcraft.files import atomic_write_json
from mlcraft.reporting import write_table
from mlcraft.runs import Run
from mlcraft.search import create_study, run_study

from . import data as data_mod
from . import models
from .analyses import decide_accel
from .augment import Normalizer
from .config import Config
from .pipeline import resolve_device
from .preflight import Checked
from .train import fit


def run_search(cfg: Config, run: Run, checked: Checked | None = None) -> optuna.Study:
    sc = cfg.search
    device = resolve_device(cfg)
    if checked is None:
        dataset = data_mod.load(cfg.data, cfg.seed)
        split = data_mod.split(dataset, cfg.data, cfg.seed)
    else:
        dataset, split = checked.dataset, checked.split
    k = len(dataset.classes)
    probe = models.build(cfg.model, k)
    mean, std = models.input_stats(probe)
    cfg, _ = decide_accel(cfg, lambda: models.build(cfg.model, k, pretrained=False),
                          dataset.images[split["train"]], {"mean": mean, "std": std}, device)  # fmt: skip
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
    done = sum(t.state.is_finished() for t in study.trials)
    print(f"study {sc.study_name}: {done} finished trial(s) of {sc.n_trials}")

    def write_trials(study: optuna.Study, _trial=None) -> None:
        frame = study.trials_dataframe()
        if len(frame):
            write_table(run.results, "search_trials", frame, digits=4)

    mine = run_study(study, objective, sc.n_trials, timeout=sc.timeout_s, callbacks=[write_trials])
    write_trials(study)
    completed = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    best = {
        "study_name": sc.study_name,
        "n_trials_budget": sc.n_trials,
        "trials_run_here": mine,
        "trials_complete": len(completed),
    }
    if completed:
        best.update(best_value=study.best_value, best_params=study.best_params)
        print(f"best val accuracy {study.best_value:.4f} with {study.best_params}")
    atomic_write_json(run.results / "search_best.json", best)
    return study
