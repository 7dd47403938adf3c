"""LoG picking: RELION's diameter scan, picks on known blobs, every backend, bad input."""

import numpy as np
import pytest

from cryopick.backend import get_backend
from cryopick.errors import InputError
from cryopick.picking.log import LogPickParams, log_diameters, micrograph_seed, pick_log

PIXEL_A = 2.0


def _params(**kw):
    return LogPickParams(**{"diameter_min_a": 110, "diameter_max_a": 140, "lowpass_a": 20,
                            "shrink": 0, **kw})


def test_diameters_scanned_are_relions_for_the_tutorial():
    assert log_diameters(150, 180, 5) == [30, 38, 50, 75, 150, 165, 180, 360, 540, 720, 900]


def test_every_blob_is_picked_within_one_working_pixel(backend, blob_micrograph):
    image, centres = blob_micrograph
    result = pick_log(image, PIXEL_A, _params(), backend, seed=1)
    found = result.picks[["rlnCoordinateY", "rlnCoordinateX"]].to_numpy()
    tolerance = np.sqrt(2) / result.scale  # one working pixel (5 px at scale 0.2)
    for centre in centres:
        assert np.min(np.hypot(*(found - centre).T)) <= tolerance


def test_without_shrinking_blobs_are_picked_within_2_px(blob_micrograph):
    image, centres = blob_micrograph
    result = pick_log(image, PIXEL_A, _params(shrink=1), get_backend("numpy"), seed=1)
    assert result.scale == 1.0
    found = result.picks[["rlnCoordinateY", "rlnCoordinateX"]].to_numpy()
    for centre in centres:
        assert np.min(np.hypot(*(found - centre).T)) <= 2.0


def test_picks_are_written_in_descending_fom(blob_micrograph):
    image, _ = blob_micrograph
    fom = pick_log(image, PIXEL_A, _params(), get_backend("numpy"), 1).picks[
        "rlnAutopickFigureOfMerit"].to_numpy()
    assert len(fom) >= 5 and np.all(np.diff(fom) <= 0)


def test_backends_give_identical_picks(blob_micrograph):
    image, _ = blob_micrograph
    ref = pick_log(image, PIXEL_A, _params(), get_backend("numpy"), 1).picks
    strict = pick_log(image, PIXEL_A, _params(), get_backend("strict"), 1).picks
    np.testing.assert_allclose(strict.to_numpy(float), ref.to_numpy(float), rtol=1e-4, atol=1e-4)


def test_white_particles_need_the_invert_flag(blob_micrograph):
    image, centres = blob_micrograph
    picks = pick_log(-image, PIXEL_A, _params(particles_white=True), get_backend("numpy"), 1).picks
    found = picks[["rlnCoordinateY", "rlnCoordinateX"]].to_numpy()
    assert all(np.min(np.hypot(*(found - c).T)) <= 7.5 for c in centres)


def test_higher_threshold_picks_fewer(blob_micrograph):
    image, _ = blob_micrograph
    counts = [len(pick_log(image, PIXEL_A, _params(threshold_adjust=a), get_backend("numpy"),
                           1).picks) for a in (-1.0, 0.0, 2.0)]
    assert counts[0] >= counts[1] >= counts[2] and counts[0] > counts[2]


def test_upper_threshold_drops_the_strongest_blob(blob_micrograph):
    image, centres = blob_micrograph
    image = image.copy()
    yy, xx = np.mgrid[: image.shape[0], : image.shape[1]]
    image -= 8 * np.exp(-((yy - 300) ** 2 + (xx - 330) ** 2) / (2 * 20.0**2)).astype(np.float32)
    picks = pick_log(image, PIXEL_A, _params(threshold_upper=5), get_backend("numpy"), 1).picks
    found = picks[["rlnCoordinateY", "rlnCoordinateX"]].to_numpy()
    assert np.min(np.hypot(*(found - [300, 330]).T)) > 10


