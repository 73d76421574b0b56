"""Pre-flight: every column and key the config names is checked against the data before any
folder is made or anything is fitted; each failure is one line naming the key and the value."""

from __future__ import annotations

from pathlib import Path

import pytest
from mlcraft.cli import run_cli
from tabular_ladder.__main__ import main
from tabular_ladder.config import load
from tabular_ladder.faults import good_csv

PROJECT = Path(__file__).resolve().parents[1]
SMOKE = str(PROJECT / "configs" / "smoke.yaml")
CSV = ["data.source=csv", "data.target=y", "analyses.slices=[]", "analyses.monotone={}",
       "flights.enabled=false"]  # fmt: skip


@pytest.fixture
def runs(tmp_path, monkeypatch):
    monkeypatch.setenv("MLCRAFT_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'runs' / 'mlflow.db'}")
    (tmp_path / "good.csv").write_bytes(good_csv())
    return tmp_path / "runs"


def _train(runs: Path, capsys, *overrides: str, verb: str = "train", extra=()) -> str:
    argv = [verb, "--config", SMOKE, *extra, "--set", *overrides] if overrides else [verb,
            "--config", SMOKE, *extra]  # fmt: skip
    code = run_cli(main, argv)
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert len(err.splitlines()) == 1 and err.startswith("error: "), err
    assert not runs.exists(), "pre-flight made a folder"
    return err


@pytest.mark.parametrize("overrides, message", [
    (["analyses.slices=[gender,region]"], "analyses.slices: 'region' not among the feature"),
    (["data.drop=[age]"], "analyses.slices: 'age_band' needs column 'age'"),
    (["analyses.monotone={tenure: 1}"], "analyses.monotone: 'tenure' not among the feature"),
    (["analyses.monotone={education: 1}"], "analyses.monotone: 'education' is not a numeric"),
    (["data.drop=[ghost]"], "data.drop=['ghost']: column(s) ['ghost'] not in data"),
    (["data.path=my.csv"], "data.path=my.csv is set but data.source is 'adult'"),
    (["data.target=label"], "data.target=label: data.source 'adult' has the fixed value"),
    (["data.time_column=age"], "data.time_column=age: data.source 'adult' uses its canonical"),
])  # fmt: skip
def test_adult_config_errors(runs, capsys, overrides, message):
    assert message in _train(runs, capsys, *overrides)


@pytest.mark.parametrize("overrides, message", [
    (["data.target=label"], "data.target=label: not in data (columns: x, colour, when, y)"),
    (["data.time_column=colour"], "data.time_column=colour: does not parse as dates"),
    (["data.time_column=ghost"], "data.time_column=ghost: not in data"),
    (["data.drop=[ghost]"], "data.drop=['ghost']: column(s) ['ghost'] not in data"),
    (["analyses.slices=[region]"], "analyses.slices: 'region' not among the feature columns"),
    (["data.target=colour", "data.positive_label=yes"],
     "data.positive_label='yes' never occurs in data.target=colour (values: red: 40, "),
    (["data.target=colour"], "data.target=colour: the column is not numeric"),
])  # fmt: skip
def test_csv_config_errors(runs, capsys, overrides, message):
    path = f"data.path={runs.parent / 'good.csv'}"
    assert message in _train(runs, capsys, *CSV, path, *overrides)


def test_one_class_target_shows_the_counts(runs, capsys):
    (runs.parent / "one.csv").write_text("x,y\n1,1\n2,1\n3,1\n")
    err = _train(runs, capsys, *CSV, f"data.path={runs.parent / 'one.csv'}")
    assert err == "error: data.target=y: only one class (1: 3); a classifier needs at least two"


def test_evaluate_needs_a_complete_run(runs, capsys, tmp_path):
    (tmp_path / "half.partial" / "model").mkdir(parents=True)
    for model in (tmp_path / "nope", tmp_path / "half.partial", tmp_path):
        err = _train(runs, capsys, verb="evaluate", extra=["--model", str(model)])
        assert err.startswith(f"error: --model={model}: ")


def test_search_and_evaluate_check_the_data_too(runs, capsys, tmp_path):
    err = _train(runs, capsys, "data.path=my.csv", verb="search")
    assert "data.path=my.csv is set but data.source is 'adult'" in err


@pytest.mark.parametrize("typed, expected", [
    ("yes", "yes"), ("Yes", "Yes"), ("no", "no"), ("on", "on"), ("true", "true"), ("1", "1"),
    ("'0'", "0"), (">50K", ">50K"), ("null", None),
])  # fmt: skip
def test_positive_label_keeps_what_was_typed(typed, expected):
    config = load(SMOKE, [f"data.positive_label={typed}"])
    assert config.data.positive_label == expected


def test_positive_label_from_a_yaml_file(tmp_path):
    (tmp_path / "c.yaml").write_text("data:\n  source: csv\n  positive_label: yes\n")
    assert load(tmp_path / "c.yaml").data.positive_label == "yes"
    (tmp_path / "c.yaml").write_text("data:\n  source: csv\n  positive_label: 1\n")
    assert load(tmp_path / "c.yaml").data.positive_label == "1"


def test_positive_label_yes_trains_on_a_yes_no_column(runs, tmp_path):
    """`--set data.positive_label=yes` is not rejected as a boolean: pre-flight accepts it."""
    import argparse

    from tabular_ladder.preflight import preflight

    lines = ["x,answer"] + [f"{i},{'yes' if i % 3 == 0 else 'no'}" for i in range(60)]
    (tmp_path / "yn.csv").write_text("\n".join(lines) + "\n")
    config = load(SMOKE, [*CSV, f"data.path={tmp_path / 'yn.csv'}", "data.target=answer",
                          "data.positive_label=yes"])  # fmt: skip
    data = preflight(config, argparse.Namespace(verb="train", run_dir=None))
    assert data.y_train.sum() + data.y_test.sum() == 20
    assert not runs.exists()


def test_run_dir_checks_come_first(runs, capsys, tmp_path):
    (tmp_path / "taken").mkdir()
    (tmp_path / "afile").write_text("x")
    err = _train(runs, capsys, extra=["--run-dir", str(tmp_path / "taken")])
    assert (
        err
        == f"error: --run-dir={tmp_path / 'taken'}: already exists (a run never overwrites another)"
    )
    err = _train(runs, capsys, extra=["--run-dir", str(tmp_path / "afile" / "run")])
    assert (
        err
        == f"error: --run-dir={tmp_path / 'afile' / 'run'}: {tmp_path / 'afile'} is a file, not a folder"
    )
