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
        data.X_train, data.y_train, data.X_test, leak_auc=config.data.leak_auc, seed=config.seed
    )
    for column in data.categorical:
        levels = int(data.X_train[column].nunique())
        if levels > MAX_CATEGORIES:
            findings.append(
                Finding(
                    "cardinality",
                    column,
                    f"{levels:,} levels: tree rungs keep the {MAX_CATEGORIES - 1} most "
                    "frequent and pool the rest as one 'infrequent' level; one-hot rungs "
                    "pool levels seen fewer than 20 times",
                )  # fmt: skip
            )
    enforce(findings, config.data.audit)
    return findings


def write_audit(results: Path, findings: list[Finding]) -> None:
    """audit.csv (the findings, possibly none) and audit.md (the banner a reader sees first)."""
    frame = findings_frame(findings)
    atomic_write_text(results / "audit.csv", frame.to_csv(index=False))
    text = banner(findings) or "The data audit found nothing to flag."
    atomic_write_text(results / "audit.md", text + "\n")
