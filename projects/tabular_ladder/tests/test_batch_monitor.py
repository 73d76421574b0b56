"""The monitor verb on the smoke run: its own test rows drift little, a shifted copy drifts on
the shifted column; realized metrics appear only when the batch carries the target column; bad
input is one line and exit 2 with no run folder."""

from __future__ import annotations

import pandas as pd
import pytest
from mlcraft.cli import run_cli
from tabular_ladder.__main__ import main
from tabular_ladder.config import ADULT_TARGET
from tabular_ladder.data import load
from tabular_ladder.gating import run_config


@pytest.fixture(scope="module")
def test_rows(smoke_run):
    """The smoke run's own test rows, with the target column as Adult writes it."""
    data = load(run_config(smoke_run[0]).data)
    return data.X_test.assign(**{ADULT_TARGET: [">50K." if y else "<=50K." for y in data.y_test]})


def _monitor(smoke_run, frame, tmp_path, name="batch"):
    source, run_dir = tmp_path / f"{name}.csv", tmp_path / f"monitor-{name}"
    frame.to_csv(source, index=False)
    code = main(["monitor", "--model", str(smoke_run[0]), "--input", str(source),
                 "--run-dir", str(run_dir)])  # fmt: skip
    assert code == 0
    results = run_dir / "results"
    return pd.read_csv(results / "monitor.csv").iloc[0], pd.read_csv(results / "drift.csv"), run_dir


def test_own_test_rows_do_not_drift(smoke_run, test_rows, tmp_path):
    batch = test_rows.drop(columns=ADULT_TARGET).astype({"age": object})
    batch.loc[0, "age"] = "old"  # a row predict would not score: left out and counted
    row, drift, run_dir = _monitor(smoke_run, batch, tmp_path)
    assert row["max_feature_psi"] < 0.1 and row["prediction_psi"] < 0.1
    assert row["drifted_features"] == 0 and row["rows"] == len(test_rows) - 1
    assert "realized_roc_auc" not in row.index  # no labels, no realized metrics
    assert 0.5 < row["estimated_roc_auc"] <= 1 and 0.5 < row["estimated_accuracy"] <= 1
    assert set(drift["feature"]) == set(test_rows.columns) - {ADULT_TARGET}
    report = (run_dir / "REPORT.md").read_text()
    assert "no feature and not the scores drifted" in report and "realized" not in report
    assert "1 row(s) could not be scored" in report


def test_a_shifted_column_drifts_and_labels_give_realized_metrics(smoke_run, test_rows, tmp_path):
    shifted = test_rows.assign(age=test_rows["age"] + 30)
    row, drift, run_dir = _monitor(smoke_run, shifted, tmp_path, "shifted")
    assert row["most_drifted"] == "age" and row["max_feature_psi"] > 1
    assert drift.set_index("feature").loc["age", "drifted"]
    assert drift.set_index("feature").drop(index="age")["psi"].max() < 0.1
    assert 0.5 < row["realized_roc_auc"] <= 1 and 0 <= row["realized_ece"] < 0.5
    assert 0 < row["realized_accuracy"] <= 1
    report = (run_dir / "REPORT.md").read_text()
    assert "feature `age` drifted" in report and "realized on the batch's labels" in report


def test_bad_input_is_one_line_and_no_run_folder(smoke_run, test_rows, tmp_path, capsys):
    source = tmp_path / "bad.csv"
    test_rows.drop(columns="age").to_csv(source, index=False)
    run_dir = tmp_path / "monitor-bad"
    code = run_cli(main, ["monitor", "--model", str(smoke_run[0]), "--input", str(source),
                          "--run-dir", str(run_dir)])  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err and "age" in err
    assert not run_dir.exists() and not run_dir.with_name(run_dir.name + ".partial").exists()
    code = run_cli(main, ["monitor", "--model", str(tmp_path), "--input", str(source)])
    assert code == 2 and "--model" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda rows: rows.assign(**{ADULT_TARGET: (rows[ADULT_TARGET] == ">50K.").astype(int)}),
         "never holds the positive label '>50K'"),  # 0/1 labels would all read as negative
        (lambda rows: rows.head(5), "5 scorable row(s)"),  # PSI and AUC on 5 rows are noise
    ],
)  # fmt: skip
def test_labels_that_cannot_be_read_and_tiny_batches_are_refused(
    smoke_run, test_rows, tmp_path, capsys, change, message
):
    source = tmp_path / "batch.csv"
    change(test_rows).to_csv(source, index=False)
    code = run_cli(main, ["monitor", "--model", str(smoke_run[0]), "--input", str(source),
                          "--run-dir", str(tmp_path / "m")])  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert code == 2 and message in err and "\n" not in err
    assert not (tmp_path / "m").exists()
