"""Points as grey images and mosaics (chaossim.plotting.images), against direct constructions."""
import numpy as np
import pytest

from chaossim.data import Dataset
from chaossim.errors import DataError
from chaossim.plotting import mosaic, to_grey


def test_to_grey_is_the_inverse_data_map():
    x = np.linspace(-1, 1, 12).reshape(2, 6)
    ds = Dataset("toy", x.astype(np.float32), x.astype(np.float32), (2, 3), "test")
    np.testing.assert_allclose(to_grey(x, (2, 3)), ds.to_image(x), atol=1e-7)
    assert to_grey(np.array([[-1.0, 1.0]]), (1, 2)).tolist() == [[[0.0, 1.0]]]
    assert to_grey(np.array([[-3.0, 3.0]]), (1, 2)).tolist() == [[[0.0, 1.0]]]  # clipped
    with pytest.raises(DataError, match="image shape 2x2 needs 4"):
        to_grey(x, (2, 2))


def test_mosaic_tiles_row_major_with_gaps():
    imgs = np.arange(5 * 2 * 3, dtype=float).reshape(5, 2, 3)
    m = mosaic(imgs, n_cols=2, gap=1, fill=-1.0)
    assert m.shape == (3 * 2 + 2, 2 * 3 + 1)
    for k in range(5):
        r, c = divmod(k, 2)
        np.testing.assert_array_equal(m[3 * r:3 * r + 2, 4 * c:4 * c + 3], imgs[k])
    assert np.all(m[2, :] == -1.0) and np.all(m[:, 3] == -1.0)
    assert np.all(m[6:8, 4:7] == -1.0)  # the empty sixth slot
    assert mosaic(imgs).shape == (2, 5 * 3 + 4)  # default: one row
