"""Every fault drill (repro_training.faults) through the real CLI: the expected exit code, one
line naming the problem, no traceback, nothing left behind, results/ and README untouched."""

from pathlib import Path

import pytest
from mlcraft.faults import drill, problems
from repro_training.faults import FAULTS

PROJECT_DIR = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("fault", FAULTS, ids=[f.name for f in FAULTS])
def test_fault_gives_one_line_and_leaves_nothing(fault, tmp_path):
    row = drill("repro_training", PROJECT_DIR, fault, tmp_path)
    if row.get("skipped"):
        pytest.skip(row["message"])
    assert problems(row, fault) == [], row["stderr"][-3000:]
    if not fault.kill_when:
        assert row["message"].startswith("error: ") and "\n" not in row["message"]


def test_at_least_twelve_drills():
    assert len(FAULTS) >= 12
    assert any(f.kill_when and f.then for f in FAULTS)
