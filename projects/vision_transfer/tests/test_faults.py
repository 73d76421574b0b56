"""Every fault drill through the real CLI: exit code, one line naming the problem, nothing left
behind, the published results/ and README untouched (mlcraft.faults).

The kill drills are the proof that a SIGKILL mid-run can no longer leave results/ mixed: the killed
train (or search) left a .partial staging folder, results/ and the README stayed byte-identical,
and the same command run next completed and reaped the staging folder."""

from __future__ import annotations

import json

import pytest
from conftest import PROJECT
from mlcraft.faults import drill, problems
from vision_transfer.faults import FAULTS

KILLS = [f for f in FAULTS if f.kill_when]


@pytest.mark.parametrize("fault", FAULTS, ids=[f.name for f in FAULTS])
def test_fault_gives_one_line_and_leaves_nothing(fault, tmp_path):
    row = drill("vision_transfer", PROJECT, fault, tmp_path)
    if row.get("skipped"):
        pytest.skip(row["message"])
    assert problems(row, fault) == [], row["stderr"]
    assert row["results_unchanged"]
    if not fault.kill_when:
        assert row["message"].startswith("error: ") and fault.message in row["message"]
        # Pre-flight refused it: not even the project's runs folder was made.
        assert not (tmp_path / "runs" / "vision_transfer").exists()
        return
    # The kill left a staging folder behind (the drill really killed a run under way), and the
    # next run reaped it and completed: exactly one run folder, complete.
    assert row["left_by_fault"] > 0 and row["next_run_exit"] == 0 and row["files_left"] == 0
    (run,) = (tmp_path / "runs" / "vision_transfer").iterdir()
    assert json.loads((run / "run.json").read_text())["status"] == "complete"


def test_enough_drills_and_the_kinds_asked_for():
    assert len(FAULTS) >= 12
    assert {f.argv[0] for f in KILLS} == {"train", "search"}
    assert {f.mount for f in FAULTS} >= {"read_only", "full"}
    assert all(f.then == f.argv for f in KILLS)
