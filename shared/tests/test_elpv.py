import numpy as np
import pytest
from mlcraft import elpv
from mlcraft.errors import UserInputError


def test_index_contract():
    frame = elpv.load_index()
    assert len(frame) == 2624
    assert frame["cell_type"].value_counts().to_dict() == {"poly": 1550, "mono": 1074}
    assert sorted(frame["defect_probability"].round(4).unique()) == [0.0, 0.3333, 0.6667, 1.0]
    # Defective = probability >= 0.5: 715 certain + 106 at 2/3.
    assert frame["defective"].sum() == 821


def test_arrays_are_cached_and_resized(tmp_path):
    images, frame = elpv.load_arrays(16, cache_dir=tmp_path)
    assert images.shape == (2624, 16, 16) and images.dtype == np.uint8
    assert len(list(tmp_path.glob("elpv-16px-*.npy"))) == 1
    again, _ = elpv.load_arrays(16, cache_dir=tmp_path)
    np.testing.assert_array_equal(images, again)
    # Real EL images, not blank frames.
    assert images.std() > 10
    with pytest.raises(UserInputError, match="between 8 and 300"):
        elpv.load_arrays(4, cache_dir=tmp_path)