@pytest.mark.parametrize("shape", [(512, 512), (511, 600), (600, 513)])
def test_odd_and_square_sizes_keep_picks_inside(shape):
    rng = np.random.default_rng(3)
    image = rng.normal(size=shape).astype(np.float32)
    picks = pick_log(image, PIXEL_A, _params(threshold_adjust=-1), get_backend("numpy"), 1).picks
    assert (picks["rlnCoordinateX"].between(0, shape[1])).all()
    assert (picks["rlnCoordinateY"].between(0, shape[0])).all()


def test_diameters_out_of_order_are_refused():
    with pytest.raises(InputError, match="LoG_diam_min"):
        LogPickParams(diameter_min_a=180, diameter_max_a=150)


def test_seed_by_name_does_not_depend_on_run_order():
    assert micrograph_seed(1, 0, "a.mrc", True) == micrograph_seed(1, 7, "a.mrc", True)
    assert micrograph_seed(1, 0, "a.mrc", False) != micrograph_seed(1, 7, "a.mrc", False)


@pytest.mark.parametrize("noise_filter", [{"min_avg_noise": -0.5}, {"auto_noise_mads": 2.5}])
def test_noise_filters_are_off_unless_asked_and_drop_picks_on_dark_contamination(
        blob_micrograph, noise_filter):
    """A hand-set limit, or (cryopick's option) limits from the micrograph's own medians and
    MADs: the picks on and beside a dark contamination blob go, every particle stays."""
    image, centres = blob_micrograph
    image = image.copy()
    yy, xx = np.mgrid[: image.shape[0], : image.shape[1]]
    # a strong dark contamination blob at (300, 600): its background ring is dark too
    image -= 4 * np.exp(-((yy - 300) ** 2 + (xx - 600) ** 2) / (2 * 25.0**2)).astype(np.float32)
    plain = pick_log(image, PIXEL_A, _params(threshold_upper=99999), get_backend("numpy"), 1)
    near = lambda picks: np.min(np.hypot(picks["rlnCoordinateY"] - 300,  # noqa: E731
                                         picks["rlnCoordinateX"] - 600))
    assert near(plain.picks) < 30
    filtered = pick_log(image, PIXEL_A, _params(threshold_upper=99999, **noise_filter),
                        get_backend("numpy"), 1)
    assert near(filtered.picks) > 30
    found = filtered.picks[["rlnCoordinateY", "rlnCoordinateX"]].to_numpy()
    assert all(np.min(np.hypot(*(found - c).T)) <= 7.5 for c in centres)


def test_dropping_border_picks_removes_the_ramp_of_an_ice_gradient_not_the_particles(
        blob_micrograph):
    """A strong gradient jumps at the transform's wrap edge; the LoG response rises towards
    it and its maxima sit on the first row picks may lie in. Those go with
    ``drop_border_picks``; the particles away from that edge stay (a dropped ramp peak still
    clears its neighbourhood, as a peak above the upper threshold does)."""
    image, centres = blob_micrograph
    ny = image.shape[0]
    image = image[:, :ny]  # square: no noise padding, the wrap joins the top and bottom rows
    centres = centres[(centres[:, 1] < ny - 60) & (centres[:, 0] > 250)]
    ramp = np.linspace(-3.0, 3.0, ny, dtype=np.float32)[:, None]
    image = image + ramp
    params = _params(threshold_upper=99999)
    plain = pick_log(image, PIXEL_A, params, get_backend("numpy"), 1)
    dropped = pick_log(image, PIXEL_A, _params(threshold_upper=99999, drop_border_picks=True),
                       get_backend("numpy"), 1)
    skip_px = 0.5 * params.diameter_min_a / PIXEL_A

    def on_border(picks):
        y, x = picks["rlnCoordinateY"], picks["rlnCoordinateX"]
        edge = np.minimum(np.minimum(y, ny - 1 - y), np.minimum(x, image.shape[1] - 1 - x))
        return int(np.sum(edge < skip_px + 2 / plain.scale))

    assert on_border(plain.picks) > 0 and on_border(dropped.picks) == 0
    found = dropped.picks[["rlnCoordinateY", "rlnCoordinateX"]].to_numpy()
    assert all(np.min(np.hypot(*(found - c).T)) <= 7.5 for c in centres)
