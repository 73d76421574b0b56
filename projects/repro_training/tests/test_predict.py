"""predict: one row per input image with a status, bad input as one line and no file, and model
files checked against their sha256 before anything is loaded."""

import io
import json
import pickle

import numpy as np
import pandas as pd
import pytest
from mlcraft.cli import run_cli
from repro_training.__main__ import main
from repro_training.config import Config


@pytest.fixture(scope="module")
def model_run(tmp_path_factory):
    """A finished single run of a tiny digits model (8x8 images, 10 classes)."""
    from repro_training.train import fit

    cfg = Config.model_validate({
        "seeds": [0], "tracking": False,
        "data": {"name": "digits", "max_train": 128},
        "model": {"widths": [4], "stem_stride": 1},
        "train": {"epochs": 1, "batch_size": 32, "base_batch_size": 32, "threads": 1},
    })  # fmt: skip
    return fit(cfg, 0, tmp_path_factory.mktemp("predict") / "model").run_dir


def _images(n: int, dtype=np.uint8) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (n, 8, 8)).astype(dtype)


def _predict(model_run, input_path, output_path) -> int:
    argv = ["predict", "--model", str(model_run), "--input", str(input_path),
            "--output", str(output_path)]  # fmt: skip
    return run_cli(main, argv)


def test_one_row_per_image_with_the_reason_for_each_unscored_one(model_run, tmp_path, capsys):
    x = _images(5, np.float32)
    x[1, 0, 0] = np.nan
    x[3, 2, 2] = 300.0
    np.save(tmp_path / "x.npy", x)
    assert _predict(model_run, tmp_path / "x.npy", tmp_path / "p.csv") == 0
    assert "5 rows" in capsys.readouterr().out
    table = pd.read_csv(tmp_path / "p.csv")
    assert table["index"].tolist() == [0, 1, 2, 3, 4]
    assert table["status"].tolist() == [
        "ok", "non-finite values", "ok", "values outside 0-255", "ok",
    ]  # fmt: skip
    probs = table.filter(like="p_")
    assert probs.shape[1] == 10
    assert probs.iloc[[1, 3]].isna().all().all()
    np.testing.assert_allclose(probs.iloc[[0, 2, 4]].sum(axis=1), 1, atol=1e-4)


def test_float_images_score_like_the_same_uint8_images(model_run, tmp_path):
    x = _images(4)
    np.save(tmp_path / "u8.npy", x)
    np.save(tmp_path / "f32.npy", x.astype(np.float32))
    assert _predict(model_run, tmp_path / "u8.npy", tmp_path / "a.csv") == 0
    assert _predict(model_run, tmp_path / "f32.npy", tmp_path / "b.csv") == 0
    assert (tmp_path / "a.csv").read_text() == (tmp_path / "b.csv").read_text()


def _npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def _save_pickled(path):
    np.save(path, np.array([{"a": 1}, None], dtype=object), allow_pickle=True)


BAD_INPUTS = [
    ("x.png", lambda p: p.write_bytes(_npy_bytes(_images(2))), "not a .npy file"),
    ("x.npy", lambda p: p.write_bytes(b"\x00\x01garbage" * 50), "no NumPy header"),
    ("x.npy", _save_pickled, "pickled Python objects"),
    ("x.npy", lambda p: np.save(p, np.zeros((0, 8, 8), np.uint8)), "empty array"),
    ("x.npy", lambda p: np.save(p, np.zeros((2, 9, 9), np.uint8)), "shape (n, 8, 8)"),
    ("x.npy", lambda p: np.save(p, np.zeros((2, 64), np.uint8)), "shape (n, 8, 8)"),
    ("x.npy", lambda p: np.save(p, np.array(["a", "b"])), "numeric images"),
    ("x.npy", lambda p: p.write_bytes(b""), "the file is empty"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "write", "message"), BAD_INPUTS)
def test_bad_input_file_is_one_line_and_no_output(model_run, tmp_path, capsys, name, write,
                                                  message):  # fmt: skip
    write(tmp_path / name)
    assert _predict(model_run, tmp_path / name, tmp_path / "p.csv") == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "p.csv").exists()


def test_pickled_input_is_never_unpickled(model_run, tmp_path, capsys, monkeypatch):
    _save_pickled(tmp_path / "x.npy")
    monkeypatch.setattr(pickle, "load", lambda *a, **k: pytest.fail("unpickled the input"))
    assert _predict(model_run, tmp_path / "x.npy", tmp_path / "p.csv") == 2


def test_bad_output_is_one_line_and_leaves_everything_as_it_was(model_run, tmp_path, capsys):
    np.save(tmp_path / "x.npy", _images(2))
    before = (tmp_path / "x.npy").read_bytes()
    cases = [
        (tmp_path, "is a folder"),
        (tmp_path / "x.npy", "is the --input file"),
        (model_run / "p.csv", "inside the --model run folder"),
    ]
    for output, message in cases:
        assert _predict(model_run, tmp_path / "x.npy", output) == 2
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1, err
    assert (tmp_path / "x.npy").read_bytes() == before
    assert not (model_run / "p.csv").exists()


def test_a_swapped_byte_in_a_model_file_is_refused_before_loading(model_run, tmp_path, capsys):
    np.save(tmp_path / "x.npy", _images(2))
    manifest = json.loads((model_run / "manifest.json").read_text())
    assert set(manifest["sha256"]) == {"config.yaml", "weights.pt", "metrics.json"}
    weights = model_run / "weights.pt"
    original = weights.read_bytes()
    swapped = bytearray(original)
    swapped[len(swapped) // 2] ^= 0xFF
    weights.write_bytes(bytes(swapped))
    try:
        assert _predict(model_run, tmp_path / "x.npy", tmp_path / "p.csv") == 2
        err = capsys.readouterr().err
        assert "weights.pt: sha256 differs" in err and len(err.strip().splitlines()) == 1, err
        assert not (tmp_path / "p.csv").exists()
    finally:
        weights.write_bytes(original)
    assert _predict(model_run, tmp_path / "x.npy", tmp_path / "p.csv") == 0


def test_a_model_without_pinned_hashes_is_refused(model_run, tmp_path, capsys):
    np.save(tmp_path / "x.npy", _images(2))
    path = model_run / "manifest.json"
    original = path.read_text()
    manifest = json.loads(original)
    del manifest["sha256"]
    path.write_text(json.dumps(manifest))
    try:
        assert _predict(model_run, tmp_path / "x.npy", tmp_path / "p.csv") == 2
        assert "pins no sha256" in capsys.readouterr().err
    finally:
        path.write_text(original)
