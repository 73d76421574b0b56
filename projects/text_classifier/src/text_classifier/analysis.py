"""Calibration, confident errors, label/rating contradictions and slices."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
from mlcraft.calibration import (
    calibration_report,
    ece_change,
    ece_ci,
    fit_temperature,
    reliability_bins,
    softmax_with_temperature,
)
from mlcraft.reporting import slice_table
from sklearn.metrics import accuracy_score, f1_score

from text_classifier.evaluate import decide


def calibrated_scores(prob: np.ndarray) -> np.ndarray:
    """What calibration measures: P(class 1) for two classes, the top label's probability (the
    full matrix; mlcraft.calibration takes its max) for more."""
    return prob[:, 1] if prob.shape[1] == 2 else prob


def calibration(
    name: str, val_logits, y_val, test_logits, y_test, n_bins: int, n_boot: int, seed: int
) -> tuple[dict, dict]:
    """Temperature fitted on val; ECE etc. on test before and after, all with n_bins bins, each
    ECE with its percentile-bootstrap 95% interval (mlcraft.calibration.ece_ci), and the paired
    bootstrap 95% CI of the change (after minus before, on the same resampled test rows):
    "lowered" is a claim only when it clears 0. Returns (row, probs)."""
    temperature = fit_temperature(val_logits, y_val)
    before = softmax_with_temperature(test_logits, 1.0)
    after = softmax_with_temperature(test_logits, temperature)
    row = {"model": name, "temperature": temperature, "bins": n_bins}
    for tag, prob in (("before", before), ("after", after)):
        p = calibrated_scores(prob)
        for key, value in calibration_report(y_test, p, n_bins).items():
            row[f"{key}_{tag}"] = value
        row[f"ece_{tag}_lo"], row[f"ece_{tag}_hi"] = ece_ci(y_test, p, n_bins, n_boot, seed)
    change = ece_change(
        y_test, calibrated_scores(after), calibrated_scores(before), n_bins, n_boot, seed
    )
    row.update(ece_change=change["diff"], ece_change_lo=change["lo"], ece_change_hi=change["hi"])
    return row, {"before": before, "after": after}


def what_a_shown_probability_means(y, prob, lo=0.9, hi=0.95) -> dict:
    """Among predictions shown as lo..hi 'recommended', how often is it really recommended?"""
    p = prob[:, 1]
    mask = (p >= lo) & (p < hi)
    return {
        "band": f"{lo:.2f}-{hi:.2f}",
        "n": int(mask.sum()),
        "mean_shown": float(p[mask].mean()) if mask.any() else float("nan"),
        "observed": float(y[mask].mean()) if mask.any() else float("nan"),
    }


# Heuristic error kinds, checked in this order. The rating and sizing rules only apply to the
# default reviews data, where class 1 is "recommended" and a 1-5 star rating is known.
_NEGATION = re.compile(r"\b(not|no|never|n't|nothing|neither|nor|wouldn't|don't|didn't)\b", re.I)
_CONTRAST = re.compile(r"\b(but|however|although|though|except|unfortunately|yet)\b", re.I)
_SIZING = re.compile(
    r"\b(size|sizing|small|large|tight|loose|fit|fits|runs|petite|xs|xl|length|long|short)\b", re.I
)
_SARCASM = re.compile(r"(yeah right|so much for|\bthanks a lot\b|\bwhat a joke\b|!{2,}.*\?)", re.I)


def error_kind(text: str, label: int, rating: float | None, reviews: bool = False) -> str:
    known = reviews and rating is not None and not np.isnan(rating)
    if known and ((label == 1 and rating <= 2) or (label == 0 and rating >= 4)):
        return "label noise (label contradicts star rating)"
    if _SARCASM.search(text):
        return "sarcasm"
    if reviews and label == 1 and _SIZING.search(text):
        return "sizing complaint, positive verdict"
    if _CONTRAST.search(text):
        return "mixed sentiment"
    if _NEGATION.search(text):
        return "negation"
    return "other"


def confident_errors(
    test: pd.DataFrame, prob, threshold, classes, k: int, reviews: bool = False
) -> pd.DataFrame:
    """The k most confident test errors; row_id is the row's 0-based data row in the source
    file, counted before empty-text rows were dropped (data.ROW_ID)."""
    pred = decide(prob, threshold)
    confidence = prob[np.arange(len(pred)), pred]
    frame = pd.DataFrame(
        {
            "row_id": test["row_id"].to_numpy(),
            "text": test["text"].to_numpy(),
            "label": [classes[i] for i in test["label"]],
            "predicted": [classes[i] for i in pred],
            "confidence": confidence,
        }
    )
    rating = test["Rating"].to_numpy(dtype=float) if "Rating" in test else None
    frame["rating"] = rating if rating is not None else np.nan
    wrong = frame[pred != test["label"].to_numpy()].sort_values("confidence", ascending=False)
    wrong = wrong.head(k).copy()
    wrong["kind"] = [
        error_kind(t, int(classes.index(lab)), r, reviews)
        for t, lab, r in zip(wrong["text"], wrong["label"], wrong["rating"], strict=True)
    ]
    return wrong.reset_index(drop=True)


def rating_contradictions(frame: pd.DataFrame) -> dict | None:
    """How often Recommended disagrees with the stars, and the accuracy ceiling that implies."""
    if "Rating" not in frame:
        return None
    rating, label = frame["Rating"], frame["label"]
    contradict = ((label == 1) & (rating <= 2)) | ((label == 0) & (rating >= 4))
    # Best possible accuracy of any rule that sees only the rating: majority label per star.
    table = pd.crosstab(rating, label)
    return {
        "rows": len(frame),
        "recommended_with_1_or_2_stars": int(((label == 1) & (rating <= 2)).sum()),
        "not_recommended_with_4_or_5_stars": int(((label == 0) & (rating >= 4)).sum()),
        "contradiction_rate": float(contradict.mean()),
        "three_star_rows": int((rating == 3).sum()),
        "three_star_recommended_rate": float(label[rating == 3].mean()),
        "rating_oracle_accuracy": float(table.max(axis=1).sum() / len(frame)),
        "crosstab": {int(r): table.loc[r].astype(int).tolist() for r in table.index},
    }


def slice_columns(test: pd.DataFrame, reviews: bool = False) -> pd.DataFrame:
    """The slice groups of each row: text length always (review length on the default reviews
    data); age band and department where the data has them (the default reviews data does)."""
    words = test["text"].str.split().str.len().to_numpy()
    bands = {f"{'review' if reviews else 'text'} length (words)": pd.cut(
        words, [0, 30, 60, 90, 10_000], labels=["<=30", "31-60", "61-90", ">90"]
    ).astype(str)}  # fmt: skip
    if "Age" in test:
        bands["age band"] = pd.cut(
            test["Age"].to_numpy(), [0, 29, 39, 49, 59, 200],
            labels=["<30", "30-39", "40-49", "50-59", "60+"],
        ).astype(str)  # fmt: skip
    if "Department Name" in test:
        bands["department"] = test["Department Name"].fillna("(missing)").astype(str).to_numpy()
    return pd.DataFrame(bands)


def slices(
    test: pd.DataFrame, prob, threshold, classes, n_boot: int, seed: int, reviews: bool = False
) -> pd.DataFrame:
    """Accuracy and macro-F1 per group, with the share of each true class in the group (for two
    classes only the second class's share: the first is one minus it)."""
    groups = slice_columns(test, reviews)
    by = list(groups.columns)
    frame = pd.concat([test.reset_index(drop=True), groups], axis=1)
    frame["pred"] = decide(prob, threshold)
    metrics = {
        "accuracy": accuracy_score,
        "macro_f1": lambda y, p: f1_score(y, p, average="macro"),
    }
    tables = [slice_table(frame, b, "label", "pred", metrics, n_boot=n_boot, seed=seed) for b in by]
    table = pd.concat(tables, ignore_index=True).drop(columns="positive_rate")
    shown = classes[1:] if len(classes) == 2 else classes
    for name in shown:
        index = classes.index(name)
        shares = [
            float(np.mean(frame.loc[frame[s] == g, "label"] == index))
            for s, g in zip(table["slice"], table["group"], strict=True)
        ]
        table.insert(3 + shown.index(name), f"share labelled {name}", shares)
    return table


def reliability_frame(y, probs: dict[str, np.ndarray], n_bins: int) -> pd.DataFrame:
    rows = []
    for name, prob in probs.items():
        bins = reliability_bins(y, calibrated_scores(prob), n_bins=n_bins)
        bins.insert(0, "model", name)
        rows.append(bins)
    return pd.concat(rows, ignore_index=True)
