"""Every fault drill through the real CLI: expected exit code, one line on stderr, no traceback,
nothing left outside complete run folders, results/ and README untouched (mlcraft.faults)."""

from __future__ import annotations

import pytest
from conftest import PROJECT
from mlcraft.faults import drill, problems
from text_classifier.faults import FAULTS


@pytest.mark.parametrize("fault", FAULTS, ids=[f.name for f in FAULTS])
def test_fault_gives_one_line_and_leaves_nothing(fault, tmp_path):
    row = drill("text_classifier", PROJECT, fault, tmp_path)
    if row.get("skipped"):
        pytest.skip(row["message"])
    assert problems(row, fault) == [], row["stderr"][-4000:]
    if not fault.kill_when:
        assert len(row["message"].splitlines()) == 1 and row["message"].startswith("error: ")


def test_at_least_twelve_drills_and_both_kills():
    assert len(FAULTS) >= 12
    kills = [f for f in FAULTS if f.kill_when]
    assert {f.argv[0] for f in kills} == {"train", "search"}
    assert all(f.then == f.argv for f in kills)
