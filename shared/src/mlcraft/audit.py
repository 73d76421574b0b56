"""A data audit before the ladder: screens that catch leaks, identifiers and split overlap.

Each screen returns Findings; `enforce` turns them into a warning banner (mode "warn"), an error
before training (mode "error") or nothing ("off"). Screens only look at training rows, except the
overlap screens, which compare train with test by hashes and never fit on test.

Tabular: a feature whose single-feature CV AUC is near-perfect, a near-copy of the target,
near-unique columns (ids, names), constant and almost-empty columns, duplicate rows shared by
train and test, test rows that are not later than every training row under a time split.
Text: exact and near-duplicate texts across train/test, label-revealing tokens.
Images: identical images across splits.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from mlcraft.errors import UserInputError

LEAK, IDENTIFIER, USELESS, OVERLAP = "leak", "identifier", "useless", "overlap"


@dataclass
class Finding:
    kind: str  # leak | identifier | useless | overlap
    column: str  # the feature, or "" for row-level findings
    detail: str  # one sentence with the numbers behind it
    severity: str = "warning"  # "error" findings stop a run in audit mode "error"


def findings_frame(findings: Sequence[Finding]) -> pd.DataFrame:
    columns = ["kind", "column", "detail", "severity"]
    return pd.DataFrame([asdict(f) for f in findings], columns=columns)


def single_feature_auc(x: pd.Series, y: np.ndarray, folds: int = 3, seed: int = 0) -> float:
    """Cross-validated ROC AUC of a depth-4 tree on one feature (one-vs-rest macro for k > 2)."""
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.preprocessing import OrdinalEncoder
    from sklearn.tree import DecisionTreeClassifier

    if pd.api.types.is_numeric_dtype(x) and not pd.api.types.is_bool_dtype(x):
        values = x.astype(float).fillna(x.astype(float).min() - 1).to_numpy().reshape(-1, 1)
    else:
        encoder = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1)
        values = encoder.fit_transform(x.astype(str).to_frame())
    model = DecisionTreeClassifier(max_depth=4, min_samples_leaf=20, random_state=seed)
    cv = StratifiedKFold(folds, shuffle=True, random_state=seed)
    proba = cross_val_predict(model, values, y, cv=cv, method="predict_proba")
    from sklearn.metrics import roc_auc_score

    classes = np.unique(y)
    if len(classes) == 2:
        return float(roc_auc_score(y, proba[:, 1]))
    return float(roc_auc_score(y, proba, multi_class="ovr", average="macro", labels=classes))


def _is_integral(x: pd.Series) -> bool:
    if not pd.api.types.is_numeric_dtype(x):
        return True  # strings, categories: cardinality is meaningful
    values = x.dropna().to_numpy(dtype=float)
    return bool(len(values)) and bool(np.all(np.equal(np.mod(values, 1), 0)))


def row_hashes(frame: pd.DataFrame) -> np.ndarray:
    return pd.util.hash_pandas_object(frame.astype(str), index=False).to_numpy()


def tabular_findings(
    X_train: pd.DataFrame,
    y_train: np.ndarray,
    X_test: pd.DataFrame,
    time_train: pd.Series | None = None,
    time_test: pd.Series | None = None,
    leak_auc: float = 0.98,
    unique_ratio: float = 0.9,
    empty_ratio: float = 0.95,
    max_rows: int = 20_000,
    seed: int = 0,
) -> list[Finding]:
    """Every tabular screen; y_train holds class labels (any number of classes)."""
    findings: list[Finding] = []
    y_train = np.asarray(y_train)
    rng = np.random.default_rng(seed)
    rows = np.arange(len(X_train))
    if len(rows) > max_rows:
        rows = np.sort(rng.choice(rows, max_rows, replace=False))
    sample, y_sample = X_train.iloc[rows], y_train[rows]
    n = len(X_train)
    for column in X_train.columns:
        x = X_train[column]
        missing = float(x.isna().mean())
        distinct = int(x.nunique(dropna=True))
        if missing >= empty_ratio:
            findings.append(Finding(USELESS, column, f"{missing:.0%} of training cells missing"))
            continue
        if distinct <= 1:
            findings.append(Finding(USELESS, column, f"constant ({distinct} distinct value)"))
            continue
        if _is_integral(x) and distinct / max(1, n - x.isna().sum()) >= unique_ratio:
            findings.append(
                Finding(
                    IDENTIFIER,
                    column,
                    f"{distinct:,} distinct values in {n:,} rows: an id or a name, not a feature",
                    "error",
                )  # fmt: skip
            )
            continue
        purity = _purity(x, y_train)
        if purity >= 0.999 and distinct <= 4 * len(np.unique(y_train)):
            findings.append(
                Finding(
                    LEAK,
                    column,
                    f"a near-copy of the target: its value fixes the label in {purity:.1%} of rows",
                    "error",
                )  # fmt: skip
            )
            continue
        auc = single_feature_auc(sample[column], y_sample, seed=seed)
        if auc >= leak_auc:
            findings.append(
                Finding(
                    LEAK,
                    column,
                    f"alone it predicts the target with CV ROC AUC {auc:.3f} (threshold {leak_auc})",
                    "error",
                )  # fmt: skip
            )
    shared = np.isin(row_hashes(X_test), row_hashes(X_train))
    if shared.any():
        findings.append(
            Finding(
                OVERLAP,
                "",
                f"{int(shared.sum()):,} test rows also appear in training "
                f"({shared.mean():.1%} of test)",
            )  # fmt: skip
        )
    if time_train is not None and time_test is not None and len(time_test):
        late = _as_time(time_train).max()
        test_times = _as_time(time_test)
        early = int((test_times <= late).sum())
        if early:
            findings.append(
                Finding(
                    OVERLAP,
                    str(time_train.name),
                    f"{early:,} test rows are not later than the last training row ({late}; "
                    f"{int((test_times == late).sum()):,} of them at that same time)",
                    "error",
                )  # fmt: skip
            )
    return findings


def _as_time(values: pd.Series) -> pd.Series:
    """Numbers that grow with time (a year, epoch seconds) as they are; anything else as dates."""
    return values if pd.api.types.is_numeric_dtype(values) else pd.to_datetime(values)


def _purity(x: pd.Series, y: np.ndarray) -> float:
    """The share of rows whose label is the majority label of their value of x."""
    frame = pd.DataFrame({"x": x.astype(str).to_numpy(), "y": y})
    counts = frame.groupby(["x", "y"], observed=True).size()
    return float(counts.groupby(level=0).max().sum() / len(frame))


def normalise_text(text: str) -> str:
    return re.sub(r"\W+", " ", str(text).lower()).strip()


def text_findings(
    train_texts: Sequence[str],
    train_labels: Sequence,
    test_texts: Sequence[str],
    min_support: int = 20,
    token_purity: float = 0.995,
    alpha: float = 0.01,
) -> list[Finding]:
    """Exact and near (case, punctuation, spacing) duplicates across train/test; tokens that
    reveal the label on their own: in >= min_support training texts, one label in >= token_purity
    of them, and more often than that label's base rate can explain by chance (one-sided binomial
    test, Bonferroni over every token screened, family-wise alpha). Without the test, at an 82%
    base rate a token in 21 texts is all one label with probability 0.82**21 = 1.6%, and among
    thousands of tokens dozens of ordinary words would be called leaks."""
    from scipy.stats import binom

    findings: list[Finding] = []
    train_exact = {hashlib.sha1(str(t).encode()).hexdigest() for t in train_texts}
    train_near = {normalise_text(t) for t in train_texts}
    exact = sum(hashlib.sha1(str(t).encode()).hexdigest() in train_exact for t in test_texts)
    near = sum(normalise_text(t) in train_near for t in test_texts) - exact
    if exact:
        findings.append(Finding(OVERLAP, "", f"{exact:,} test texts appear verbatim in training"))
    if near > 0:
        findings.append(
            Finding(
                OVERLAP,
                "",
                f"{near:,} more test texts match a training text up to case, "
                "punctuation and spacing",
            )  # fmt: skip
        )
    labels = np.asarray(train_labels)
    label_values, label_counts = np.unique(labels, return_counts=True)
    base_rate = dict(zip(label_values.tolist(), (label_counts / len(labels)).tolist(), strict=True))
    tokens: dict[str, list] = {}
    for text, label in zip(train_texts, labels, strict=True):
        for token in set(normalise_text(text).split()):
            tokens.setdefault(token, []).append(label)
    screened = {token: seen for token, seen in tokens.items() if len(seen) >= min_support}
    for token, seen in sorted(screened.items()):
        values, counts = np.unique(seen, return_counts=True)
        top, hits = values[counts.argmax()], int(counts.max())
        if hits / len(seen) < token_purity or len(values) == len(label_values):
            continue
        rate = base_rate[top.item() if hasattr(top, "item") else top]
        p_value = float(binom.sf(hits - 1, len(seen), rate))  # P(>= hits of `top` by chance)
        if p_value < alpha / len(screened):
            findings.append(
                Finding(
                    LEAK,
                    token,
                    f"token '{token}' is in {len(seen):,} training texts, "
                    f"{hits / len(seen):.1%} of them labelled {top} (base rate {rate:.0%}, "
                    f"binomial p = {p_value:.1e})",
                )  # fmt: skip
            )
    return findings


def duplicate_images(splits: dict[str, Iterable[np.ndarray]]) -> list[Finding]:
    """Identical pixel arrays shared by two splits (e.g. the same cell photographed twice)."""
    hashes = {
        name: {hashlib.sha1(np.ascontiguousarray(a).tobytes()).hexdigest() for a in arrays}
        for name, arrays in splits.items()
    }
    findings = []
    names = list(hashes)
    for i, first in enumerate(names):
        for second in names[i + 1 :]:
            shared = len(hashes[first] & hashes[second])
            if shared:
                findings.append(
                    Finding(
                        OVERLAP, "", f"{shared:,} identical images in both {first} and {second}"
                    )
                )
    return findings


def enforce(findings: Sequence[Finding], mode: str, key: str = "data.audit") -> None:
    """mode error: the first error-severity finding stops the run with one line."""
    if mode != "error":
        return
    errors = [f for f in findings if f.severity == "error"]
    if errors:
        first = errors[0]
        more = f" (and {len(errors) - 1} more; see audit.md)" if len(errors) > 1 else ""
        where = f"column {first.column!r}: " if first.column else ""
        raise UserInputError(f"{key}=error: {where}{first.detail}{more}")


def banner(findings: Sequence[Finding], limit: int = 10) -> str:
    """The warning at the top of a run's report; empty when the audit found nothing. It names the
    first `limit` findings and counts the rest by kind (the full list is audit.md)."""
    if not findings:
        return ""
    lines = [f"> **Data audit: {len(findings)} finding(s).** Read these before trusting a number."]
    lines += [f"> - {f.kind}: {f.column + ': ' if f.column else ''}{f.detail}"
              for f in findings[:limit]]  # fmt: skip
    rest = findings[limit:]
    if rest:
        kinds = pd.Series([f.kind for f in rest]).value_counts()
        counted = ", ".join(f"{n} {kind}" for kind, n in kinds.items())
        lines.append(f"> - and {len(rest)} more ({counted}): every finding is in audit.md")
    return "\n".join(lines)
