"""Fault drills, run by tests/test_faults.py and by the reference run (results/faults.csv).

Each drill runs the real CLI (`python -m text_classifier ...`) in a subprocess on the smoke config
with runs/, MLflow and Optuna in a scratch folder (mlcraft.faults). All but two fail in pre-flight,
in a second or two; the two kill drills train or search for real and then rerun, which must
succeed and reap the killed run's folder.
"""

from __future__ import annotations

from pathlib import Path

from mlcraft.faults import Fault, writes

SMOKE = ["train", "--config", "configs/smoke.yaml"]
SEARCH = ["search", "--config", "configs/smoke.yaml"]
GOOD_CSV = "body,y\n" + "".join(f"review {i},{'pos' if i % 2 else 'neg'}\n" for i in range(30))


def _fake_partial_run(scratch: Path) -> None:
    """A run folder that never completed (no run.json 'complete'), as a crashed train leaves."""
    (scratch / "half-run" / "model").mkdir(parents=True)
    (scratch / "half-run" / "model" / "meta.json").write_text("{}")
    (scratch / "in.csv").write_text("text\nlove it\n")


def _data(name: str) -> list[str]:
    return [
        "--set",
        f"data.path={{scratch}}/{name}",
        "data.text_column=body",
        "data.label_column=y",
    ]


FAULTS = [
    Fault("kill mid-train (SIGKILL), then rerun", SMOKE,
          kill_when="text_classifier/*.partial/results/tfidf_trials.csv", then=SMOKE),
    Fault("kill mid-search (SIGKILL), then resume", SEARCH,
          kill_when="text_classifier/*.partial/results/trials.csv", then=SEARCH),
    Fault("read-only output folder", [*SMOKE, "--run-dir", "{mount}/run"], mount="read_only",
          message="not writable"),
    Fault("full disk", [*SMOKE, "--run-dir", "{mount}/run"], mount="full", message="MB free"),
    Fault("run dir under a file", [*SMOKE, "--run-dir", "{scratch}/afile/run"],
          setup=writes("afile", b"x"), message="is a file"),
    Fault("missing data file", [*SMOKE, "--set", "data.path={scratch}/nope.csv"],
          message="no such file"),
    Fault("missing model folder", [*SMOKE, "--set", "model.name_or_path={scratch}/no-model"],
          message="model.name_or_path"),
    Fault("bad config key", [*SMOKE, "--set", "finetune.lrr=1"], message="unknown config key"),
    Fault("old output key", [*SMOKE, "--set", "results_dir=results"],
          message="unknown config key 'results_dir'"),
    Fault("bad value", [*SMOKE, "--set", "data.test_fraction=2"], message="data.test_fraction"),
    Fault("no rungs", [*SMOKE, "--set", "rungs=[]"], message="rungs"),
    Fault("unknown text column", [*SMOKE, *_data("own.csv"), "data.text_column=review"],
          setup=writes("own.csv", GOOD_CSV.encode()), message="data.text_column=review"),
    Fault("non-UTF-8 data file", [*SMOKE, *_data("latin1.csv")],
          setup=writes("latin1.csv", "body,y\ncaf\xe9 ok,pos\nbad,neg\n".encode("latin-1")),
          message="UTF-8"),
    Fault("folder given as data file", [*SMOKE, "--set", "data.path={scratch}"], message="folder"),
    Fault("empty data file", [*SMOKE, *_data("empty.csv")], setup=writes("empty.csv", b""),
          message="empty"),
    Fault("one-class label", [*SMOKE, *_data("one.csv")],
          setup=writes("one.csv", b"body,y\na,pos\nb,pos\nc,pos\n"), message="one class only"),
    Fault("evaluate a run that never completed",
          ["evaluate", "--config", "configs/smoke.yaml", "--model", "{scratch}/half-run"],
          setup=_fake_partial_run, message="not a complete run"),
    Fault("predict on a non-UTF-8 input",
          ["predict", "--model", "{scratch}/half-run", "--input", "{scratch}/latin1.csv",
           "--output", "{scratch}/out.csv"],
          setup=writes("latin1.csv", "text\ncaf\xe9\n".encode("latin-1")), message="UTF-8"),
    Fault("predict on a binary input",
          ["predict", "--model", "{scratch}/half-run", "--input", "{scratch}/bin.csv",
           "--output", "{scratch}/out.csv"],
          setup=writes("bin.csv", b"PK\x03\x04\x00\x00binary"), message="binary"),
    Fault("predict on an empty input",
          ["predict", "--model", "{scratch}/half-run", "--input", "{scratch}/empty.csv",
           "--output", "{scratch}/out.csv"], setup=writes("empty.csv", b""), message="empty"),
    Fault("predict with --output the input file",
          ["predict", "--model", "{scratch}/half-run", "--input", "{scratch}/in.csv",
           "--output", "{scratch}/in.csv"], setup=_fake_partial_run,
          message="is the --input file"),
    Fault("predict with --output inside the model run",
          ["predict", "--model", "{scratch}/half-run", "--input", "{scratch}/in.csv",
           "--output", "{scratch}/half-run/out.csv"], setup=_fake_partial_run,
          message="inside the --model run folder"),
    Fault("predict with --output a folder",
          ["predict", "--model", "{scratch}/half-run", "--input", "{scratch}/in.csv",
           "--output", "{scratch}"], setup=_fake_partial_run, message="is a folder"),
    Fault("predict with a run that never completed",
          ["predict", "--model", "{scratch}/half-run", "--input", "{scratch}/in.csv",
           "--output", "{scratch}/out.csv"], setup=_fake_partial_run,
          message="not a complete run"),
    Fault("missing config file", ["train", "--config", "configs/nope.yaml"], message="not found"),
    Fault("publish a folder that is not a run", ["publish", "--run-dir", "{scratch}"],
          message="not a complete run"),
]  # fmt: skip
