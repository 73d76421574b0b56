"""`compress` on the smoke run: one ONNX file with torch parity, an INT8 copy, the variant table."""

import json

import pandas as pd
from conftest import snapshot
from mlcraft.cli import run_cli
from mlcraft.trusted import verify_manifest
from vision_transfer.__main__ import main


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


def test_compress_refuses_a_bad_max_rows_before_making_a_folder(smoke_run, tmp_path, capsys):
    out = tmp_path / "never"
    code = run_cli(main, ["compress", "--model", str(smoke_run["run"]), "--run-dir", str(out),
                          "--max-rows", "0"])  # fmt: skip
    assert code == 2 and not out.exists()
    assert "--max-rows=0: must be positive" in capsys.readouterr().err
