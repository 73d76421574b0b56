"""The data audit before training (mlcraft.audit.text_findings): test texts that also appear in
training (verbatim or up to case, punctuation and spacing) and tokens that reveal the label.

Both kinds inflate test scores, so in mode `error` they stop the run before any model is fitted.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pandas as pd
from mlcraft.audit import Finding, banner, enforce, findings_frame, text_findings
from mlcraft.files import atomic_write_text

NOTHING = "The data audit found nothing to flag."


def audit(mode: str, splits: dict[str, pd.DataFrame], classes: list[str]) -> list[Finding]:
    """Findings on the training split (and train/test overlap); mode error stops here."""
    if mode == "off":
        return []
    train, test = splits["train"], splits["test"]
    names = [classes[i] for i in train["label"]]  # findings name the class, not its index
    found = text_findings(train["text"].tolist(), names, test["text"].tolist())
    # A test text seen in training, or a token that gives the label away, inflates every score.
    findings = [replace(f, severity="error") for f in found]
    enforce(findings, mode)
    return findings


def write_audit(results: Path, findings: list[Finding]) -> None:
    """audit.csv (the findings, possibly none) and audit.md (the banner a reader sees first)."""
    atomic_write_text(results / "audit.csv", findings_frame(findings).to_csv(index=False))
    atomic_write_text(results / "audit.md", (banner(findings) or NOTHING) + "\n")


def audit_block(results: Path) -> str | None:
    """The banner from audit.csv; None for a run from before the audit existed."""
    path = results / "audit.csv"
    if not path.is_file():
        return None
    frame = pd.read_csv(path, keep_default_na=False, dtype=str)
    return banner([Finding(**row) for row in frame.to_dict("records")], limit=3) or NOTHING
