"""Every fault drill through the real CLI: the exit code, one line and no traceback, nothing left
outside complete run folders, no MLflow run left RUNNING, results/ and the README unchanged."""

from __future__ import annotations

import pytest
from mlcraft.faults import drill, problems
from tabular_ladder.faults import FAULTS, PROJECT, PROJECT_DIR


@pytest.mark.parametrize("fault", FAULTS, ids=[f.name for f in FAULTS])
def test_fault_gives_one_line_and_leaves_nothing(fault, tmp_path):
    row = drill(PROJECT, PROJECT_DIR, fault, tmp_path)
    if row.get("skipped"):
        pytest.skip(row["message"])
    assert problems(row, fault) == [], row["stderr"]
    if not fault.kill_when:
        assert row["message"].startswith("error: ") and "\n" not in row["message"]


def test_the_drills_cover_the_brief():
    assert len(FAULTS) >= 12
    names = " ".join(f.name for f in FAULTS)
    for needed in ("killed mid-train", "killed mid-search", "read-only", "full disk",
                   "under a file", "non-UTF-8", "folder given", "empty", "one-class",
                   "binary input", "--output is a folder", "old output key"):  # fmt: skip
        assert needed in names, needed
    kills = [f for f in FAULTS if f.kill_when]
    assert all(f.then == f.argv for f in kills)  # the same command again must complete
