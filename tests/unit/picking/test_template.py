"""Template picking: rotations, FOM maps on every backend, peaks, references, SPIDER maps."""

import numpy as np
import pandas as pd
import pytest
from scipy.ndimage import rotate

from cryopick.backend import get_backend
from cryopick.errors import InputError
from cryopick.io.mrc import write_mrc
from cryopick.io.spider import read_spider, write_spider
from cryopick.io.star import write_star
from cryopick.picking.peaks import Peaks, prune_peak_clusters, remove_close_neighbours
from cryopick.picking.references import auto_mask_diameter, prepare_templates
from cryopick.picking.rotation import padded_table, psi_angles, rotate_tables, rotated_templates, \
    window_real_space
from cryopick.picking.template import TemplatePickParams, compute_fom_maps, peaks_from_maps, \
    prepare_rotations
from cryopick.picking.working_size import working_size

BOX, PIXEL_A = 64, 2.0


def _templates() -> np.ndarray:
    yy, xx = np.mgrid[:BOX, :BOX] - BOX // 2

    def blob(y, x, s, a):
        return a * np.exp(-((yy - y) ** 2 + (xx - x) ** 2) / (2 * s * s))

    masked = (yy**2 + xx**2) < 25**2
    refs = [blob(0, 0, 7, 1) + blob(-8, 6, 4, 0.8) + blob(9, -3, 3, 0.6),
            blob(0, -5, 5, 1) + blob(0, 6, 5, 1)]
    return (np.stack(refs) * masked).astype(np.float32)


@pytest.fixture(scope="module")
def template_project(tmp_path_factory):
    """A 600 px micrograph with dark, rotated copies of two templates at known places."""
    root = tmp_path_factory.mktemp("tpl")
    rng = np.random.default_rng(1)
    refs = _templates()
    write_mrc(root / "refs.mrcs", refs, PIXEL_A, stack=True)
    image = rng.normal(0, 1, (600, 600)).astype(np.float32)
    truth = []
    while len(truth) < 8:
        y, x = rng.uniform(60, 540, 2)
        if any((y - a) ** 2 + (x - b) ** 2 < 90**2 for a, b in truth):
            continue
        truth.append((y, x))
        copy = rotate(refs[len(truth) % 2], rng.uniform(0, 360), reshape=False, order=1)
        iy, ix = int(y), int(x)
        image[iy - 32:iy + 32, ix - 32:ix + 32] -= 1.5 * copy
    return root, image, np.array(truth), refs


def _pick(root, image, backend, **kw):
    params = TemplatePickParams(lowpass_a=20, angular_sampling_deg=10, shrink=0, threshold=0.3,
                                min_distance_a=60, **kw)
    templates = prepare_templates(str(root / "refs.mrcs"), PIXEL_A, invert=True)
    size = working_size(600, 600, PIXEL_A, 20, 0)
    maps = compute_fom_maps(image, PIXEL_A, None, templates,
                            prepare_rotations(templates, size, params, backend), params,
                            backend, seed=1)
    return maps, peaks_from_maps(maps, 600, 600, PIXEL_A, templates, params)


def test_every_particle_is_picked_within_one_working_pixel(template_project, backend):
    root, image, truth, _ = template_project
    maps, picks = _pick(root, image, backend)
    found = picks[["rlnCoordinateY", "rlnCoordinateX"]].to_numpy()
    assert len(picks) == len(truth)
    tolerance = np.sqrt(2) * maps.size.n / maps.size.w
    for centre in truth:
        assert np.min(np.hypot(*(found - centre).T)) <= tolerance


def test_fom_maps_agree_across_backends(template_project):
    root, image, _, _ = template_project
    ref_maps, _ = _pick(root, image, get_backend("numpy"))
    strict_maps, _ = _pick(root, image, get_backend("strict"))
    for a, b in zip(ref_maps.fom, strict_maps.fom):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_noise_filter_removes_picks_in_a_dark_area(template_project):
    root, image, truth, _ = template_project
    _, plain = _pick(root, image, get_backend("numpy"))
    _, filtered = _pick(root, image, get_backend("numpy"), min_avg_noise=10.0)
    assert len(plain) == len(truth) and len(filtered) == 0


