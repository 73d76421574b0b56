"""Studies of the boosted model: importance caveats, monotone constraints, missing values,
and the depth x learning-rate interaction. All use training data only (CV or the held-out
calibration rows) except the reported test AUC of the monotone variant."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.inspection import partial_dependence, permutation_importance
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OrdinalEncoder

from tabular_ladder.evaluate import cross_validate, positive_proba
from tabular_ladder.models import lightgbm_pipeline


def importance_table(model: Pipeline, X_hold: pd.DataFrame, y_hold: np.ndarray, seed: int):
    """Gain (training-time split gains), permutation (held-out AUC drop), mean |SHAP|."""
    prep, lgbm = model.named_steps["prep"], model.named_steps["model"]
    names = list(prep.get_feature_names_out())
    names = [n.split("__", 1)[-1] for n in names]
    gain = lgbm.booster_.feature_importance("gain")
    perm = permutation_importance(
        model, X_hold, y_hold, scoring="roc_auc", n_repeats=5, random_state=seed, n_jobs=1
    )
    perm_by_name = dict(zip(X_hold.columns, perm.importances_mean, strict=True))
    contrib = lgbm.booster_.predict(prep.transform(X_hold), pred_contrib=True)[:, :-1]
    frame = pd.DataFrame(
        {
            "feature": names,
            "gain_share": gain / gain.sum(),
            "permutation_auc_drop": [perm_by_name[n] for n in names],
            "mean_abs_shap": np.abs(contrib).mean(axis=0),
        }
    )
    for column, short in [("gain_share", "gain"), ("permutation_auc_drop", "permutation"),
                          ("mean_abs_shap", "shap")]:  # fmt: skip
        frame[f"rank_{short}"] = frame[column].rank(ascending=False).astype(int)
    return frame.sort_values("mean_abs_shap", ascending=False).reset_index(drop=True)


def plot_importance(frame: pd.DataFrame, path: Path) -> None:
    from mlcraft.plots import plt, save_figure

    columns = [("gain_share", "gain share"), ("permutation_auc_drop", "permutation (AUC drop)"),
               ("mean_abs_shap", "mean |SHAP| (log-odds)")]  # fmt: skip
    fig, axes = plt.subplots(1, 3, figsize=(11, 4), sharey=True)
    order = frame.sort_values("mean_abs_shap")
    for ax, (column, title) in zip(axes, columns, strict=True):
        ax.barh(order["feature"], order[column])
        ax.set_title(title, fontsize=9)
    save_figure(fig, path)


def monotone_study(
    X, y, X_test, y_test, numeric, categorical, params, monotone, folds, seed, n_jobs, plot_path
) -> pd.DataFrame:
    """CV AUC, test AUC and partial dependence with and without monotone constraints."""
    rows, curves = [], {}
    grid_X = X.sample(min(len(X), 1000), random_state=seed)
    grid_X = grid_X.astype({feature: float for feature in monotone})  # PDP refuses integer columns
    for label, constraint in [("unconstrained", None), ("monotone", monotone)]:
        pipe = lightgbm_pipeline(numeric, categorical, params, seed, n_jobs, constraint)
        cv = cross_validate(pipe, X, y, folds, seed)
        fitted = pipe.fit(X, y)
        test_auc = roc_auc_score(y_test, positive_proba(fitted, X_test))
        rows.append({"model": label, "cv_roc_auc_mean": cv["cv_roc_auc_mean"],
                     "cv_roc_auc_std": cv["cv_roc_auc_std"], "test_roc_auc": test_auc})  # fmt: skip
        for feature in monotone:
            pd_result = partial_dependence(
                fitted, grid_X, [feature], grid_resolution=25, kind="average"
            )
            curves[(label, feature)] = (pd_result["grid_values"][0], pd_result["average"][0])
    _plot_pdp(curves, list(monotone), plot_path)
    return pd.DataFrame(rows)


def _plot_pdp(curves, features, path) -> None:
    from mlcraft.plots import plt, save_figure

    fig, axes = plt.subplots(1, len(features), figsize=(3.6 * len(features), 3.2), squeeze=False)
    for ax, feature in zip(axes[0], features, strict=True):
        for label in ("unconstrained", "monotone"):
            grid, values = curves[(label, feature)]
            ax.plot(grid, values, label=label)
        ax.set_xlabel(feature)
        ax.set_ylabel("partial dependence P(>50K)")
    axes[0][0].legend(fontsize=8)
    save_figure(fig, path)


def missing_values_study(X, y, numeric, categorical, params, folds, seed, n_jobs) -> pd.DataFrame:
    """LightGBM's native NaN handling vs most-frequent imputation vs 'missing' as a category."""
    rows = []
    missing_share = float(X[categorical + numeric].isna().any(axis=1).mean())
    for label, fill in [
        ("native (NaN to LightGBM)", None),
        ("impute most frequent", "most_frequent"),
        ("indicator ('missing' category)", "constant"),
    ]:
        pipe = lightgbm_pipeline(numeric, categorical, params, seed, n_jobs)
        if fill is not None:
            imputer = SimpleImputer(strategy=fill, fill_value="missing")
            encoder = OrdinalEncoder(
                handle_unknown="use_encoded_value", unknown_value=np.nan,
                encoded_missing_value=np.nan,
            )  # fmt: skip
            cats = Pipeline([("impute", imputer), ("encode", encoder)])
            numbers = SimpleImputer(strategy="median") if numeric else "drop"
            pipe.steps[0] = (
                "prep",
                ColumnTransformer([("cat", cats, categorical), ("num", numbers, numeric)]),
            )
        cv = cross_validate(pipe, X, y, folds, seed)
        rows.append({"handling": label, "cv_roc_auc_mean": cv["cv_roc_auc_mean"],
                     "cv_roc_auc_std": cv["cv_roc_auc_std"], "cv_log_loss_mean":
                     cv["cv_log_loss_mean"], "rows_with_missing": missing_share})  # fmt: skip
    return pd.DataFrame(rows)


