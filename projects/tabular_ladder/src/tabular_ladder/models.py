"""The ladder's rungs, each a scikit-learn Pipeline whose first step is a ColumnTransformer.

Rungs take the raw feature frame (numeric columns + categorical strings with NaN), so a saved
pipeline scores a CSV as it comes.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
from lightgbm import LGBMClassifier
from sklearn.compose import ColumnTransformer
from sklearn.dummy import DummyClassifier
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler
from sklearn.tree import DecisionTreeClassifier

from tabular_ladder.config import LadderConfig

# LightGBM reads `categorical_feature` from the estimator's params (so it lives in the pipeline,
# not in every fit call) and warns that the Dataset argument is preferred; the model is the same.
warnings.filterwarnings("ignore", message="categorical_feature keyword has been found")
warnings.filterwarnings("ignore", message="X does not have valid feature names")


def one_hot(numeric: list[str], categorical: list[str], scale: bool = True) -> ColumnTransformer:
    """Median-impute (+ scale) numbers; one-hot categories, rare and unseen ones pooled."""
    steps = [("impute", SimpleImputer(strategy="median"))]
    if scale:
        steps.append(("scale", StandardScaler()))
    encoder = OneHotEncoder(
        handle_unknown="infrequent_if_exist", min_frequency=20, sparse_output=False
    )
    categories = Pipeline(
        [("impute", SimpleImputer(strategy="constant", fill_value="missing")), ("onehot", encoder)]
    )
    return ColumnTransformer([("num", Pipeline(steps), numeric), ("cat", categories, categorical)])


# HistGradientBoosting takes at most 255 levels per categorical feature (its bins); past that a
# column keeps its most frequent levels and pools the rest as one "infrequent" level. The audit
# reports each column this touches. Adult's widest column has 41 levels, so its codes are unchanged.
MAX_CATEGORIES = 250


def ordinal(
    numeric: list[str], categorical: list[str], missing: float = np.nan
) -> ColumnTransformer:
    """Categories as integer codes first, numbers after; unseen/missing -> `missing`.

    Trees split on the codes; HistGradientBoosting and LightGBM treat the first
    len(categorical) columns as categorical, NaN as missing.
    """
    encoder = OrdinalEncoder(
        handle_unknown="use_encoded_value", unknown_value=missing, encoded_missing_value=missing,
        max_categories=MAX_CATEGORIES,
    )  # fmt: skip
    numbers: Any = "passthrough" if np.isnan(missing) else SimpleImputer(strategy="median")
    return ColumnTransformer([("cat", encoder, categorical), ("num", numbers, numeric)])


def transformed_names(numeric: list[str], categorical: list[str]) -> list[str]:
    """Column order after `ordinal`: categorical first."""
    return [*categorical, *numeric]


def lightgbm_pipeline(
    numeric: list[str],
    categorical: list[str],
    params: dict[str, Any] | None = None,
    seed: int = 0,
    n_jobs: int = 2,
    monotone: dict[str, int] | None = None,
) -> Pipeline:
    params = dict(params or {})
    if monotone:
        names = transformed_names(numeric, categorical)
        params["monotone_constraints"] = [monotone.get(name, 0) for name in names]
        params["monotone_constraints_method"] = "advanced"
    model = LGBMClassifier(
        categorical_feature=list(range(len(categorical))),
        random_state=seed,
        n_jobs=n_jobs,
        verbose=-1,
        deterministic=True,
        force_row_wise=True,
        **params,
    )
    return Pipeline([("prep", ordinal(numeric, categorical)), ("model", model)])


@dataclass
class Rung:
    name: str
    pipeline: Pipeline
    max_fit_rows: int | None = None  # k-NN is fitted on a subsample: its cost grows with rows
    note: str = ""


def build_rung(
    name: str,
    numeric: list[str],
    categorical: list[str],
    config: LadderConfig,
    seed: int,
    n_jobs: int,
    lgbm_params: dict[str, Any] | None = None,
) -> Rung:
    if name == "prior":
        return Rung(
            name, Pipeline([("model", DummyClassifier(strategy="prior"))]), note="base rate"
        )
    if name == "rule":
        # The best single split on one feature: a rule a person can state in one line.
        tree = DecisionTreeClassifier(max_depth=1, random_state=seed)
        prep = one_hot(numeric, categorical, scale=False)
        return Rung(name, Pipeline([("prep", prep), ("model", tree)]), note="decision stump")
    if name == "logreg":
        model = LogisticRegression(C=1.0, max_iter=2000)
        return Rung(name, Pipeline([("prep", one_hot(numeric, categorical)), ("model", model)]))
    if name == "knn":
        model = KNeighborsClassifier(n_neighbors=config.knn_neighbors, n_jobs=n_jobs)
        return Rung(
            name,
            Pipeline([("prep", one_hot(numeric, categorical)), ("model", model)]),
            max_fit_rows=config.knn_subsample,
            note=f"fit on {config.knn_subsample:,} rows",
        )
    if name == "random_forest":
        model = RandomForestClassifier(
            n_estimators=config.rf_trees,
            min_samples_leaf=3,
            max_features="sqrt",
            n_jobs=n_jobs,
            random_state=seed,
        )
        prep = ordinal(numeric, categorical, missing=-1)
        return Rung(name, Pipeline([("prep", prep), ("model", model)]))
    if name == "hist_gbm":
        mask = [True] * len(categorical) + [False] * len(numeric)
        model = HistGradientBoostingClassifier(
            categorical_features=mask, max_iter=300, learning_rate=0.1, random_state=seed
        )
        return Rung(name, Pipeline([("prep", ordinal(numeric, categorical)), ("model", model)]))
    if name == "lightgbm_tuned":
        pipe = lightgbm_pipeline(numeric, categorical, lgbm_params, seed, n_jobs)
        return Rung(name, pipe, note="Optuna TPE, nested CV")
    raise ValueError(f"unknown rung {name!r}")


def describe_rule(pipeline: Pipeline) -> str:
    """The fitted stump as one line, e.g. `relationship_Husband > 0.5`."""
    tree = pipeline.named_steps["model"].tree_
    names = pipeline.named_steps["prep"].get_feature_names_out()
    feature, threshold = names[tree.feature[0]].split("__", 1)[-1], tree.threshold[0]
    right = tree.value[tree.children_right[0]][0]
    left = tree.value[tree.children_left[0]][0]
    rate_r, rate_l = right[1] / right.sum(), left[1] / left.sum()
    return f"{feature} > {threshold:g} -> P(positive) = {rate_r:.2f}, otherwise {rate_l:.2f}"
