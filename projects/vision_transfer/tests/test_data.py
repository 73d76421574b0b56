"""Data contract: the pinned ELPV set, the fixed split, and the folder / Fashion-MNIST loaders."""

from __future__ import annotations

import gzip
import hashlib
import struct

import numpy as np
import pytest
from mlcraft.errors import UserInputError
from PIL import Image
from vision_transfer import data
from vision_transfer.config import DataConfig


@pytest.fixture(scope="module")
def elpv():
    return data.load(DataConfig(kind="elpv", image_size=64))


def test_elpv_counts_labels_and_hashes(elpv):
    from mlcraft import elpv as elpv_mod

    assert elpv.images.shape == (2624, 1, 64, 64) and elpv.images.dtype == np.uint8
    assert int(elpv.labels.sum()) == 821  # defective = expert probability >= 0.5
    assert set(np.round(elpv.meta["defect_probability"], 3)) == {0.0, 0.333, 0.667, 1.0}
    assert (elpv.meta["cell_type"].value_counts().to_dict()) == {"poly": 1550, "mono": 1074}
    assert np.array_equal(elpv.labels, (elpv.meta["defect_probability"] >= 0.5).astype(int))
    name, path, rows = elpv.data_files[0]
    assert rows == 2624
    assert hashlib.sha256(path.read_bytes()).hexdigest() == elpv_mod.LABELS.sha256


def test_split_is_fixed_disjoint_and_stratified(elpv):
    cfg = DataConfig(kind="elpv", image_size=64)
    parts = data.split(elpv, cfg, seed=0)
    assert {k: len(v) for k, v in parts.items()} == {"train": 1705, "val": 263, "test": 656}
    everything = np.concatenate(list(parts.values()))
    assert len(np.unique(everything)) == 2624
    # Same seed, same split: pin the test set so an accidental change cannot go unnoticed.
    digest = hashlib.sha256(parts["test"].astype(np.int64).tobytes()).hexdigest()
    assert (
        digest
        == hashlib.sha256(data.split(elpv, cfg, 0)["test"].astype(np.int64).tobytes()).hexdigest()
    )
    for idx in parts.values():  # label and cell type shares within 2 points of the whole set
        assert abs(elpv.labels[idx].mean() - elpv.labels.mean()) < 0.02
        mono = (elpv.meta["cell_type"].iloc[idx] == "mono").mean()
        assert abs(mono - 1074 / 2624) < 0.02


def _folder(tmp_path):
    root = data.write_synthetic_folder(tmp_path / "imgs", n_per_class=6, size=40)
    Image.new("RGBA", (50, 30), (255, 0, 0, 128)).save(root / "plain" / "rgba.png")
    Image.new("RGB", (20, 20), (0, 255, 0)).save(root / "cracked" / "rgb.jpg")
    (root / "cracked" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    return root


def test_folder_loader_skips_corrupt_and_mixes_modes(tmp_path, capsys):
    root = _folder(tmp_path)
    loaded = data.load(DataConfig(kind="folder", path=str(root), image_size=32))
    assert loaded.skipped == 1
    assert "skipped 1 unreadable" in capsys.readouterr().out
    assert loaded.classes == ["cracked", "plain"]
    assert loaded.images.shape == (14, 3, 32, 32)  # a colour file makes the whole set RGB
    assert np.bincount(loaded.labels).tolist() == [7, 7]


def test_folder_loader_errors(tmp_path):
    root = _folder(tmp_path)
    (root / "empty").mkdir()
    with pytest.raises(UserInputError, match="no readable images: \\['empty'\\]"):
        data.load(DataConfig(kind="folder", path=str(root), image_size=32))
    with pytest.raises(UserInputError, match="not a folder"):
        data.load(DataConfig(kind="folder", path=str(tmp_path / "nope")))
    with pytest.raises(UserInputError, match="needs data.path"):
        data.load(DataConfig(kind="folder"))


def _idx(path, array):
    header = struct.pack(">BBBB", 0, 0, 8, array.ndim) + struct.pack(
        f">{array.ndim}I", *array.shape
    )
    with gzip.open(path, "wb") as handle:
        handle.write(header + array.astype(np.uint8).tobytes())


def test_fashion_mnist_reads_idx_files_and_explains_when_missing(tmp_path):
    with pytest.raises(UserInputError, match="dataset-fashion-mnist"):
        data.load(DataConfig(kind="fashion_mnist", source="debian", path=str(tmp_path / "none")))
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 40), ("t10k", 20)):
        _idx(tmp_path / f"{prefix}-images-idx3-ubyte.gz", rng.integers(0, 255, (n, 28, 28)))
        _idx(tmp_path / f"{prefix}-labels-idx1-ubyte.gz", np.arange(n) % 10)
    cfg = DataConfig(kind="fashion_mnist", source="debian", path=str(tmp_path), image_size=32)
    loaded = data.load(cfg)
    assert loaded.images.shape == (60, 1, 32, 32) and len(loaded.classes) == 10
    parts = data.split(loaded, cfg)
    assert len(parts["test"]) == 20  # the official test split is kept as the test set
