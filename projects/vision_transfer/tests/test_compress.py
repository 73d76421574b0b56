"""`compress` on the smoke run: one ONNX file with torch parity, an INT8 copy, the variant table."""

import json

import numpy as np
import pandas as pd
import pytest
from conftest import snapshot
from fastapi.testclient import TestClient
from mlcraft.cli import run_cli
from mlcraft.errors import UserInputError
from mlcraft.serve import create_app
from mlcraft.trusted import verify_manifest
from vision_transfer.__main__ import main
from vision_transfer.gating import gate_scores, png_base64, request_rows
from vision_transfer.serving import served_model


def test_compress_exports_with_parity_and_scores_every_variant(smoke_run, tmp_path, capsys):
    run = smoke_run["run"]
    before = snapshot(run)
    out = tmp_path / "compress"
    assert main(["compress", "--model", str(run), "--run-dir", str(out)]) == 0
    assert snapshot(run) == before  # the train run is only read
    verify_manifest(out / "model")  # model.onnx, model.int8.onnx and source.json, hashed
    meta = json.loads((out / "results" / "compress" / "compress.json").read_text())
    assert {"model_run", "model_config", "git_sha", "git_dirty", "hardware"} <= set(meta)
    assert meta["model_run"] == run.name and meta["parity_max_abs_logit_diff"] < 1e-4
    table = pd.read_csv(out / "results" / "compress" / "compress.csv")
    assert table["variant"].tolist() == ["torch-fp32", "onnx-fp32", "onnx-int8"] * 2
    assert table["split"].tolist() == ["validation"] * 3 + ["test"] * 3
    test = table[table["split"] == "test"].set_index("variant")
    # fp32 ONNX decides as torch does; INT8 is smaller
    assert test.loc["onnx-fp32", "accuracy"] == test.loc["torch-fp32", "accuracy"]
    assert test.loc["onnx-int8", "size_mb"] < test.loc["onnx-fp32", "size_mb"] / 2
    assert "parity: max |logit diff|" in capsys.readouterr().out
    # serve: the compress run answers through onnxruntime as the train run does through torch
    rows = {"rows": [{"image_base64": png_base64(image)} for image in _cells(run)]}
    torch_client = TestClient(create_app(served_model(str(run))))
    onnx_model = served_model(str(out))
    assert onnx_model.metadata["format"] == "onnx" and onnx_model.metadata["train_run"] == run.name
    native = torch_client.post("/predict", json=rows).json()["predictions"]
    served = TestClient(create_app(onnx_model)).post("/predict", json=rows).json()["predictions"]
    assert [r["label"] for r in served] == [r["label"] for r in native]
    for a, b in zip(served, native, strict=True):
        for name, p in a["probabilities"].items():
            assert abs(p - b["probabilities"][name]) < 1e-4
    # gate and loadtest: the compress run is scored on its train run's test split, as it decides
    y_onnx, decided_onnx, slices_onnx = gate_scores(str(out))
    y_run, decided_run, slices_run = gate_scores(str(run))
    assert list(y_onnx) == list(y_run) and list(decided_onnx) == list(decided_run)
    assert slices_onnx.equals(slices_run) and request_rows(str(out), 2) == request_rows(str(run), 2)


def _cells(run, n: int = 4):
    """A few images of the run's own size (uint8, C x S x S)."""
    meta = json.loads((run / "model" / "model.json").read_text())
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (n, meta["channels"], meta["image_size"], meta["image_size"]),
                        dtype=np.uint8)  # fmt: skip


def test_serve_refuses_a_compress_run_whose_train_run_changed(smoke_run, tmp_path, capsys):
    import shutil

    train = tmp_path / "train"
    shutil.copytree(smoke_run["run"], train)
    out = tmp_path / "compress"
    assert main(["compress", "--model", str(train), "--run-dir", str(out), "--max-rows", "8"]) == 0
    (train / "model" / "model.json").write_text("{}")
    with pytest.raises(UserInputError, match="manifest|sha256|changed"):
        served_model(str(out))


def test_compress_refuses_a_bad_max_rows_before_making_a_folder(smoke_run, tmp_path, capsys):
    out = tmp_path / "never"
    code = run_cli(main, ["compress", "--model", str(smoke_run["run"]), "--run-dir", str(out),
                          "--max-rows", "0"])  # fmt: skip
    assert code == 2 and not out.exists()
    assert "--max-rows=0: must be positive" in capsys.readouterr().err
