"""The row-block transform of the normalised, padded micrograph equals the whole-array one."""

import numpy as np
import pytest

from cryopick.backend import get_backend
from cryopick.fourier import forward_cropped
from cryopick.picking.log import embed_square, normalise_micrograph
from cryopick.picking.micrograph_ft import micrograph_stats, normalised_cropped_transforms

NUMPY = get_backend("numpy")


def _whole(image, n, n_out, zscore, flip, seed):
    square = embed_square(NUMPY, normalise_micrograph(image, zscore, flip), n, seed)
    return forward_cropped(square, n_out), forward_cropped(square * square, n_out)


@pytest.mark.parametrize(("shape", "n", "flip", "outliers"), [
    ((150, 200), 200, True, False),   # wider than tall: noise rows above and below
    ((200, 150), 200, False, True),   # taller than wide: noise columns, outliers set to 0
    ((200, 200), 200, True, True),    # square: no padding
    ((151, 197), 200, False, False),  # odd sizes, padding on all four sides
])
def test_blocks_give_the_whole_arrays_transforms(shape, n, flip, outliers):
    rng = np.random.default_rng(3)
    image = (1000.0 + 30.0 * rng.standard_normal(shape)).astype(np.float32)  # raw counts
    image[40:60, 50:70] -= 60.0  # a dark particle
    if outliers:
        image[10, 12], image[-5, -7] = 1e5, -1e5
    want, want_sq = _whole(image, n, 60, 8.0, flip, seed=7)
    got, got_sq = normalised_cropped_transforms(image, n, 60, 8.0, flip, seed=7, squared=True,
                                                block_rows=16)  # blocks cut every region
    assert got.shape == want.shape == (60, 31) and got.dtype == np.complex64
    alone, none = normalised_cropped_transforms(image, n, 60, 8.0, flip, seed=7)
    assert none is None and np.array_equal(alone, got)
    scale = np.abs(want).max()
    # the whole-array path's float32 mean of raw counts is off by ~1e-4 of the std, which
    # moves the transform's origin (the normalised image's mean, ~0) by that much
    assert abs(got[0, 0] - want[0, 0]) <= 2e-4 * scale
    got[0, 0] = want[0, 0]
    assert np.abs(got - want).max() <= 1e-5 * scale
    assert np.abs(got_sq - want_sq).max() <= 1e-5 * np.abs(want_sq).max()



def test_stats_keep_their_precision_under_a_large_offset():
    rng = np.random.default_rng(0)
    image = (20000.0 + rng.standard_normal((300, 256))).astype(np.float32)
    exact = image.astype(np.float64)
    mean, std, low, high = micrograph_stats(image, block_rows=7)
    assert mean == pytest.approx(exact.mean(), rel=1e-12)
    assert std == pytest.approx(exact.std(), rel=1e-6)
    assert (low, high) == (exact.min(), exact.max())
