"""Optuna search over fine-tuning hyperparameters, pruned per epoch on validation loss.

Sized for a GPU (each trial is a full fine-tune); on CPU run it with a train subsample. The study
lives in an RDB/journal storage with load_if_exists, so a killed search resumes where it stopped.
"""

from __future__ import annotations

import optuna
from mlcraft.search import create_study, finished_trials
from optuna_integration import PyTorchLightningPruningCallback

from text_classifier.config import Config
from text_classifier.data import load_dataset, stratified_subsample
from text_classifier.finetune import fit
from text_classifier.models import load_classifier, load_tokenizer, resolve_model, tokenize


def search(cfg: Config) -> optuna.Study:
    data = load_dataset(cfg.data, cfg.seed)
    source = resolve_model(cfg.model.name_or_path)
    tokenizer = load_tokenizer(source)
    max_len = cfg.model.max_length or 128
    train = stratified_subsample(data.splits["train"], cfg.finetune.train_subsample, cfg.seed)
    val = stratified_subsample(data.splits["val"], cfg.finetune.val_subsample, cfg.seed)
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
    remaining = space.n_trials - len(finished_trials(study))
    if remaining > 0:
        study.optimize(objective, n_trials=remaining, timeout=space.timeout_s)
    done = finished_trials(study)
    print(f"study '{space.study_name}': {len(done)} finished trials")
    complete = [t for t in done if t.state == optuna.trial.TrialState.COMPLETE]
    if complete:
        print(f"best val loss {study.best_value:.4f} with {study.best_params}")
    return study
