"""Deployment: the saved bundle in a complete run folder scores a CSV exactly like the in-memory
model, and refuses input that does not match its schema (naming the column), a file that is not
text, an --output that is a folder, and a folder that is not a complete run."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from mlcraft.calibration import calibrate_prefit
from mlcraft.cli import run_cli
from mlcraft.errors import UserInputError
from mlcraft.runs import open_run
from tabular_ladder.__main__ import main
from tabular_ladder.bundle import load_bundle, save_bundle
from tabular_ladder.config import DataConfig
from tabular_ladder.data import load
from tabular_ladder.models import lightgbm_pipeline


@pytest.fixture(scope="module")
def bundle_dir(tmp_path_factory):
    data = load(DataConfig(max_train_rows=1500, max_test_rows=300))
    X, y = data.X_train, data.y_train
    model = lightgbm_pipeline(data.numeric, data.categorical, {"n_estimators": 40}).fit(
        X.iloc[:1000], y[:1000]
    )
    calibrated = calibrate_prefit(model, X.iloc[1000:], y[1000:], "isotonic")
    run_dir = tmp_path_factory.mktemp("runs") / "train-test"
    with open_run("tabular_ladder", "train", None, run_dir) as run:  # a complete run folder
        save_bundle(run.model, calibrated, X.head(), 0.2, data.sha256, {"cost_fn": 5, "cost_fp": 1})
    return run_dir, calibrated, data


def test_round_trip_matches_in_memory_model(bundle_dir, tmp_path, capsys):
    run_dir, calibrated, data = bundle_dir
    folder = run_dir / "model"
    source = tmp_path / "in.csv"
    data.X_test.assign(extra_column=1).to_csv(source, index=False)  # extra columns are ignored
    out = tmp_path / "out.csv"
    assert main(["predict", "--model", str(run_dir), "--input", str(source),
                 "--output", str(out)]) == 0  # fmt: skip
    scored = pd.read_csv(out)
    assert list(scored.columns) == ["row", "status", "probability", "decision"]
    assert list(scored["row"]) == list(range(len(data.X_test))) and (scored["status"] == "ok").all()
    expected = calibrated.predict_proba(data.X_test)[:, 1]
    np.testing.assert_allclose(scored["probability"], expected, atol=1e-9)
    assert ((scored["probability"] >= 0.2).astype(int) == scored["decision"]).all()
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["data_sha256"] == data.sha256
    assert meta["code_version"]["package"] == "0.1.0" and len(meta["code_version"]["git_sha"]) == 40
    assert [c["name"] for c in meta["schema"]] == list(data.X_train.columns)


def _run_predict(folder, frame, tmp_path, capsys, out=None):
    source, out = tmp_path / "in.csv", out or tmp_path / "out.csv"
    if isinstance(frame, bytes):
        source.write_bytes(frame)
    else:
        frame.to_csv(source, index=False)
    code = run_cli(main, ["predict", "--model", str(folder), "--input", str(source),
                          "--output", str(out)])  # fmt: skip
    captured = capsys.readouterr()
    print(captured.out, end="")  # the printed line stays readable by the test
    return code, captured.err, out


def test_missing_column_is_refused_by_name(bundle_dir, tmp_path, capsys):
    folder, _, data = bundle_dir
    code, err, out = _run_predict(folder, data.X_test.drop(columns=["age"]), tmp_path, capsys)
    assert code == 2 and "missing column(s) ['age']" in _one_line(err) and not out.exists()


def test_bad_rows_keep_their_place_with_a_reason(bundle_dir, tmp_path, capsys):
    """One output row per input row: a mistyped cell or a row without any model column is not
    scored, says why, and the other rows are scored as usual."""
    folder, calibrated, data = bundle_dir
    bad = data.X_test.astype({"hours-per-week": object}).reset_index(drop=True)
    bad.loc[3, "hours-per-week"] = "forty"
    bad.loc[5, :] = np.nan
    code, err, out = _run_predict(folder, bad, tmp_path, capsys)
    assert code == 0, err
    scored = pd.read_csv(out)
    assert list(scored["row"]) == list(range(len(bad)))
    assert scored.loc[3, "status"] == "column 'hours-per-week' not numeric"
    assert scored.loc[5, "status"] == "every model column missing"
    assert scored.loc[[3, 5], "probability"].isna().all()
    good = scored["status"] == "ok"
    assert good.sum() == len(bad) - 2
    expected = calibrated.predict_proba(data.X_test)[:, 1]
    np.testing.assert_allclose(
        scored.loc[good, "probability"], expected[good.to_numpy()], atol=1e-9
    )
    line = capsys.readouterr().out
    assert "not scored: 1 column 'hours-per-week' not numeric, 1 every model column missing" in line


def test_extra_columns_are_named_in_the_printed_line(bundle_dir, tmp_path, capsys):
    folder, _, data = bundle_dir
    code, _, _ = _run_predict(folder, data.X_test.assign(note="x"), tmp_path, capsys)
    assert code == 0
    line = capsys.readouterr().out.strip()
    assert line.endswith("ignored 1 column(s) the model does not use: note")


def test_missing_value_token_comes_from_the_bundle(bundle_dir, tmp_path, capsys):
    """Adult's bundle reads "?" as missing (as in training): the row scores like a NaN row."""
    folder, calibrated, data = bundle_dir
    frame = data.X_test.head(3).copy()
    frame.loc[frame.index[0], "workclass"] = np.nan
    with_token = frame.astype({"workclass": object}).copy()
    with_token.loc[with_token.index[0], "workclass"] = "?"
    code, err, out = _run_predict(folder, with_token, tmp_path, capsys)
    assert code == 0, err
    np.testing.assert_allclose(pd.read_csv(out)["probability"],
                               calibrated.predict_proba(frame)[:, 1], atol=1e-9)  # fmt: skip


