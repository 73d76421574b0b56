"""Monitoring a deployed binary classifier: input drift, prediction drift, and its performance
estimated without labels from its calibrated probabilities.

- PSI (population stability index) per feature: numeric features in deciles of the reference,
  categorical ones by level (levels unseen in the reference pooled); the usual reading is
  < 0.1 stable, 0.1-0.25 moderate, > 0.25 a large shift. KS statistic for numeric features.
- Confidence-based performance estimation (the idea of NannyML's CBPE): if the probabilities are
  calibrated, a row scored p is a positive with probability p, so the expected confusion counts at
  any threshold, and hence the expected ROC curve and accuracy, follow from the scores alone. It
  holds under covariate shift (p(y|x) unchanged) and fails under concept shift: that is what the
  realized metrics, once labels arrive, are for.
"""

import numpy as np
import pandas as pd

EPS = 1e-4
PSI_DRIFT = 0.25


def _shares(counts: np.ndarray) -> np.ndarray:
    return np.clip(counts / max(counts.sum(), 1), EPS, None)


def psi(reference: pd.Series, current: pd.Series, bins: int = 10) -> float:
    """Population stability index of current against reference."""
    if pd.api.types.is_numeric_dtype(reference) and not pd.api.types.is_bool_dtype(reference):
        ref = reference.dropna().astype(float).to_numpy()
        cur = current.dropna().astype(float).to_numpy()
        edges = np.unique(np.quantile(ref, np.linspace(0, 1, bins + 1)[1:-1]))
        ref_counts = np.bincount(
            np.searchsorted(edges, ref, side="right"), minlength=len(edges) + 1
        )
        cur_counts = np.bincount(
            np.searchsorted(edges, cur, side="right"), minlength=len(edges) + 1
        )
        # missing values are a bin of their own: a column that starts arriving empty is drift
        ref_counts = np.append(ref_counts, reference.isna().sum())
        cur_counts = np.append(cur_counts, current.isna().sum())
    else:
        levels = reference.astype(str).value_counts()
        cur_levels = current.astype(str).value_counts()
        ref_counts = np.append(levels.to_numpy(), 0)
        seen = cur_levels.reindex(levels.index, fill_value=0).to_numpy()
        cur_counts = np.append(seen, cur_levels.sum() - seen.sum())  # unseen levels pooled
    p, q = _shares(ref_counts.astype(float)), _shares(cur_counts.astype(float))
    return float(np.sum((q - p) * np.log(q / p)))


def feature_drift(reference: pd.DataFrame, current: pd.DataFrame) -> pd.DataFrame:
    """One row per feature: PSI, and the KS statistic and p-value for numeric ones."""
    from scipy.stats import ks_2samp

    rows = []
    for column in reference.columns:
        ref, cur = reference[column], current[column]
        numeric = pd.api.types.is_numeric_dtype(ref) and not pd.api.types.is_bool_dtype(ref)
        row = {"feature": column, "kind": "numeric" if numeric else "categorical",
               "psi": psi(ref, cur), "ks": np.nan, "ks_p": np.nan}  # fmt: skip
        if numeric and ref.notna().any() and cur.notna().any():
            result = ks_2samp(ref.dropna().astype(float), cur.dropna().astype(float))
            row["ks"], row["ks_p"] = float(result.statistic), float(result.pvalue)
        row["drifted"] = row["psi"] > PSI_DRIFT
        rows.append(row)
    return pd.DataFrame(rows).sort_values("psi", ascending=False, ignore_index=True)


def expected_roc_auc(probabilities: np.ndarray) -> float:
    """The ROC AUC the scores would have if each row were positive with its own probability."""
    p = np.asarray(probabilities, dtype=float)
    order = np.argsort(-p, kind="stable")
    positives, negatives = p[order], 1.0 - p[order]
    tpr = np.concatenate([[0.0], np.cumsum(positives) / positives.sum()])
    fpr = np.concatenate([[0.0], np.cumsum(negatives) / negatives.sum()])
    return float(np.trapezoid(tpr, fpr))


def expected_accuracy(probabilities: np.ndarray, threshold: float) -> float:
    """Expected share of correct decisions at `threshold`: p where we say 1, 1 - p where we say 0."""
    p = np.asarray(probabilities, dtype=float)
    return float(np.mean(np.where(p >= threshold, p, 1.0 - p)))


def alert(estimate: float, reference: float, tolerance: float) -> bool:
    """The alert rule: the estimated metric fell more than `tolerance` below the reference."""
    return bool(estimate < reference - tolerance)


def alert_outcomes(frame: pd.DataFrame, reference: float, tolerance: float) -> dict[str, int]:
    """Judge the alert rule month by month against what the labels later showed.

    frame: one row per batch with columns `estimated` and `realized` (same metric)."""
    raised = frame["estimated"] < reference - tolerance
    real = frame["realized"] < reference - tolerance
    return {
        "batches": len(frame),
        "alerts": int(raised.sum()),
        "true_alerts": int((raised & real).sum()),
        "false_alarms": int((raised & ~real).sum()),
        "misses": int((~raised & real).sum()),
    }
