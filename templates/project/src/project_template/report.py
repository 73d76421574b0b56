"""The README's generated blocks, rendered from a results folder (never typed by hand)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from mlcraft.reporting import markdown_table


def blocks(results: Path) -> dict[str, str]:
    results = Path(results)
    summary = json.loads((results / "summary.json").read_text())
    h = summary["headline"]
    out = {
        "summary": (
            f"Best rung: **{h['best_rung']}**, test accuracy {h['test_accuracy_best']:.3f} "
            f"(majority {h['test_accuracy_majority']:.3f}) on {h['n_test']:,} test rows; "
            f"{summary['wall_seconds']:.0f} s on {summary['hardware']['cpu_count']} CPU cores."
        ),
        "ladder": markdown_table(pd.read_csv(results / "ladder.csv"), digits=3),
    }
    if (results / "faults.csv").is_file():
        faults = pd.read_csv(results / "faults.csv")
        columns = ["fault", "exit_code", "message", "files_left", "results_unchanged"]
        out["faults"] = markdown_table(faults[columns])
    return out
