"""Local background statistics against a direct computation."""

import numpy as np
import pytest

from cryopick.fourier import forward
from cryopick.picking.noise import background_ring_mask, local_background_stats


def _direct(image, box, r2, y, x):
    logical = np.arange(box) - box // 2
    ring = (logical[:, None] ** 2 + logical[None, :] ** 2) >= r2
    n = image.shape[0]
    values = image[np.ix_((y + logical) % n, (x + logical) % n)][ring]
    return values.mean(), values.std()


def test_ring_mask_counts_box_minus_disc():
    mask = background_ring_mask(64, 16, 36)
    logical = np.arange(16) - 8
    expected = int(((logical[:, None] ** 2 + logical[None, :] ** 2) >= 36).sum())
    assert mask.sum() == expected
    assert mask[0, 0] == 0 and mask[0, 8] == 0  # centre in the disc; column 8 outside the box
    assert mask[56, 56] == 1 and mask[0, 58] == 1  # corners (-8, -8) and ring (0, -6)


def test_full_size_maps_match_direct_statistics(backend):
    rng = np.random.default_rng(5)
    n, box, r2 = 48, 12, 16
    image = rng.normal(size=(n, n)).astype(np.float32)
    image[10:20, 30:40] += 3.0
    dev = backend.asarray(image)
    mean, std = local_background_stats(dev, forward(dev), n, box, r2)
    mean, std = backend.to_numpy(mean), backend.to_numpy(std)
    for y, x in [(0, 0), (15, 35), (30, 7), (47, 20)]:
        m, s = _direct(image, box, r2, y, x)
        assert mean[y, x] == pytest.approx(m, abs=1e-4)
        assert std[y, x] == pytest.approx(s, abs=1e-4)