@pytest.mark.parametrize("content, message", [
    (b"", "the file is empty"), (b"age,workclass\n", "no data rows"),
    ("age,city\n1,K\xf6ln\n".encode("latin-1"), "not UTF-8"),
])  # fmt: skip
def test_unreadable_input_is_one_line(bundle_dir, tmp_path, capsys, content, message):
    code, err, out = _run_predict(bundle_dir[0], content, tmp_path, capsys)
    assert code == 2 and message in _one_line(err) and not out.exists()


def test_output_may_not_be_the_input_or_inside_the_model_run(bundle_dir, tmp_path, capsys):
    folder, _, data = bundle_dir
    source = tmp_path / "in.csv"
    code, err, _ = _run_predict(folder, data.X_test, tmp_path, capsys, out=source)
    assert code == 2 and "is the --input file" in _one_line(err)
    assert pd.read_csv(source).shape == data.X_test.shape  # the input is untouched
    inside = folder / "results" / "p.csv"
    code, err, _ = _run_predict(folder, data.X_test, tmp_path, capsys, out=inside)
    assert code == 2 and "inside the --model run folder" in _one_line(err)
    assert not inside.exists()


def _one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


def test_binary_input_is_one_line(bundle_dir, tmp_path, capsys):
    blob = b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe" * 50
    code, err, out = _run_predict(bundle_dir[0], blob, tmp_path, capsys)
    assert code == 2 and "--input=" in _one_line(err) and "a binary file" in err
    assert not out.exists()


def test_output_folder_is_one_line(bundle_dir, tmp_path, capsys):
    code, err, _ = _run_predict(bundle_dir[0], bundle_dir[2].X_test, tmp_path, capsys, tmp_path)
    assert code == 2 and "--output=" in _one_line(err) and "is a folder" in err


