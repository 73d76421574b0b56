from pathlib import Path

import pytest
from mlcraft.faults import drill, problems
from project_template.faults import FAULTS

PROJECT_DIR = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("fault", FAULTS, ids=[f.name for f in FAULTS])
def test_fault_gives_one_line_and_leaves_nothing(fault, tmp_path):
    row = drill("project_template", PROJECT_DIR, fault, tmp_path)
    if row.get("skipped"):
        pytest.skip(row["message"])
    assert problems(row, fault) == [], row["stderr"]


def test_at_least_twelve_drills():
    assert len(FAULTS) >= 12
