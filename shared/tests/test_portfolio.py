import json
import shutil
from pathlib import Path

from mlcraft.portfolio import portfolio_blocks, portfolio_rows
from mlcraft.reporting import stale_blocks

ROOT = Path(__file__).resolve().parents[2]


def test_root_readme_matches_results():
    # Fails when a project's results changed but `nox -s report` was not run.
    assert stale_blocks(ROOT / "README.md", portfolio_blocks(ROOT)) == []


def test_rows_read_the_headline_from_summary(tmp_path):
    shutil.copy(ROOT / "projects.toml", tmp_path / "projects.toml")
    results = tmp_path / "projects" / "tabular_ladder" / "results"
    results.mkdir(parents=True)
    summary = {
        "headline": {"test_roc_auc_best": 0.93012, "wall_seconds": 120.0},
        "hardware": {"cpu_count": 2, "gpu": None},
    }
    (results / "summary.json").write_text(json.dumps(summary))
    rows = {row["task"]: row for row in portfolio_rows(tmp_path)}
    tabular = next(r for r in rows.values() if "tabular_ladder" in r["project"])
    assert (tabular["value"], tabular["wall time"], tabular["ran on"]) == (
        "0.930",
        "2.0 min",
        "2 CPU cores",
    )
    assert sum(r["value"] == "not run yet" for r in rows.values()) == 3
