"""Optuna search over fine-tuning hyperparameters, pruned per epoch on validation loss.

Sized for a GPU (each trial is a full fine-tune); on CPU run it with a train subsample. The study
lives in an RDB/journal storage (mlcraft.search, load_if_exists) and runs through
mlcraft.search.run_study, so a killed search resumes where it stopped (the dead worker's trial is
failed and retried), several workers can share one study, and the budget counts every worker's
finished trials. The trial table is rewritten in the run folder after every trial.
"""

from __future__ import annotations

import optuna
import pandas as pd
from mlcraft.files import atomic_write_json
from mlcraft.reporting import write_table
from mlcraft.runs import Run
from mlcraft.search import create_study, finished_trials, run_study
from optuna_integration import PyTorchLightningPruningCallback

from text_classifier.config import Config
from text_classifier.data import Dataset, stratified_subsample
from text_classifier.finetune import fit
from text_classifier.models import (
    load_classifier,
    load_tokenizer,
    resolve_model,
    tokenize,
    use_threads,
)


def trial_table(study: optuna.Study) -> pd.DataFrame:
    rows = []
    for t in study.get_trials(deepcopy=False):
        rows.append(
            {
                "number": t.number,
                "state": t.state.name,
                "val_loss": t.value,
                **{f"param_{k}": v for k, v in t.params.items()},
                "train_seconds": t.user_attrs.get("train_seconds"),
                "retry_of": t.user_attrs.get("retry_of"),
            }
        )
    table = pd.DataFrame(rows)
    if len(table):
        table["retry_of"] = table["retry_of"].astype("Int64")
    return table


def search(cfg: Config, run: Run, data: Dataset) -> optuna.Study:
    use_threads(cfg.torch_threads)
    source = resolve_model(cfg.model.name_or_path)
    tokenizer = load_tokenizer(source)
    max_len = cfg.model.max_length or 128
    train = stratified_subsample(
        data.splits["train"], cfg.finetune.train_subsample, cfg.seed, "finetune.train_subsample"
    )
    val = stratified_subsample(
        data.splits["val"], cfg.finetune.val_subsample, cfg.seed, "finetune.val_subsample"
    )
    train_ids = tokenize(tokenizer, train["text"].tolist(), max_len)
    val_ids = tokenize(tokenizer, val["text"].tolist(), max_len)
    space = cfg.search

    def objective(trial: optuna.Trial) -> float:
        params = {
            "lr": trial.suggest_float("lr", *space.lr, log=True),
            "warmup_fraction": trial.suggest_float("warmup_fraction", *space.warmup_fraction),
            "weight_decay": trial.suggest_float("weight_decay", *space.weight_decay),
            "epochs": trial.suggest_int("epochs", *space.epochs),
        }
        ft_cfg = cfg.finetune.model_copy(update=params)
        model = load_classifier(source, data.n_classes)
        pruning = PyTorchLightningPruningCallback(trial, monitor="val_loss")
        info = fit(
            model, train_ids, train["label"].to_numpy(), val_ids, val["label"].to_numpy(),
            tokenizer.pad_token_id, ft_cfg, cfg.seed, extra_callbacks=[pruning],
        )  # fmt: skip
        pruning.check_pruned()
        trial.set_user_attr("train_seconds", info["train_seconds"])
        return info["best_val_loss"]

    study = create_study(
        space.study_name,
        storage=space.storage,
        direction="minimize",
        sampler={"name": space.sampler},
        pruner={"name": "median", "n_startup_trials": 2, "n_warmup_steps": 0},
        seed=cfg.seed,
    )

    def write_trials(study: optuna.Study, _trial=None) -> None:
        table = trial_table(study)
        if len(table):
            write_table(run.results, "trials", table, digits=6)

    mine = run_study(study, objective, space.n_trials, timeout=space.timeout_s,
                     callbacks=[write_trials])  # fmt: skip
    write_trials(study)
    done = finished_trials(study)
    complete = [t for t in done if t.state == optuna.trial.TrialState.COMPLETE]
    best = min(complete, key=lambda t: t.value) if complete else None
    atomic_write_json(
        run.results / "search.json",
        {
            "study_name": space.study_name,
            "n_trials_budget": space.n_trials,
            "finished_trials": len(done),
            "trials_run_by_this_worker": mine,
            "best_val_loss": best.value if best else None,
            "best_params": best.params if best else None,
            "best_trial": best.number if best else None,
        },
    )
    print(f"study '{space.study_name}': {len(done)} finished trials ({mine} run here)")
    if best:
        print(f"best val loss {best.value:.4f} with {best.params}")
    return study