def depth_lr_grid(X, y, numeric, categorical, depths, rates, folds, seed, n_jobs, rounds=200):
    rows = []
    for depth in depths:
        for rate in rates:
            params = {"max_depth": depth, "num_leaves": min(2**depth, 255),
                      "learning_rate": rate, "n_estimators": rounds}  # fmt: skip
            pipe = lightgbm_pipeline(numeric, categorical, params, seed, n_jobs)
            cv = cross_validate(pipe, X, y, folds, seed)
            rows.append({"max_depth": depth, "learning_rate": rate,
                         "cv_roc_auc_mean": cv["cv_roc_auc_mean"]})  # fmt: skip
    return pd.DataFrame(rows)


def plot_heatmap(frame: pd.DataFrame, path: Path, rounds: int) -> None:
    from mlcraft.plots import plt, save_figure

    table = frame.pivot(index="max_depth", columns="learning_rate", values="cv_roc_auc_mean")
    fig, ax = plt.subplots(figsize=(5, 3.8))
    image = ax.imshow(table.values, cmap="viridis", origin="lower", aspect="auto")
    ax.set_xticks(range(table.shape[1]), [f"{v:g}" for v in table.columns])
    ax.set_yticks(range(table.shape[0]), [str(v) for v in table.index])
    for i in range(table.shape[0]):
        for j in range(table.shape[1]):
            ax.text(j, i, f"{table.values[i, j]:.4f}", ha="center", va="center", fontsize=7,
                    color="white" if table.values[i, j] < table.values.mean() else "black")  # fmt: skip
    ax.set_xlabel("learning rate")
    ax.set_ylabel("max depth")
    ax.set_title(f"CV ROC AUC, {rounds} rounds")
    fig.colorbar(image, ax=ax)
    save_figure(fig, path)
