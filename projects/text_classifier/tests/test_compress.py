"""The compress verb on the smoke run: one ONNX file with torch parity, an INT8 copy, the variant
table, and `serve` answering from the INT8 model."""

import json
import shutil

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from mlcraft.calibration import softmax_with_temperature
from mlcraft.cli import run_cli
from mlcraft.serve import create_app
from mlcraft.trusted import verify_manifest, write_manifest
from text_classifier.__main__ import main
from text_classifier.predict import load_predictor
from text_classifier.serving import served_model

ROWS = 40  # --max-rows: seconds, not minutes
PARITY_BOUND = 1e-4  # fp32 torch vs fp32 onnxruntime: same arithmetic up to kernel order


@pytest.fixture(scope="module")
def compressed(smoke_run, tmp_path_factory):
    run = smoke_run[1]
    out = tmp_path_factory.mktemp("compress") / "run"
    args = ["compress", "--model", str(run), "--run-dir", str(out), "--max-rows", str(ROWS)]
    assert main(args) == 0
    return run, out


def test_compress_writes_the_variant_table_and_a_bounded_parity(compressed):
    run, out = compressed
    results = out / "results" / "compress"
    meta = json.loads((results / "compress.json").read_text())
    summary = json.loads((run / "results" / "summary.json").read_text())
    assert meta["model_run"] == run.name and meta["model_config"] == summary["config"]
    assert {"git_sha", "git_dirty", "hardware"} <= set(meta)
    assert 0 <= meta["parity_max_abs_logit_diff"] < PARITY_BOUND
    table = pd.read_csv(results / "compress.csv")
    assert set(zip(table["variant"], table["split"], strict=True)) == {
        (v, s) for v in ("torch-fp32", "onnx-fp32", "onnx-int8") for s in ("validation", "test")
    }
    assert (table["rows"] <= ROWS).all() and (results / "compress.md").is_file()
    size = table.groupby("variant")["size_mb"].first()
    assert size["onnx-int8"] < size["onnx-fp32"] / 2  # int8 weights: about a quarter
    test = table[table["split"] == "test"].set_index("variant")
    assert test.loc["onnx-fp32", "accuracy"] == test.loc["torch-fp32", "accuracy"]
    assert (table[["latency_ms_1_text", "latency_ms_32_texts"]] > 0).all().all()
    assert verify_manifest(out / "model")  # every model file hashed


def test_serve_answers_from_the_int8_model(compressed):
    run, out = compressed
    model = served_model(str(out))
    assert (
        model.metadata["rung"] == "finetune-onnx-int8" and model.metadata["model_run"] == run.name
    )
    texts = ["Lovely dress, fits well", "Terrible fabric, sent it back"]
    response = TestClient(create_app(model)).post(
        "/predict", json={"rows": [{"text": t} for t in texts]}
    )
    assert response.status_code == 200
    served = np.array([list(r["probabilities"].values()) for r in response.json()["predictions"]])
    assert served.sum(axis=1) == pytest.approx(1, abs=1e-5)
    torch_prob, meta = load_predictor(run, "finetune")
    # INT8 moves probabilities a little, never to another model's answers
    assert np.abs(served - torch_prob(texts)).max() < 0.1
    import onnxruntime as ort
    from text_classifier.compress import padded
    from text_classifier.models import load_tokenizer

    sess = ort.InferenceSession(str(out / "model" / "model.int8.onnx"))
    inputs = padded(load_tokenizer(str(run / "model" / "finetune")), texts, meta["max_length"])
    prob = softmax_with_temperature(
        sess.run(["logits"], inputs)[0], meta["decisions"]["finetune"]["temperature"]
    )
    assert served == pytest.approx(prob, abs=1e-5)


def test_a_run_without_the_finetuned_model_is_one_line_and_exit_2(smoke_run, tmp_path, capsys):
    run = smoke_run[1]
    tfidf_only = tmp_path / "tfidf-only"
    (tfidf_only / "model").mkdir(parents=True)
    shutil.copy(run / "run.json", tfidf_only / "run.json")
    meta = json.loads((run / "model" / "meta.json").read_text())
    meta["files"] = {"tfidf": meta["files"]["tfidf"]}
    (tfidf_only / "model" / "meta.json").write_text(json.dumps(meta))
    write_manifest(tfidf_only / "model", ["meta.json"])  # a run as train writes it
    args = ["compress", "--model", str(tfidf_only), "--run-dir", str(tmp_path / "c")]
    assert run_cli(main, args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "saved no fine-tuned model" in err[0]
    assert not (tmp_path / "c").exists()


def test_a_bad_max_rows_is_refused_before_anything_is_written(smoke_run, tmp_path, capsys):
    args = ["compress", "--model", str(smoke_run[1]), "--run-dir", str(tmp_path / "c")]
    assert run_cli(main, [*args, "--max-rows", "0"]) == 2
    assert "--max-rows=0" in capsys.readouterr().err
    assert not (tmp_path / "c").exists()


def test_a_compress_run_is_gated_and_loadtested_on_its_train_runs_test_split(compressed):
    from text_classifier.gating import gate_scores, request_rows

    run, out = compressed
    y_int8, decided, _ = gate_scores(str(out))
    y_run, _, _ = gate_scores(str(run))
    assert list(y_int8) == list(y_run) and len(decided) == len(y_run)
    assert request_rows(str(out), 3) == request_rows(str(run), 3)


def test_a_published_compress_part_renders_in_the_operator_notes(compressed, tmp_path):
    from text_classifier.report import blocks

    run, out = compressed
    results = tmp_path / "results"
    shutil.copytree(run / "results", results)
    assert "compress" not in blocks(results)  # a train run alone has no compress block
    shutil.copytree(out / "results" / "compress", results / "compress")
    block = blocks(results)["compress"]
    assert run.name in block and "| onnx-int8 | test |" in block
    # what INT8 did, said in words from the test rows: the accuracy change and the refit's ECE
    assert "onnx-int8 on " in block and " for torch-fp32 (" in block
    assert "with a temperature re-fitted on validation (T = " in block