def test_psi_zero_is_the_exact_low_passed_template_and_90_degrees_a_quarter_turn():
    template = _templates()[0]
    n, size = 128, 64
    bk = get_backend("numpy")
    table = bk.asarray(padded_table(template, n, size))
    rotated = np.asarray(rotated_templates(table, np.array([0.0, 90.0]), size, bk))
    real0 = window_real_space(rotated[0], n, BOX)
    # direct: the template centred in an n-box, hard circular low-pass at size/2, inverse
    boxed = np.zeros((n, n))
    boxed[n // 2 - BOX // 2:n // 2 + BOX // 2, n // 2 - BOX // 2:n // 2 + BOX // 2] = template
    f = np.fft.fft2(np.fft.ifftshift(boxed))
    k = np.fft.fftfreq(n, 1 / n)
    f[(k[:, None] ** 2 + k[None, :] ** 2) > (size // 2) ** 2] = 0
    direct = np.fft.fftshift(np.real(np.fft.ifft2(f)))
    window = direct[n // 2 - BOX // 2:n // 2 + BOX // 2, n // 2 - BOX // 2:n // 2 + BOX // 2]
    np.testing.assert_allclose(real0, window, atol=1e-5)
    real90 = window_real_space(rotated[1], n, BOX)
    centre = slice(1, BOX)  # rot90 of an even box moves the logical origin by one pixel
    quarter = max(np.corrcoef(np.rot90(real0, k)[centre, centre].ravel(),
                              real90[centre, centre].ravel())[0, 1] for k in (1, -1))
    assert quarter > 0.98


@pytest.mark.parametrize("chunk", [1, 1 << 18])
def test_rotations_past_a_half_turn_are_the_conjugates_of_those_before(chunk):
    """RELION's even ψ samplings: ψ + 180° is made as the conjugate (Friedel symmetry of a real
    template), equal to sampling it, and ψ < 180° is sampled as for any ψ list."""
    templates = _templates()[:2]
    n, size = 128, 64
    bk = get_backend("numpy")
    tables = [bk.asarray(t) for t in padded_table(np.stack(templates), n, size)]
    psis = psi_angles(10.0)
    both = [np.asarray(r) for r in rotate_tables(tables, psis, size, bk, chunk=chunk)]
    half = len(psis) // 2
    for table, rotated in zip(tables, both):
        first = np.asarray(rotated_templates(table, psis[:half], size, bk))
        second = np.asarray(rotated_templates(table, psis[half:half + 1], size, bk))
        np.testing.assert_array_equal(rotated[:half], first)  # the odd count: sampled
        np.testing.assert_allclose(rotated[half], second[0], atol=1e-6 * np.abs(first).max())
        np.testing.assert_array_equal(rotated[half:], np.conj(first))
        assert np.abs(rotated[:, :, 0]).max() > 0 and not np.any(rotated[:, size // 2, size // 2])


def test_psi_angles_follow_relions_rounding():
    assert len(psi_angles(5)) == 72 and psi_angles(7)[1] == pytest.approx(360 / 51)
    assert psi_angles(360).tolist() == [0.0]


def test_auto_mask_diameter_measures_the_masked_width():
    refs = _templates()
    assert auto_mask_diameter(refs, 2.0) == pytest.approx(2.0 * 48, abs=4.0)


def test_references_with_another_pixel_size_are_rescaled(tmp_path):
    write_mrc(tmp_path / "r.mrcs", _templates(), 4.0, stack=True)
    write_star(tmp_path / "refs.star", {"": pd.DataFrame(
        {"rlnReferenceImage": [f"{i}@{tmp_path / 'r.mrcs'}" for i in (1, 2)]})})
    templates = prepare_templates(str(tmp_path / "refs.star"), 2.0, invert=True)
    assert templates.box_px == 128 and templates.images.shape == (2, 128, 128)
    assert templates.images.max() <= 1e-6  # inverted: white references become dark


def test_empty_or_bad_reference_files_are_named(tmp_path):
    write_star(tmp_path / "none.star", {"": pd.DataFrame({"rlnClassNumber": [1]})})
    with pytest.raises(InputError, match="rlnReferenceImage"):
        prepare_templates(str(tmp_path / "none.star"), 2.0)
    write_mrc(tmp_path / "small.mrcs", _templates()[:, :20, :20], 2.0, stack=True)
    with pytest.raises(InputError, match="larger than the reference box"):
        prepare_templates(str(tmp_path / "small.mrcs"), 2.0, particle_diameter_a=100)


def test_cluster_pruning_keeps_the_best_of_a_cluster_and_far_members():
    peaks = Peaks(x=np.array([0, 3, 6, 40]), y=np.array([0, 0, 0, 0]),
                  fom=np.array([1.0, 2.0, 1.5, 0.5]), psi=np.zeros(4), ref=np.zeros(4, int))
    pruned = prune_peak_clusters(peaks, min_distance_px=4, radius2_px=16, scale=1.0)
    assert pruned.x.tolist() == [3, 40]


def test_close_pairs_lose_both_members():
    peaks = Peaks(x=np.array([0, 3, 40]), y=np.zeros(3, int), fom=np.ones(3), psi=np.zeros(3),
                  ref=np.zeros(3, int))
    assert remove_close_neighbours(peaks, min_distance_px=5, scale=1.0).x.tolist() == [40]


def test_spider_maps_round_trip_with_the_expected_ratio(tmp_path):
    image = np.random.default_rng(2).normal(size=(30, 50)).astype(np.float32)
    write_spider(tmp_path / "m._bestCCF.spi", image, fmax=1.25)
    back, fmax = read_spider(tmp_path / "m._bestCCF.spi")
    np.testing.assert_array_equal(back, image)
    assert fmax == pytest.approx(1.25)
    with pytest.raises(InputError, match="FOM map not found"):
        read_spider(tmp_path / "missing.spi")


def test_3d_reference_is_projected_along_healpix_directions(tmp_path):
    from cryopick.picking.projection import healpix_directions, project_volume

    assert [len(healpix_directions(o)) for o in (0, 1, 2)] == [12, 48, 192]
    n = 32
    z, y, x = np.mgrid[:n, :n, :n] - n // 2
    volume = (np.exp(-((x - 6) ** 2 + y**2 + z**2) / 8.0)
              + 0.5 * np.exp(-(x**2 + (y - 8) ** 2 + z**2) / 8.0)).astype(np.float32)
    np.testing.assert_allclose(project_volume(volume, 0, 0), volume.sum(axis=0), atol=1e-3)
    write_mrc(tmp_path / "map.mrc", volume, 4.0)
    templates = prepare_templates(str(tmp_path / "map.mrc"), 4.0, healpix_order=0,
                                  symmetry="C2", particle_diameter_a=100)
    assert templates.images.shape == (6, n, n)  # 12 directions, half of them under C2


def test_an_mrc_with_several_sections_is_a_map_and_an_mrcs_a_stack(tmp_path):
    """RELION goes by the extension: the same images as ``.mrcs`` are 2D references, as
    ``.mrc`` (even with a stack's space group 0) a 3D map to project."""
    n = 32
    z, y, x = np.mgrid[:n, :n, :n] - n // 2
    volume = np.exp(-((x - 6) ** 2 + y**2 + z**2) / 8.0).astype(np.float32)
    write_mrc(tmp_path / "refs.mrcs", volume, 4.0, stack=True)
    write_mrc(tmp_path / "refs.mrc", volume, 4.0, stack=True)  # ispg 0
    as_stack = prepare_templates(str(tmp_path / "refs.mrcs"), 4.0, particle_diameter_a=100)
    as_map = prepare_templates(str(tmp_path / "refs.mrc"), 4.0, particle_diameter_a=100,
                               healpix_order=0)
    assert len(as_stack.images) == n and len(as_map.images) == 12


def _expected(root, image, seed, **kw):
    params = TemplatePickParams(lowpass_a=20, angular_sampling_deg=10, shrink=0, threshold=0.3,
                                min_distance_a=60, **kw)
    templates = prepare_templates(str(root / "refs.mrcs"), PIXEL_A, invert=True)
    size = working_size(600, 600, PIXEL_A, 20, 0)
    backend = get_backend("numpy")
    maps = compute_fom_maps(image, PIXEL_A, None, templates,
                            prepare_rotations(templates, size, params, backend), params,
                            backend, seed=seed)
    return np.array(maps.expected), maps


def test_deterministic_fom_scale_takes_the_chance_out_of_the_expected_ratio(template_project):
    """RELION's E holds one noise draw: other seeds, other E and other FOM scales. Without the
    draw (cryopick's option) E is the same for every seed, above 1, and each reference's
    FOM map is its RELION map rescaled by (E_relion − 1)/(E − 1)."""
    root, image, _, _ = template_project
    relion = [_expected(root, image, seed)[0] for seed in (1, 2)]
    assert not np.allclose(relion[0], relion[1])
    fixed = [_expected(root, image, seed, deterministic_fom_scale=True) for seed in (1, 2)]
    assert np.array_equal(fixed[0][0], fixed[1][0]) and np.all(fixed[0][0] > 1.0)
    e_relion, maps_relion = _expected(root, image, 1)
    e_fixed, maps_fixed = fixed[0]
    for ref in range(len(e_fixed)):
        ratio = (e_relion[ref] - 1.0) / (e_fixed[ref] - 1.0)
        np.testing.assert_allclose(maps_fixed.fom[ref], maps_relion.fom[ref] * ratio,
                                   rtol=1e-3, atol=1e-4 * np.abs(maps_fixed.fom[ref]).max())
