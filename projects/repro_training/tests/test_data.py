import numpy as np
import pytest
from mlcraft.errors import UserInputError
from repro_training import data
from repro_training.config import DataConfig


@pytest.fixture(scope="module")
def digits():
    return data.load(DataConfig(name="digits"))


def test_digits_contract(digits):
    assert digits.x_train.dtype == np.uint8 and digits.x_train.shape[1:] == (8, 8)
    assert len(digits.y_train) + len(digits.y_test) == 1797
    assert abs(len(digits.y_test) / 1797 - 0.25) < 0.01
    assert set(np.unique(digits.y_test)) == set(range(10))  # stratified: every class in test
    assert len(digits.files["digits"]["sha256"]) == 64


def test_split_is_fixed_and_digest_changes_with_it(digits):
    again = data.load(DataConfig(name="digits", split_seed=0, test_fraction=0.25))
    other = data._load_cached(DataConfig(name="digits", split_seed=1).model_dump_json())
    assert again.digest == digits.digest
    assert other.digest != digits.digest


def test_elpv_contract():
    split = data.load(DataConfig(name="elpv", size=64))
    assert split.x_train.shape[1:] == (64, 64)
    assert len(split.y_train) + len(split.y_test) == 2624
    assert set(np.unique(split.y_train)) == {0, 1}
    assert set(split.test_groups) == {"mono", "poly"}
    # stratified by label x cell type: the defect rate agrees between train and test
    assert abs(split.y_train.mean() - split.y_test.mean()) < 0.01


def test_sampler_order_is_a_function_of_seed_and_epoch():
    a, b = data.EpochSampler(100, 10, seed=3), data.EpochSampler(100, 10, seed=3)
    assert np.array_equal(a.order(2), b.order(2))
    assert not np.array_equal(a.order(2), a.order(3))
    assert [s for s, _ in a.batches(0, start_step=4)] == list(range(4, 10))


def test_ddp_shards_cover_the_global_batch():
    single = data.EpochSampler(100, 10, seed=0)
    ranks = [data.EpochSampler(100, 10, seed=0, rank=r, world_size=2) for r in (0, 1)]
    shards = zip(single.batches(1), *(r.batches(1) for r in ranks), strict=True)
    for (_, full), (_, r0), (_, r1) in shards:
        assert np.array_equal(np.concatenate([r0, r1]), full)


def test_bad_inputs_are_clear_errors(tmp_path):
    with pytest.raises(UserInputError, match="Fashion-MNIST not found"):
        data.load(DataConfig(name="fashion_mnist", fashion_mnist_dir=str(tmp_path)))
    with pytest.raises(UserInputError, match="divisible"):
        data.EpochSampler(100, 10, seed=0, world_size=3)
    with pytest.raises(UserInputError, match="exceeds"):
        data.EpochSampler(5, 10, seed=0)


def _npz(path, **arrays):
    np.savez(path, **arrays)
    return str(path)


def test_your_own_images_as_npz(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (60, 12, 12), dtype=np.uint8)
    y = np.array(["ok", "crack", "ok"] * 20)
    groups = np.array(["a", "b"] * 30)
    path = _npz(tmp_path / "mine.npz", x=x, y=y, g=groups)
    split = data.load(DataConfig(name="npz", path=path, group_key="g"))
    assert split.classes == ["crack", "ok"] and split.x_train.shape[1:] == (12, 12)
    assert len(split.y_train) + len(split.y_test) == 60 and len(split.y_test) == 15
    assert set(split.test_groups) == {"a", "b"}
    assert len(split.files["npz"]["sha256"]) == 64


@pytest.mark.parametrize(
    ("arrays", "overrides", "message"),
    [
        ({"x": np.zeros((10, 4, 4), np.uint8), "y": np.ones(10, int)}, {}, "one class only"),
        ({"x": np.zeros((10, 4, 4), np.uint8), "y": np.arange(10) % 2}, {"y_key": "label"},
         "data.y_key=label: no such array"),
        ({"x": np.zeros((10, 4, 4), np.float32), "y": np.arange(10) % 2}, {},
         "data.x_key=x: expected uint8"),
        ({"x": np.zeros((10, 4, 4), np.uint8), "y": np.arange(9) % 2}, {},
         "one value per image"),
        ({"x": np.zeros((10, 4, 4), np.uint8), "y": np.array([0] * 9 + [1])}, {},
         "cannot split"),
    ],
)  # fmt: skip
def test_npz_problems_are_one_line_naming_the_key(tmp_path, arrays, overrides, message):
    path = _npz(tmp_path / "d.npz", **arrays)
    with pytest.raises(UserInputError, match=message):
        data.load(DataConfig(name="npz", path=path, **overrides))


def test_npz_file_problems(tmp_path):
    (tmp_path / "empty.npz").write_bytes(b"")
    (tmp_path / "junk.npz").write_bytes(b"not a zip file at all")
    np.save(tmp_path / "one.npy", np.zeros(3))
    cases = [(None, "data.path: required"), (tmp_path / "nope.npz", "no such file"),
             (tmp_path, "is a folder"), (tmp_path / "empty.npz", "empty"),
             (tmp_path / "junk.npz", "not a NumPy .npz"), (tmp_path / "one.npy", "single .npy")]  # fmt: skip
    for path, message in cases:
        with pytest.raises(UserInputError, match=message):
            data.load(DataConfig(name="npz", path=None if path is None else str(path)))
