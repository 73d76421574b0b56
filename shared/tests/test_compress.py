"""ONNX export, parity and INT8 quantization on a small trained MLP (seconds, CPU)."""

import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnxruntime")

from mlcraft.compress import (  # noqa: E402
    export_onnx,
    latency_ms,
    onnx_logits,
    parity,
    quantize_int8,
    session,
    variant_report,
)


@pytest.fixture(scope="module")
def trained():
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(1200, 32)).astype(np.float32)
    y = (x[:, :4].sum(axis=1) > 0).astype(np.int64)
    model = torch.nn.Sequential(torch.nn.Linear(32, 256), torch.nn.ReLU(), torch.nn.Linear(256, 2))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(150):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(
            model(torch.from_numpy(x[:800])), torch.from_numpy(y[:800])
        ).backward()
        optimizer.step()
    return model.eval(), x, y


def test_exported_model_matches_torch_and_takes_any_batch(trained, tmp_path):
    model, x, _ = trained
    path = export_onnx(model, (torch.from_numpy(x[:2]),), tmp_path / "m.onnx", ["features"])
    assert not list(tmp_path.glob("*.data")), "weights must live inside the one file"
    sess = session(path, threads=1)
    with torch.no_grad():
        expected = model(torch.from_numpy(x)).numpy()
    got = onnx_logits(sess, {"features": x}, batch_size=333)  # uneven last batch
    assert got.shape == expected.shape and parity(expected, got) < 1e-4


def test_int8_is_smaller_close_and_reported(trained, tmp_path):
    model, x, y = trained
    fp32 = export_onnx(model, (torch.from_numpy(x[:2]),), tmp_path / "m.onnx", ["features"])
    int8 = quantize_int8(fp32, tmp_path / "m.int8.onnx")
    assert int8.stat().st_size < fp32.stat().st_size / 2
    variants = {}
    for name, path in (("fp32", fp32), ("int8", int8)):
        sess = session(path, threads=1)
        logits = onnx_logits(sess, {"features": x})
        variants[name] = {"val_logits": logits[800:1000], "test_logits": logits[1000:],
                          "size_bytes": path.stat().st_size,
                          "latency_ms": latency_ms(lambda s=sess: s.run(None, {"features": x[:1]}), 5)}  # fmt: skip
    assert parity(variants["fp32"]["test_logits"], variants["int8"]["test_logits"]) < 0.5
    table = variant_report(variants, y[800:1000], y[1000:], temperature=1.0)
    assert table["variant"].tolist() == ["fp32", "int8"]
    assert abs(table["accuracy"].iloc[0] - table["accuracy"].iloc[1]) < 0.05
    assert (table["accuracy"] > 0.85).all() and (table["latency_ms"] > 0).all()


def test_published_block_names_the_model_the_parity_and_the_table(tmp_path):
    import json

    import pandas as pd
    from mlcraft.compress import published_block

    assert published_block(tmp_path) is None  # nothing published: no block
    folder = tmp_path / "compress"
    folder.mkdir()
    pd.DataFrame({"variant": ["native", "onnx"], "roc_auc": [0.9276, 0.9276]}).to_csv(
        folder / "compress.csv", index=False
    )
    (folder / "compress.json").write_text(json.dumps({
        "model_run": "reference-x", "git_sha": "abcdef123", "parity_rows": 100,
        "parity_max_abs_prob_diff": 2.7e-7, "hardware": {"cpu_count": 2, "cpu_model": "cpu"},
    }))  # fmt: skip
    block = published_block(tmp_path)
    assert "Model run reference-x (git abcdef1) on 2 cores (cpu)" in block
    assert "max |probability difference| against the original 2.7e-07" in block
    assert "| onnx | 0.9276 |" in block


def _variants(int8_ece: float, int8_refit: float) -> pd.DataFrame:
    """A split_report table: torch-fp32 and onnx-int8 on validation and test."""
    return pd.DataFrame({
        "variant": ["torch-fp32", "onnx-int8"] * 2, "split": ["validation"] * 2 + ["test"] * 2,
        "rows": [263, 263, 656, 656], "accuracy": [0.88, 0.84, 0.8582, 0.8003],
        "ece": [0.0346, 0.0545, 0.0206, int8_ece],
        "ece_refit_temperature": [0.0346, 0.0575, 0.0206, int8_refit],
        "temperature_refit": [1.2648, 1.2293, 1.2648, 1.2293],
    })  # fmt: skip


@pytest.mark.parametrize(
    ("int8_ece", "int8_refit", "verdict"),
    [
        (0.0309, 0.0304, "re-fitting did not restore calibration (it closed 5% of the gap)"),
        (0.0309, 0.0200, "re-fitting restored calibration"),
        (0.0309, 0.0320, "re-fitting did not restore calibration (the ECE rose)"),
        (
            0.0190,
            0.0210,
            "quantization did not worsen calibration, so there was nothing to restore",
        ),
    ],
)
def test_the_int8_summary_is_computed_from_the_test_rows(int8_ece, int8_refit, verdict):
    from mlcraft.compress import int8_summary

    summary = int8_summary(_variants(int8_ece, int8_refit))
    assert summary.startswith(
        "onnx-int8 on 656 test rows: accuracy 0.8003 against 0.8582 for torch-fp32 (-0.0579). "
        f"Its ECE is {int8_ece:.4f} with the deployed temperature (torch-fp32: 0.0206) and "
        f"{int8_refit:.4f} with a temperature re-fitted on validation (T = 1.2293): "
    )
    assert summary.endswith(f": {verdict}.")


def test_no_int8_summary_without_a_scored_int8_row(tmp_path):
    import json

    from mlcraft.compress import int8_summary, published_block

    unscored = _variants(0.03, 0.02)
    unscored.loc[unscored["variant"] == "onnx-int8", "accuracy"] = None  # a tree ensemble's row
    assert int8_summary(unscored) is None
    assert int8_summary(pd.DataFrame({"variant": ["native"], "roc_auc": [0.9]})) is None
    folder = tmp_path / "compress"
    folder.mkdir()
    (folder / "compress.json").write_text(json.dumps({"model_run": "r", "git_sha": "abc"}))
    for table, said in ((unscored, False), (_variants(0.0309, 0.0304), True)):
        table.to_csv(folder / "compress.csv", index=False)
        assert ("onnx-int8 on 656 test rows: accuracy" in published_block(tmp_path)) is said
