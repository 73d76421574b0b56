"""compress on the smoke run: one ONNX graph whose calibrated probabilities match the native
bundle's, served through onnxruntime with the same answers; a bad --model is one line, exit 2."""

import json
import shutil

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from mlcraft.cli import run_cli
from mlcraft.errors import UserInputError
from mlcraft.serve import create_app
from tabular_ladder.__main__ import main
from tabular_ladder.bundle import load_bundle
from tabular_ladder.serving import served_model

# The graph computes in float32 (inputs, split thresholds, the sum of leaf values) where LightGBM
# uses float64: on the smoke and reference trees the raw score moves by a few 1e-6 at most and the
# calibration map's slope is below 1, so 1e-5 holds with room to spare. A wrong category code, a
# lost missing value or a sigmoid left on the booster moves probabilities by far more.
PARITY = 1e-5


@pytest.fixture(scope="module")
def compressed(smoke_run, tmp_path_factory):
    run = smoke_run[0]
    target = tmp_path_factory.mktemp("compress") / "run"
    assert main(["compress", "--model", str(run), "--run-dir", str(target)]) == 0
    return run, target


def awkward_rows(bundle) -> pd.DataFrame:
    """Rows the test split may lack: an unseen category, every category missing, numbers missing."""
    row = {
        c["name"]: (40.0 if c["kind"] == "numeric" else "never-seen") for c in bundle.meta["schema"]
    }
    no_categories = {
        c["name"]: (1.0 if c["kind"] == "numeric" else None) for c in bundle.meta["schema"]
    }
    no_numbers = {
        c["name"]: (None if c["kind"] == "numeric" else "x") for c in bundle.meta["schema"]
    }
    return pd.DataFrame([row, no_categories, no_numbers], columns=bundle.columns)  # fmt: skip


def test_compress_writes_the_graph_the_table_and_the_model_config(compressed, smoke_run):
    run, target = compressed
    assert json.loads((target / "run.json").read_text())["verb"] == "compress"
    assert {p.name for p in (target / "model").iterdir()} == {
        "model.onnx", "source.json", "manifest.json"
    }  # fmt: skip
    meta = json.loads((target / "results" / "compress" / "compress.json").read_text())
    assert meta["model_run"] == run.name and meta["model_config"] == smoke_run[1]["config"]
    assert 0 <= meta["parity_max_abs_prob_diff"] <= PARITY
    table = pd.read_csv(target / "results" / "compress" / "compress.csv")
    assert list(table["variant"]) == ["native", "onnx", "onnx-int8"]
    native, onnx, int8 = (table.iloc[i] for i in range(3))
    assert onnx["max_abs_prob_diff"] <= PARITY and onnx["decisions_flipped"] == 0
    assert abs(onnx["roc_auc"] - native["roc_auc"]) < 1e-4 and onnx["size_mb"] > 0
    assert min(onnx["latency_ms_1_rows"], onnx["latency_ms_1000_rows"]) > 0
    assert "not applicable" in int8["note"] and int8[["roc_auc", "size_mb"]].isna().all()
    assert (target / "results" / "compress" / "compress.md").is_file()


def test_onnx_probabilities_match_the_bundle_on_test_and_awkward_rows(compressed):
    from tabular_ladder.compress import load_compressed
    from tabular_ladder.gating import _data, run_config

    run, target = compressed
    bundle = load_bundle(run / "model")
    scorer, train = load_compressed(target)
    assert train == run
    test = _data(run_config(run).model_dump_json()).X_test
    frame = pd.concat([test, awkward_rows(bundle)], ignore_index=True)
    assert frame[bundle.columns].isna().any(axis=None)  # missing values are exercised
    native, onnx = bundle.predict_proba(frame), scorer.predict_proba(frame)
    assert np.max(np.abs(native - onnx)) <= PARITY
    assert np.ptp(native) > 0.1  # the probabilities compared are not one constant


def test_the_onnx_service_answers_as_the_native_one(compressed):
    from tabular_ladder.gating import request_rows

    run, target = compressed
    native = TestClient(create_app(served_model(str(run))))
    onnx = TestClient(create_app(served_model(str(target))))
    rows = request_rows(str(run), 64)
    rows += json.loads(awkward_rows(load_bundle(run / "model")).to_json(orient="records"))
    answers = [c.post("/predict", json={"rows": rows}) for c in (native, onnx)]
    assert [a.status_code for a in answers] == [200, 200]
    expected, got = (a.json()["predictions"] for a in answers)
    assert [p["decision"] for p in got] == [p["decision"] for p in expected]
    # each side is rounded to 6 places, so they may differ by one unit on top of the parity bound
    assert [p["probability"] for p in got] == pytest.approx(
        [p["probability"] for p in expected], abs=PARITY + 1e-6
    )
    bad = onnx.post("/predict", json={"rows": [{**rows[0], "age": "old"}]})
    assert bad.status_code == 422
    meta = onnx.get("/metadata").json()
    assert meta["format"] == "onnx" and meta["model_run"] == run.name
    assert meta["threshold"] == native.get("/metadata").json()["threshold"]
    assert native.get("/metadata").json()["format"] == "lightgbm"


def test_a_changed_graph_or_source_bundle_is_refused(compressed, tmp_path):
    run, target = compressed
    copy = tmp_path / "copy"
    shutil.copytree(target, copy)
    with (copy / "model" / "model.onnx").open("ab") as handle:
        handle.write(b"\0")
    with pytest.raises(UserInputError, match="sha256"):
        served_model(str(copy))
    other = tmp_path / "other-train"
    shutil.copytree(run, other)
    meta = other / "model" / "meta.json"
    meta.write_text(meta.read_text().replace('"threshold"', '"threshold" ', 1))
    from mlcraft.trusted import write_manifest

    write_manifest(other / "model", ["prep.skops", "model.txt", "calibrator.skops", "meta.json"])
    shutil.rmtree(copy)
    shutil.copytree(target, copy)
    source = copy / "model" / "source.json"
    source.write_text(json.dumps({**json.loads(source.read_text()), "model_run": str(other)}))
    write_manifest(copy / "model", ["model.onnx", "source.json"])
    with pytest.raises(UserInputError, match="not the bundle"):
        served_model(str(copy))


@pytest.mark.parametrize("which", ["missing", "not a run", "a compress run"])
def test_a_bad_model_is_one_line_and_exit_2(compressed, tmp_path, capsys, which):
    model = {"missing": tmp_path / "nope", "not a run": tmp_path,
             "a compress run": compressed[1]}[which]  # fmt: skip
    target = tmp_path / "out"
    code = run_cli(main, ["compress", "--model", str(model), "--run-dir", str(target)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("error: --model=") and "\n" not in err, err
    assert not target.exists()


def test_a_compress_run_is_gated_registered_and_promoted_like_its_train_run(
    compressed, tmp_path, monkeypatch, capsys
):
    from tabular_ladder.gating import gate_scores, request_rows

    run, target = compressed
    y_onnx, p_onnx, slices_onnx = gate_scores(str(target))
    y_run, p_run, slices_run = gate_scores(str(run))
    assert list(y_onnx) == list(y_run) and np.abs(p_onnx - p_run).max() <= PARITY
    assert slices_onnx.equals(slices_run)
    assert request_rows(str(target), 3) == request_rows(str(run), 3)
    # the ONNX graph as challenger to the bundle it was made from: the same scores, so it passes
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'registry.db'}")
    assert main(["register", "--model", str(run)]) == 0
    assert main(["register", "--model", str(target)]) == 0
    assert main(["promote"]) == 0
    assert "champion is now version 2" in capsys.readouterr().out
