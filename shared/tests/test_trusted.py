"""Model files from someone else: exact skops allow-lists and sha256 manifests."""

import builtins

import numpy as np
import pytest
from mlcraft.errors import UserInputError
from mlcraft.trusted import load_skops, verify_manifest, write_manifest

sio = pytest.importorskip("skops.io")


def test_a_crafted_skops_file_is_refused_before_anything_runs(tmp_path, monkeypatch):
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, StandardScaler

    # The attack from the issue: functions that share a prefix with harmless types.
    crafted = make_pipeline(FunctionTransformer(np.ravel), FunctionTransformer(builtins.eval))
    sio.dump(crafted, tmp_path / "prep.skops")
    calls = []
    monkeypatch.setattr(sio, "load", lambda *a, **k: calls.append(a))
    writer_types = {"sklearn.preprocessing._data.StandardScaler"}
    with pytest.raises(UserInputError, match="builtins.eval"):
        load_skops(tmp_path / "prep.skops", writer_types)
    assert calls == []  # refused before skops.load was ever called
    monkeypatch.undo()
    sio.dump(make_pipeline(StandardScaler()).fit(np.ones((3, 2))), tmp_path / "ok.skops")
    assert load_skops(tmp_path / "ok.skops", writer_types).steps[0][0] == "standardscaler"
    (tmp_path / "junk.skops").write_bytes(b"not a zip")
    with pytest.raises(UserInputError, match="not a readable skops file"):
        load_skops(tmp_path / "junk.skops", writer_types)


def test_manifest_catches_a_changed_or_missing_file(tmp_path):
    (tmp_path / "a.bin").write_bytes(b"weights")
    (tmp_path / "b.json").write_text("{}")
    write_manifest(tmp_path, ["a.bin", "b.json"])
    assert set(verify_manifest(tmp_path)) == {"a.bin", "b.json"}
    (tmp_path / "a.bin").write_bytes(b"weightz")
    with pytest.raises(UserInputError, match="a.bin: sha256 differs"):
        verify_manifest(tmp_path)
    (tmp_path / "a.bin").unlink()
    with pytest.raises(UserInputError, match="missing"):
        verify_manifest(tmp_path)
    with pytest.raises(UserInputError, match="no manifest.json"):
        verify_manifest(tmp_path / "b.json")
