"""Tests of the demo-data simulator: project layout, determinism, dark particles, truth."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

from cryopick.io.mrc import read_image_stack, read_micrograph, read_mrc_header_pixel_size
from cryopick.io.star import read_coordinates, read_micrographs_star
from cryopick.simulate import (
    PRESETS,
    euler_matrix,
    make_blobs,
    make_density,
    project_blobs,
    simulate_micrograph,
    simulate_project,
)

TINY = dict(preset="demo", n_micrographs=3, nx=384, ny=320, pixel_size_a=3.0,
            particles_per_micrograph=5)
STAR = "CtfFind/job003/micrographs_ctf.star"


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """A tiny simulated project: 3 micrographs of 384 × 320 px at 3 Å/px."""
    root = tmp_path_factory.mktemp("sim")
    simulate_project(root, seed=3, **TINY)
    return root


def _truth(project: Path, stem: str) -> np.ndarray:
    """(n, 2) true centres as (x, y)."""
    table = read_coordinates(project / "Demo" / "truth" / f"{stem}_truth.star")
    return table[["rlnCoordinateX", "rlnCoordinateY"]].to_numpy(float)


def test_project_star_reads_back_as_relion_31_with_ctf(project):
    mset = read_micrographs_star(project / STAR)
    assert mset.pixel_size_a == pytest.approx(3.0)
    assert mset.names == [f"MotionCorr/job002/Movies/mic00{i}.mrc" for i in (1, 2, 3)]
    assert list(mset.optics.columns) == [
        "rlnOpticsGroupName", "rlnOpticsGroup", "rlnMicrographOriginalPixelSize", "rlnVoltage",
        "rlnSphericalAberration", "rlnAmplitudeContrast", "rlnMicrographPixelSize"]
    assert {"rlnCtfImage", "rlnCtfAstigmatism", "rlnCtfFigureOfMerit",
            "rlnCtfMaxResolution"} <= set(mset.micrographs.columns)
    for i in range(3):
        ctf = mset.ctf(i)
        assert 10000 <= ctf.defocus_v_a <= ctf.defocus_u_a <= 30000
        assert (ctf.voltage_kv, ctf.cs_mm, ctf.amplitude_contrast) == (300.0, 2.7, 0.1)
    assert mset.micrographs["rlnCtfImage"][0] == "CtfFind/job003/Movies/mic001.ctf:mrc"


def test_micrographs_and_density_are_float32_mrc_with_pixel_size(project):
    for name in read_micrographs_star(project / STAR).names:
        assert read_micrograph(project / name).shape == (320, 384)
        assert read_mrc_header_pixel_size(project / name) == pytest.approx(3.0)
    density = read_image_stack(project / "Demo" / "density.mrc")
    assert density.shape[0] == density.shape[1] == density.shape[2]
    assert read_mrc_header_pixel_size(project / "Demo" / "density.mrc") == pytest.approx(12.0)


def test_same_seed_gives_byte_identical_files(project, tmp_path):
    simulate_project(tmp_path, seed=3, **TINY)
    ours = sorted(p.relative_to(project) for p in project.rglob("*") if p.is_file())
    again = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    assert ours == again and len(ours) == 3 + 3 + 3 + 3  # mics, truth, junk, star+density+json
    for rel in ours:
        assert (project / rel).read_bytes() == (tmp_path / rel).read_bytes(), rel


def test_other_seed_gives_other_micrographs(project, tmp_path):
    simulate_project(tmp_path, seed=4, **TINY)
    rel = "MotionCorr/job002/Movies/mic001.mrc"
    assert (project / rel).read_bytes() != (tmp_path / rel).read_bytes()


def _low_pass_20a(image: np.ndarray, pixel_a: float) -> np.ndarray:
    return ndimage.gaussian_filter(image, sigma=20.0 / pixel_a / 2.5)


def _ring_means(image: np.ndarray, centres_xy: np.ndarray, r0_px: float, r1_px: float):
    """Mean of ``image`` within ``r0 <= r < r1`` of each centre."""
    yy, xx = np.mgrid[: image.shape[0], : image.shape[1]]
    return np.array([image[(d >= r0_px) & (d < r1_px)].mean()
                     for d in (np.hypot(xx - x, yy - y) for x, y in centres_xy)])


def test_particles_are_darker_than_their_surroundings(project):
    diameter_px = 170.0 / 3.0
    for stem in ("mic001", "mic002", "mic003"):
        image = read_micrograph(project / "MotionCorr" / "job002" / "Movies" / f"{stem}.mrc")
        low, truth = _low_pass_20a(image, 3.0), _truth(project, stem)
        assert len(truth) > 0
        inside = _ring_means(low, truth, 0.0, 0.35 * diameter_px)
        around = _ring_means(low, truth, 0.55 * diameter_px, 0.7 * diameter_px)
        assert np.mean(inside - around) < -0.05


def test_particles_are_below_the_background_mean_without_contamination():
    config = dataclasses.replace(PRESETS["demo"], nx=512, ny=448, pixel_size_a=3.0,
                                 particles_per_micrograph=8, n_contaminations=(0, 0),
                                 n_specks=(0, 0), ice_gradient=0.0)
    mic = simulate_micrograph(config, make_blobs(), np.random.default_rng(5))
    low = _low_pass_20a(mic.image, 3.0)
    truth_xy = mic.positions_px[:, ::-1]
    inside = _ring_means(low, truth_xy, 0.0, 20.0)
    assert len(inside) >= 4
    assert np.all(inside < low.mean())


def test_truth_is_inside_the_micrograph_and_non_overlapping(project):
    diameter_px = 170.0 / 3.0
    for stem in ("mic001", "mic002", "mic003"):
        truth = _truth(project, stem)
        assert np.all((truth >= diameter_px / 2) & (truth < np.array([384, 320]) - diameter_px / 2))
        distances = np.hypot(*(truth[:, None, :] - truth[None, :, :]).T)
        np.fill_diagonal(distances, np.inf)
        assert distances.min() >= 1.1 * diameter_px


def test_truth_holds_euler_angles_in_relion_ranges(project):
    table = read_coordinates(project / "Demo" / "truth" / "mic001_truth.star")
    assert list(table.columns) == ["rlnCoordinateX", "rlnCoordinateY", "rlnAngleRot",
                                   "rlnAngleTilt", "rlnAnglePsi"]
    assert table["rlnAngleTilt"].between(0, 180).all()
    assert table[["rlnAngleRot", "rlnAnglePsi"]].stack().between(0, 360).all()


def test_projections_of_different_orientations_differ():
    blobs = make_blobs(170.0, seed=1)
    views = project_blobs(blobs, np.array([[0, 0, 0], [0, 90, 0], [90, 90, 0]]), 64, 4.0)
    assert views.shape == (3, 64, 64)
    for i, j in ((0, 1), (0, 2), (1, 2)):
        corr = np.corrcoef(views[i].ravel(), views[j].ravel())[0, 1]
        assert corr < 0.9, (i, j, corr)


def test_projection_along_z_equals_the_density_summed_over_z():
    pixel_a = 4.0
    volume = make_density(48, pixel_a, seed=2)
    projection = project_blobs(make_blobs(170.0, seed=2), (0.0, 0.0, 0.0), 48, pixel_a)
    np.testing.assert_allclose(volume.sum(axis=0) * pixel_a, projection,
                               atol=1e-3 * projection.max())


def test_in_plane_rotation_matches_relion_psi_convention():
    psi = 30.0
    c, s = np.cos(np.radians(psi)), np.sin(np.radians(psi))
    matrix = euler_matrix(0.0, 0.0, psi)
    np.testing.assert_allclose(matrix[:2, :2], [[c, s], [-s, c]], atol=1e-12)
    np.testing.assert_allclose(euler_matrix(10, 50, 200) @ euler_matrix(10, 50, 200).T,
                               np.eye(3), atol=1e-12)


def test_micrograph_without_particles_keeps_its_shape():
    config = dataclasses.replace(PRESETS["demo"], nx=300, ny=256, pixel_size_a=3.0,
                                 particles_per_micrograph=0)
    mic = simulate_micrograph(config, make_blobs(), np.random.default_rng(0))
    assert mic.image.shape == (256, 300) and mic.image.dtype == np.float32
    assert mic.positions_px.shape == (0, 2) and mic.angles_deg.shape == (0, 3)


def test_bad_options_are_rejected(tmp_path):
    with pytest.raises(ValueError, match="preset"):
        simulate_project(tmp_path, preset="huge")
    with pytest.raises(ValueError, match="too small"):
        simulate_project(tmp_path, nx=64, ny=64, pixel_size_a=1.0)
    with pytest.raises(ValueError, match="seed"):
        simulate_project(tmp_path, seed=1.5, **TINY)
    assert not (tmp_path / STAR).exists()


def test_presets_use_the_tutorial_pixel_size():
    assert PRESETS["demo"].pixel_size_a == PRESETS["tutorial"].pixel_size_a == 0.885
    assert (PRESETS["tutorial"].nx, PRESETS["tutorial"].ny) == (3838, 3710)