@pytest.mark.parametrize("make, message", [
    (lambda run: run.parent / "nope", "no such run folder"),
    (lambda run: run / "model", "not a complete run folder"),  # the model/ folder, not the run
    (lambda run: run.parent, "not a complete run folder"),
])  # fmt: skip
def test_model_must_be_a_complete_run(bundle_dir, tmp_path, capsys, make, message):
    code, err, out = _run_predict(make(bundle_dir[0]), bundle_dir[2].X_test, tmp_path, capsys)
    assert code == 2 and message in _one_line(err) and not out.exists()


def test_incomplete_bundle_is_refused(tmp_path):
    with pytest.raises(UserInputError, match="not a complete model bundle"):
        load_bundle(tmp_path)


def test_bundle_loads_only_allow_listed_types(bundle_dir):
    import skops.io as sio
    from tabular_ladder.bundle import TRUSTED_TYPES

    bundle = load_bundle(bundle_dir[0] / "model")
    assert type(bundle.prep).__module__.startswith("sklearn.")
    for name in ("prep.skops", "calibrator.skops"):  # the writer's types are all allow-listed
        assert set(sio.get_untrusted_types(file=bundle_dir[0] / "model" / name)) <= TRUSTED_TYPES


def _tampered_copy(run_dir, tmp_path, prep, rewrite_manifest: bool):
    import shutil

    import skops.io as sio
    from mlcraft.trusted import write_manifest
    from tabular_ladder.bundle import FILES

    copy = tmp_path / "shared-run"
    shutil.copytree(run_dir, copy)
    sio.dump(prep, copy / "model" / "prep.skops")
    if rewrite_manifest:  # an attacker can rewrite the manifest too: the allow-list still holds
        write_manifest(copy / "model", list(FILES))
    return copy


def test_a_crafted_bundle_is_refused_before_it_runs(bundle_dir, tmp_path, capsys, monkeypatch):
    """The issue's attack: a prep.skops whose Pipeline calls numpy and builtins functions that a
    prefix allow-list trusted. predict must refuse it without loading it."""
    import builtins

    import skops.io as sio
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    run_dir, _, data = bundle_dir
    crafted = make_pipeline(FunctionTransformer(np.full_like), FunctionTransformer(np.ravel),
                            FunctionTransformer(builtins.min), FunctionTransformer(builtins.eval))  # fmt: skip
    loads = []
    real_load = sio.load
    monkeypatch.setattr(sio, "load", lambda *a, **k: loads.append(a) or real_load(*a, **k))

    changed = _tampered_copy(run_dir, tmp_path / "a", crafted, rewrite_manifest=False)
    code, err, out = _run_predict(changed, data.X_test, tmp_path, capsys)
    assert code == 2 and "prep.skops: sha256 differs from manifest.json" in err
    assert not out.exists() and loads == []

    forged = _tampered_copy(run_dir, tmp_path / "b", crafted, rewrite_manifest=True)
    code, err, out = _run_predict(forged, data.X_test, tmp_path, capsys)
    assert code == 2 and "refusing to load types" in err and "builtins.eval" in err
    assert "numpy.full_like" in err and not out.exists() and loads == []


def test_rows_are_keyed_by_the_id_column_the_model_names(bundle_dir, tmp_path, capsys):
    _, calibrated, data = bundle_dir
    run_dir = tmp_path / "runs" / "train-id"
    with open_run("tabular_ladder", "train", None, run_dir) as run:
        save_bundle(run.model, calibrated, data.X_train.head(), 0.2, data.sha256,
                    {"cost_fn": 5, "cost_fp": 1, "id_column": "customer"})  # fmt: skip
    frame = data.X_test.head(4).assign(customer=["c7", "c3", "c9", "c1"])
    code, err, out = _run_predict(run_dir, frame, tmp_path, capsys)
    assert code == 0, err
    assert list(pd.read_csv(out)["customer"]) == ["c7", "c3", "c9", "c1"]
    assert "ignored" not in capsys.readouterr().out  # the id column is not an unused column
    code, err, _ = _run_predict(run_dir, frame.drop(columns="customer"), tmp_path, capsys)
    assert code == 2 and "missing the id column 'customer'" in _one_line(err)
