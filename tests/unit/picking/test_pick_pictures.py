"""Pictures of picks: circles where the picks are, coloured by FOM, over the micrograph."""

import numpy as np
import pytest
from PIL import Image

from cryopick.binning import block_mean
from cryopick.picking.plots import plot_picks


@pytest.mark.parametrize("step", [1, 3, 6])
def test_block_mean_is_the_mean_of_each_whole_block(step):
    image = np.random.default_rng(step).normal(size=(47, 61)).astype(np.float32)
    h, w = 47 // step, 61 // step
    expected = image[:h * step, :w * step].reshape(h, step, w, step).mean(axis=(1, 3))
    np.testing.assert_allclose(block_mean(image, step), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("size", [64, 3000])  # enlarged, and block-averaged to the picture
def test_picks_are_circles_at_their_places_coloured_low_blue_to_high_red(tmp_path, size):
    rng = np.random.default_rng(0)
    preview = rng.normal(size=(size, size)).astype(np.float32)
    mic_px = 4.0 * size  # the micrograph: 4 px per preview px
    x = np.array([0.25, 0.75]) * mic_px
    y = np.array([0.25, 0.75]) * mic_px
    png = tmp_path / "mic_autopick.png"
    plot_picks(preview, x, y, np.array([0.1, 0.9]), 0.25, 0.05 * mic_px, "mic", png)
    picture = np.asarray(Image.open(png).convert("RGB")).astype(int)
    # the micrograph is the (not white) square under the title; each circle's ring on it
    rows = np.flatnonzero((picture.sum(axis=2) < 740).mean(axis=1) > 0.5)
    top, side = rows[0], rows[-1] - rows[0] + 1
    for (cx, cy), colour in zip([(0.25, 0.25), (0.75, 0.75)], ("blue", "red")):
        r = 0.05 * side
        ring = [(round(top + cy * side + r * np.sin(a)), round(cx * side + r * np.cos(a)))
                for a in np.linspace(0, 2 * np.pi, 16, endpoint=False)]
        red, blue = (np.mean([picture[p][c] for p in ring]) for c in (0, 2))
        assert (red > blue + 60) if colour == "red" else (blue > red + 60), (colour, red, blue)
    assert not (tmp_path / "mic_autopick.png.tmp").exists()
