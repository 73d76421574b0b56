"""The root README's headline table, rendered from each project's results/summary.json.

python -m mlcraft.portfolio <repo root>
"""

from __future__ import annotations

import json
import sys
import tomllib
from pathlib import Path

from mlcraft.reporting import format_value, markdown_table, render_readme


def registry(root: Path) -> dict[str, dict]:
    """The project list (projects.toml at the repository root), in its order."""
    return tomllib.loads((root / "projects.toml").read_text())


def portfolio_rows(root: Path) -> list[dict[str, str]]:
    rows = []
    for folder, entry in registry(root).items():
        task, key, label = entry["task"], entry["headline"], entry["label"]
        summary_path = root / "projects" / folder / "results" / "summary.json"
        row = {"project": f"[{folder}](projects/{folder}/)", "task": task, "headline": label}
        if summary_path.is_file():
            summary = json.loads(summary_path.read_text())
            headline = summary.get("headline", {})
            gpu = (summary.get("hardware") or {}).get("gpu")
            row["value"] = format_value(headline.get(key))
            row["wall time"] = (
                f"{headline.get('wall_seconds', summary.get('wall_seconds', 0)) / 60:.1f} min"
            )
            row["ran on"] = gpu["model"] if gpu else f"{summary['hardware']['cpu_count']} CPU cores"
        else:
            row.update({"value": "not run yet", "wall time": "", "ran on": ""})
        rows.append(row)
    return rows


def portfolio_blocks(root: Path) -> dict[str, str]:
    return {"portfolio": markdown_table(portfolio_rows(root))}


def main(argv: list[str] | None = None) -> int:
    root = Path((argv or sys.argv[1:] or ["."])[0]).resolve()
    changed = render_readme(root / "README.md", portfolio_blocks(root))
    print(f"README.md: {'updated ' + ', '.join(changed) if changed else 'up to date'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
