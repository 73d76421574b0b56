"""ONNX export, parity and INT8 quantization on a small trained MLP (seconds, CPU)."""

import numpy as np
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
