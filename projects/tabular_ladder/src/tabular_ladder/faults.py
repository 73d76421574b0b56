"""Fault drills: run by tests/test_faults.py and, with `faults: true`, at the end of the reference
run (results/faults.csv). Each runs the real CLI on configs/smoke.yaml in a scratch folder and
must end with a one-line message and exit 2 (or be killed and then recover), leave nothing behind
outside complete run folders, and leave results/ and the README untouched."""

from __future__ import annotations

import json
from pathlib import Path

from mlcraft.faults import Fault, writes

PROJECT = "tabular_ladder"
PROJECT_DIR = Path(__file__).resolve().parents[2]

SMOKE = ["train", "--config", "configs/smoke.yaml"]
# Enough trials that the search is still going when the first trial's table appears.
SEARCH = ["search", "--config", "configs/smoke.yaml", "--set", "search.n_trials=8"]
# The smoke train on your own CSV: no Adult slices, monotone keys or flights study.
CSV = [*SMOKE, "--set", "data.source=csv", "data.target=y", "analyses.slices=[]",
       "analyses.monotone={}", "flights.enabled=false"]  # fmt: skip


def good_csv(rows: int = 120) -> bytes:
    """A small valid data set: a numeric and a text feature, a date, a 0/1 target."""
    lines = ["x,colour,when,y"]
    for i in range(rows):
        colour = ("red", "blue", "green")[i % 3]
        lines.append(f"{(i * 37) % 101 / 10},{colour},2024-01-{i % 28 + 1:02d},{int(i % 4 == 0)}")
    return ("\n".join(lines) + "\n").encode()


def _fake_run(scratch: Path) -> None:
    """A folder that passes the cheap run-folder check (complete, bundle files present) and an
    input that is not text: predict must stop at the input, before loading any model."""
    model = scratch / "run" / "model"
    model.mkdir(parents=True)
    (scratch / "run" / "run.json").write_text(json.dumps({"status": "complete", "verb": "train"}))
    for name in ("prep.skops", "model.txt", "calibrator.skops", "meta.json"):
        (model / name).write_bytes(b"x")
    (scratch / "blob.csv").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe\xfd" * 20)
    (scratch / "good.csv").write_bytes(good_csv())
    (scratch / "latin1.csv").write_bytes("x,city\n1,K\xf6ln\n".encode("latin-1"))
    (scratch / "empty.csv").write_bytes(b"")


PREDICT = ["predict", "--model", "{scratch}/run", "--input", "{scratch}/good.csv"]

FAULTS = [
    Fault("killed mid-train, then rerun", SMOKE, then=SMOKE,
          kill_when="tabular_ladder/*.partial/results/sampler_curves.csv"),
    Fault("killed mid-search, then resumed", SEARCH, then=SEARCH,
          kill_when="tabular_ladder/*.partial/results/search_trials.csv"),
    Fault("read-only output", [*SMOKE, "--run-dir", "{mount}/run"], mount="read_only",
          message="not writable"),
    Fault("full disk", [*SMOKE, "--run-dir", "{mount}/run"], mount="full", message="MB free"),
    Fault("run dir under a file", [*SMOKE, "--run-dir", "{scratch}/afile/run"],
          setup=writes("afile", b"x"), message="is a file"),
    Fault("old output key", [*SMOKE, "--set", "output=results"],
          message="unknown config key 'output'"),
    Fault("bad value", [*SMOKE, "--set", "data.test_fraction=2"], message="data.test_fraction"),
    Fault("unknown slice column", [*SMOKE, "--set", "analyses.slices=[gender,region]"],
          message="analyses.slices: 'region'"),
    Fault("data.path with source adult", [*SMOKE, "--set", "data.path={scratch}/good.csv"],
          setup=writes("good.csv", good_csv()), message="data.source"),
    Fault("missing data file", [*CSV, "--set", "data.path={scratch}/nope.csv"],
          message="no such file"),
    Fault("folder given as data file", [*CSV, "--set", "data.path={scratch}"],
          message="is a folder"),
    Fault("empty data file", [*CSV, "--set", "data.path={scratch}/empty.csv"],
          setup=writes("empty.csv", b""), message="empty"),
    Fault("non-UTF-8 data file", [*CSV, "--set", "data.path={scratch}/latin1.csv"],
          setup=writes("latin1.csv", "x,city,y\n1,K\xf6ln,0\n2,Z\xfcrich,1\n".encode("latin-1")),
          message="not UTF-8"),
    Fault("unknown target column", [*CSV, "--set", "data.path={scratch}/good.csv",
          "data.target=label"], setup=writes("good.csv", good_csv()), message="data.target=label"),
    Fault("one-class target", [*CSV, "--set", "data.path={scratch}/one.csv"],
          setup=writes("one.csv", b"x,y\n1,1\n2,1\n3,1\n4,1\n"), message="only one class"),
    Fault("positive label never occurs", [*CSV, "--set", "data.path={scratch}/good.csv",
          "data.target=colour", "data.positive_label=yes"], setup=writes("good.csv", good_csv()),
          message="data.positive_label='yes'"),
    Fault("time column that is not a date", [*CSV, "--set", "data.path={scratch}/good.csv",
          "data.time_column=colour"], setup=writes("good.csv", good_csv()),
          message="does not parse as dates"),
    Fault("evaluate a folder that is not a run", ["evaluate", "--config", "configs/smoke.yaml",
          "--model", "{scratch}"], message="not a complete run folder"),
    Fault("predict with a missing model", ["predict", "--model", "{scratch}/nope", "--input",
          "{scratch}/good.csv", "--output", "{scratch}/out.csv"], message="no such run folder"),
    Fault("predict on a binary input", [*PREDICT[:4], "{scratch}/blob.csv", "--output",
          "{scratch}/out.csv"], setup=_fake_run, message="a binary file"),
    Fault("predict on a non-UTF-8 input", [*PREDICT[:4], "{scratch}/latin1.csv", "--output",
          "{scratch}/out.csv"], setup=_fake_run, message="not UTF-8"),
    Fault("predict on an empty input", [*PREDICT[:4], "{scratch}/empty.csv", "--output",
          "{scratch}/out.csv"], setup=_fake_run, message="the file is empty"),
    Fault("predict --output is a folder", [*PREDICT, "--output", "{scratch}"], setup=_fake_run,
          message="is a folder"),
    Fault("predict --output is the --input", [*PREDICT, "--output", "{scratch}/good.csv"],
          setup=_fake_run, message="is the --input file"),
    Fault("predict --output inside the model run", [*PREDICT, "--output",
          "{scratch}/run/results/out.csv"], setup=_fake_run, message="inside the --model run"),
]  # fmt: skip
