"""The data audit before training (mlcraft.audit): identical images shared by two splits and
image files that could not be read. Cheap: it hashes the uint8 arrays already in memory.

data.audit: warn (findings in results/audit.csv/.md and a banner at the top of REPORT.md),
error (an error-severity finding stops the run in pre-flight, before any folder is made), off.
"""

from __future__ import annotations

from pathlib import Path

from mlcraft.audit import Finding, banner, duplicate_images, enforce, findings_frame
from mlcraft.files import atomic_write_text

UNREADABLE = "unreadable"
SHOWN_NAMES = 5  # file names listed in a finding; the count covers all


def audit(mode: str, dataset, split: dict) -> list[Finding]:
    """Every finding on the loaded data set and its split; mode error stops here."""
    if mode == "off":
        return []
    findings = duplicate_images({name: dataset.images[idx] for name, idx in split.items()})
    for finding in findings:
        finding.severity = "error"  # a test image also seen in training inflates every score
    if dataset.unreadable:
        names = "; ".join(dataset.unreadable[:SHOWN_NAMES])
        more = len(dataset.unreadable) - SHOWN_NAMES
        findings.append(
            Finding(
                UNREADABLE,
                "",
                f"{len(dataset.unreadable)} image file(s) could not be read and were left out: "
                f"{names}" + (f" (and {more} more)" if more > 0 else ""),
                "error",
            )
        )
    enforce(findings, mode)
    return findings


def write_audit(results: Path, findings: list[Finding]) -> None:
    """audit.csv (the findings, possibly none) and audit.md (the banner a reader sees first)."""
    atomic_write_text(results / "audit.csv", findings_frame(findings).to_csv(index=False))
    atomic_write_text(results / "audit.md", (banner(findings) or NOTHING) + "\n")


NOTHING = "The data audit found nothing to flag."


def audit_block(results: Path) -> str | None:
    """The banner from audit.csv; None for a run from before the audit existed (or audit off)."""
    import pandas as pd

    path = results / "audit.csv"
    if not path.is_file():
        return None
    frame = pd.read_csv(path, keep_default_na=False, dtype=str)
    return banner([Finding(**row) for row in frame.to_dict("records")]) or NOTHING
