"""Tests of the simulator's options beyond the demo: shapes, species, crowding, junk truth."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import yaml
from scipy import ndimage

from cryopick.io.mrc import read_micrograph
from cryopick.io.star import read_coordinates
from cryopick.simulate import (
    DATASETS,
    PRESETS,
    SHAPES,
    SimulationConfig,
    Species,
    datasets_in_split,
    junk_mask,
    make_blobs,
    project_blobs,
    read_junk,
    simulate_micrograph,
    simulate_project,
)

PIXEL_A = 3.0
SMALL = dataclasses.replace(PRESETS["demo"], nx=512, ny=448, pixel_size_a=PIXEL_A,
                            particles_per_micrograph=8, n_contaminations=(0, 0),
                            n_specks=(0, 0), ice_gradient=0.0)


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_every_shape_fits_its_diameter(shape):
    blobs = make_blobs(150.0, seed=4, shape=shape)
    assert blobs.radius_a == pytest.approx(75.0)
    assert np.allclose(np.average(blobs.centres_a, axis=0, weights=blobs.weights
                                  * blobs.sigmas_a**3), 0.0, atol=1e-9)


def test_ring_top_view_is_sevenfold_symmetric_and_side_view_is_not():
    blobs = make_blobs(200.0, seed=1, shape="ring")
    top = project_blobs(blobs, np.array([[0, 0, 0], [0, 0, 360 / 7], [0, 0, 180 / 7]]), 96, 3.0)
    assert np.corrcoef(top[0].ravel(), top[1].ravel())[0, 1] > 0.99
    assert np.corrcoef(top[0].ravel(), top[2].ravel())[0, 1] < 0.98
    side = project_blobs(blobs, np.array([[0, 90, 0], [0, 90, 360 / 7]]), 96, 3.0)
    assert np.corrcoef(side[0].ravel(), side[1].ravel())[0, 1] < 0.9


def test_elongated_particle_is_about_three_times_longer_than_wide():
    centres = make_blobs(300.0, seed=2, shape="elongated").centres_a
    extent = np.sort(np.ptp(centres @ np.linalg.svd(centres, full_matrices=False)[2].T, axis=0))
    assert extent[2] / extent[1] > 2.0


def test_two_species_are_both_placed_with_their_own_spacing_and_labelled(tmp_path):
    config = dataclasses.replace(SMALL, n_micrographs=2, nx=640, ny=576, particle_diameter_a=120,
                                 particles_per_micrograph=14,
                                 second_species=Species("dumbbell", 200.0, 0.5))
    simulate_project(tmp_path, config=config, seed=2)
    table = read_coordinates(tmp_path / "Demo/truth/mic001_truth.star")
    assert set(table["rlnClassNumber"]) == {1, 2}
    xy = table[["rlnCoordinateX", "rlnCoordinateY"]].to_numpy()
    d = np.where(table["rlnClassNumber"] == 1, 120.0, 200.0) / PIXEL_A
    distances = np.hypot(*(xy[:, None] - xy[None]).T)
    np.fill_diagonal(distances, np.inf)
    assert np.all(distances >= 1.1 * 0.5 * (d[:, None] + d[None]) - 1e-9)
    assert (tmp_path / "Demo/density_2.mrc").is_file()


def test_crowded_particles_touch_but_do_not_overlap_more_than_asked():
    config = dataclasses.replace(SMALL, particles_per_micrograph=40, min_separation=0.85)
    mic = simulate_micrograph(config, make_blobs(), np.random.default_rng(1))
    distances = np.hypot(*(mic.positions_px[:, None] - mic.positions_px[None]).T)
    np.fill_diagonal(distances, np.inf)
    assert distances.min() >= 0.85 * config.diameter_px - 1e-9
    assert distances.min() < config.diameter_px


def test_empty_ice_areas_cover_their_share_and_hold_no_particle():
    config = dataclasses.replace(SMALL, particles_per_micrograph=12, empty_fraction=0.5)
    mic = simulate_micrograph(config, make_blobs(), np.random.default_rng(3))
    assert mic.empty.mean() == pytest.approx(0.5, abs=0.01)
    assert len(mic.positions_px) > 0
    assert not mic.empty[tuple(mic.positions_px.astype(int).T)].any()


@pytest.mark.parametrize("mode, low, high", [("none", 0.999, 1.0), ("applied", -1.0, 0.95)])
def test_without_ctf_the_image_is_the_plain_projections(mode, low, high):
    config = dataclasses.replace(SMALL, snr=50.0, carbon_edge=False, ctf_mode=mode)
    mic = simulate_micrograph(config, make_blobs(), np.random.default_rng(2))
    plain = dataclasses.replace(config, ctf_mode="none", snr=1e-9)
    clean = -simulate_micrograph(plain, make_blobs(), np.random.default_rng(2)).image
    noise_free = -simulate_micrograph(dataclasses.replace(plain, snr=50.0), make_blobs(),
                                      np.random.default_rng(2)).image - clean
    corr = np.corrcoef(-mic.image.ravel() - clean.ravel(), noise_free.ravel())[0, 1]
    assert low <= corr <= high


@pytest.fixture(scope="module")
def junk_project(tmp_path_factory):
    """Three micrographs, 3 Å/px, large contamination, specks, carbon on one."""
    root = tmp_path_factory.mktemp("junk")
    config = dataclasses.replace(SMALL, n_micrographs=3, nx=640, ny=576,
                                 n_contaminations=(2, 3), n_specks=(2, 4), n_carbon=1)
    simulate_project(root, config=config, seed=5)
    return root


def test_junk_mask_marks_the_dark_contamination_and_the_carbon(junk_project):
    for stem in ("mic001", "mic002", "mic003"):
        image = ndimage.gaussian_filter(
            read_micrograph(junk_project / f"MotionCorr/job002/Movies/{stem}.mrc"), 4.0)
        blobs = junk_mask(junk_project, stem, kinds=("contamination",))
        assert blobs.any() and image[blobs].mean() < image[~blobs].mean() - 0.5
    carbon = junk_mask(junk_project, "MotionCorr/job002/Movies/mic002.mrc", kinds=("carbon",))
    assert 0.05 < carbon.mean() < 0.6
    assert not junk_mask(junk_project, "mic001", kinds=("carbon",)).any()
    assert read_junk(junk_project, "mic002").carbon is not None


def test_no_true_particle_lies_on_junk(junk_project):
    for stem in ("mic001", "mic002", "mic003"):
        mask = junk_mask(junk_project, stem)
        xy = read_coordinates(junk_project / f"Demo/truth/{stem}_truth.star")[
            ["rlnCoordinateX", "rlnCoordinateY"]].to_numpy()
        assert len(xy) > 0 and not mask[xy[:, 1].astype(int), xy[:, 0].astype(int)].any()


def test_junk_mask_grows_with_its_margin(junk_project):
    assert junk_mask(junk_project, "mic002", margin_px=10).sum() > junk_mask(
        junk_project, "mic002").sum()


def test_bad_simulation_options_are_rejected():
    with pytest.raises(ValueError, match="shape"):
        dataclasses.replace(SMALL, shape="cube")
    with pytest.raises(ValueError, match="ctf_mode"):
        dataclasses.replace(SMALL, ctf_mode="half")
    with pytest.raises(ValueError, match="empty_fraction"):
        dataclasses.replace(SMALL, empty_fraction=1.0)
    with pytest.raises(ValueError, match="fraction"):
        Species("ring", 100.0, 1.5)


def test_the_corpus_holds_varied_held_out_sets_apart_from_the_tune_sets():
    tune, held, seen = (datasets_in_split(s) for s in ("tune", "heldout", "seen"))
    assert "demo" in tune and len(held) >= 6
    assert not set(tune) & set(held) and not set(seen) & set(held) and not set(tune) & set(seen)
    configs = [DATASETS[name].config for name in held]
    shapes = {c.shape for c in configs} | {c.second_species.shape for c in configs
                                           if c.second_species is not None}
    assert shapes >= {"elongated", "ring", "shell", "dumbbell", "asymmetric"}
    assert any(c.ctf_mode == "none" for c in configs)
    assert any(c.nx != c.ny for c in configs)
    assert any(c.second_species is not None and c.empty_fraction >= 0.4 for c in configs)
    sizes = [d for c in configs for d in c.diameters_a]
    pixels = [c.pixel_size_a for c in configs]
    assert min(sizes) <= 120 and max(sizes) >= 250 and min(pixels) <= 0.8 and max(pixels) >= 2
    assert all(max(c.nx, c.ny) <= 2048 and c.n_micrographs <= 20 for c in configs)


def test_a_default_config_is_the_demo_stream():
    assert SimulationConfig(n_micrographs=8, nx=2048, ny=2048, pixel_size_a=0.885,
                            particles_per_micrograph=30) == PRESETS["demo"]


def test_the_workflow_schema_offers_every_named_data_set():
    schema = yaml.safe_load((Path(__file__).parents[2] / "config/schema.yaml").read_text())
    assert schema["properties"]["demo"]["properties"]["preset"]["enum"] == list(DATASETS)
