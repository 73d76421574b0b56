"""The classical rungs: majority class, TF-IDF + logistic regression (Optuna-tuned), and
logistic regression on frozen mean-pooled MiniLM embeddings."""

from __future__ import annotations

import time

import numpy as np
import optuna
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from sklearn.pipeline import FeatureUnion, Pipeline

from text_classifier.config import TfidfConfig


class Majority:
    """Always the training set's most common class, with the training prior as probability."""

    def fit(self, y: np.ndarray, n_classes: int) -> Majority:
        self.prior = np.bincount(y, minlength=n_classes) / len(y)
        return self

    def predict_proba(self, texts) -> np.ndarray:
        return np.tile(self.prior, (len(texts), 1))


def _word(max_features: int) -> TfidfVectorizer:
    return TfidfVectorizer(
        ngram_range=(1, 2),
        min_df=2,
        max_features=max_features,
        sublinear_tf=True,
        strip_accents=None,
    )


def _char(max_features: int) -> TfidfVectorizer:
    # char_wb n-grams see inside words: typos and inflections still share most features.
    return TfidfVectorizer(
        analyzer="char_wb",
        ngram_range=(2, 5),
        min_df=3,
        max_features=max_features,
        sublinear_tf=True,
    )


def tfidf_pipeline(cfg: TfidfConfig, C: float, char_weight: float, seed: int) -> Pipeline:
    features = FeatureUnion(
        [("word", _word(cfg.max_features_word)), ("char", _char(cfg.max_features_char))],
        transformer_weights={"word": 1.0, "char": char_weight},
    )
    classifier = LogisticRegression(C=C, max_iter=2000, random_state=seed)
    return Pipeline([("features", features), ("classifier", classifier)])


def tune_tfidf(train_texts, y_train, val_texts, y_val, cfg: TfidfConfig, seed: int) -> dict:
    """Optuna over C and the char-block weight, scored by validation log loss.

    The vectorisers are fitted once; each trial only refits the logistic regression on the
    re-weighted blocks, so a trial costs seconds.
    """
    word, char = _word(cfg.max_features_word), _char(cfg.max_features_char)
    started = time.perf_counter()
    blocks_train = (word.fit_transform(train_texts), char.fit_transform(train_texts))
    blocks_val = (word.transform(val_texts), char.transform(val_texts))

    def objective(trial: optuna.Trial) -> float:
        C = trial.suggest_float("C", 0.1, 100.0, log=True)
        weight = trial.suggest_float("char_weight", 0.25, 2.0, log=True)
        model = LogisticRegression(C=C, max_iter=2000, random_state=seed)
        model.fit(sp.hstack([blocks_train[0], weight * blocks_train[1]]).tocsr(), y_train)
        prob = model.predict_proba(sp.hstack([blocks_val[0], weight * blocks_val[1]]).tocsr())
        return log_loss(y_val, prob, labels=list(range(prob.shape[1])))

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="minimize", sampler=optuna.samplers.TPESampler(seed=seed))
    study.optimize(objective, n_trials=cfg.n_trials)
    pipeline = tfidf_pipeline(cfg, study.best_params["C"], study.best_params["char_weight"], seed)
    pipeline.fit(train_texts, y_train)
    return {
        "pipeline": pipeline,
        "best_params": study.best_params,
        "best_val_log_loss": study.best_value,
        "trials": [{"number": t.number, **t.params, "val_log_loss": t.value} for t in study.trials],
        "train_seconds": time.perf_counter() - started,
    }


def fit_frozen_probe(emb_train, y_train, emb_val, y_val, seed: int) -> dict:
    """Logistic regression on frozen sentence embeddings; C picked on validation log loss."""
    best = None
    for C in (0.3, 1.0, 3.0, 10.0, 30.0):
        model = LogisticRegression(C=C, max_iter=3000, random_state=seed).fit(emb_train, y_train)
        loss = log_loss(y_val, model.predict_proba(emb_val), labels=model.classes_)
        if best is None or loss < best[0]:
            best = (loss, C, model)
    return {"model": best[2], "C": best[1], "val_log_loss": best[0]}
