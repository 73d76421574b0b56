"""Fault drills run by tests/test_faults.py and by the reference run (results/faults.csv)."""

from __future__ import annotations

from mlcraft.faults import Fault, writes

SMOKE = ["train", "--config", "configs/smoke.yaml"]


FAULTS = [
    Fault("bad config key", [*SMOKE, "--set", "ladder.n_bootstrap=5"], message="unknown config key"),
    Fault("bad value", [*SMOKE, "--set", "data.test_fraction=2"], message="data.test_fraction"),
    Fault("missing data file", [*SMOKE, "--set", "data.path={scratch}/nope.csv"], message="no such file"),
    Fault("unknown target column", [*SMOKE, "--set", "data.target=label"], message="data.target=label"),
    Fault("non-UTF-8 file", [*SMOKE, "--set", "data.path={scratch}/latin1.csv"],
          setup=writes("latin1.csv", "a,target\ncaf\xe9,1\n1,0\n".encode("latin-1")), message="UTF-8"),
    Fault("empty file", [*SMOKE, "--set", "data.path={scratch}/empty.csv"],
          setup=writes("empty.csv", b""), message="empty"),
    Fault("one-class target", [*SMOKE, "--set", "data.path={scratch}/one.csv"],
          setup=writes("one.csv", b"a,target\n1,1\n2,1\n3,1\n"), message="one class"),
    Fault("folder given as data file", [*SMOKE, "--set", "data.path={scratch}"], message="folder"),
    Fault("run dir under a file", [*SMOKE, "--run-dir", "{scratch}/afile/run"],
          setup=writes("afile", b"x"), message="is a file"),
    Fault("read-only output", [*SMOKE, "--run-dir", "{mount}/run"], mount="read_only",
          message="not writable"),
    Fault("full disk", [*SMOKE, "--run-dir", "{mount}/run"], mount="full", message="MB free"),
    Fault("missing config file", ["train", "--config", "configs/nope.yaml"], message="not found"),
    Fault("publish a non-reference run", ["publish", "--run-dir", "{scratch}"], message="not a complete run"),
]  # fmt: skip
