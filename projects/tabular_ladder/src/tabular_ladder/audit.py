"""The data audit before the ladder (mlcraft.audit screens) plus what this project does to messy
columns: categoricals past MAX_CATEGORIES levels are pooled for the tree rungs."""

from __future__ import annotations

from pathlib import Path

from mlcraft.audit import Finding, banner, enforce, findings_frame, tabular_findings
from mlcraft.files import atomic_write_text

from tabular_ladder.config import TrainConfig
from tabular_ladder.data import Dataset
from tabular_ladder.models import MAX_CATEGORIES


def audit(config: TrainConfig, data: Dataset) -> list[Finding]:
    """Every finding on the training rows (and train/test overlap); mode error stops here."""
    if config.data.audit == "off":
        return []
    findings = tabular_findings(
        data.X_train, data.y_train, data.X_test,
        time_train=data.time_train, time_test=data.time_test,  # data.time_column's split order
        leak_auc=config.data.leak_auc, seed=config.seed,
    )  # fmt: skip
    for column in data.categorical:
        counts = data.X_train[column].value_counts()
        if len(counts) > MAX_CATEGORIES:
            findings.append(Finding("cardinality", column, folded_levels(counts)))
    enforce(findings, config.data.audit)
    return findings


def folded_levels(counts) -> str:
    """What the tree rungs do to a column with more levels than MAX_CATEGORIES, counted."""
    kept = MAX_CATEGORIES - 1
    folded = counts.iloc[kept:]
    share = folded.sum() / counts.sum()
    return (
        f"{len(counts):,} levels: tree rungs keep the {kept} most frequent and fold the other "
        f"{len(folded):,} levels ({int(folded.sum()):,} training rows, {share:.1%}) into one "
        "'infrequent' level; one-hot rungs pool levels seen fewer than 20 times"
    )


def write_audit(results: Path, findings: list[Finding]) -> None:
    """audit.csv (the findings, possibly none) and audit.md (the banner a reader sees first)."""
    frame = findings_frame(findings)
    atomic_write_text(results / "audit.csv", frame.to_csv(index=False))
    text = banner(findings) or "The data audit found nothing to flag."
    atomic_write_text(results / "audit.md", text + "\n")
