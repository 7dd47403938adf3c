"""Extraction against the real relion_preprocess: same particles, same order, same pixels."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import mrcfile
import numpy as np
import pandas as pd
import pytest

from cryopick.cli.main import main
from cryopick.extraction import gui_bg_radius
from cryopick.extraction.kernels import background_mask
from cryopick.io.mrc import write_mrc
from cryopick.io.star import read_star, write_coordinates, write_star
from support import needs_relion

pytestmark = [needs_relion, pytest.mark.relion]

PIXEL_A = 2.0
SHAPES = [(700, 801), (703, 760), (640, 806)]  # (ny, nx), odd and even
NAMES = [f"MotionCorr/job002/Movies/mic{k:03d}.mrc" for k in range(1, 4)]


def _micrograph(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """Dark blobs on a sloping ice background with noise, at a detector-like grey level."""
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    image = 120.0 + 0.01 * xx - 0.02 * yy + rng.normal(0.0, 6.0, shape)
    for y, x in rng.uniform(0, shape, size=(25, 2)):
        image -= 8.0 * np.exp(-((yy - y) ** 2 + (xx - x) ** 2) / (2 * 9.0**2))
    return image.astype(np.float32)


def _coordinates(shape: tuple[int, int], rng: np.random.Generator, edges: bool) -> pd.DataFrame:
    ny, nx = shape
    if edges:  # on the edges, in the corners and hanging far over them
        xy = np.array([[0.2, 0.7], [3.0, 350.5], [nx - 1.5, 10.0], [-20.3, ny - 0.1],
                       [nx + 30.7, ny / 2], [nx / 2, -31.9], [400.5, ny + 25.2],
                       [nx - 0.01, ny - 0.01], [-0.99, -0.5], [12.0, ny - 12.0]])
    else:
        xy = rng.uniform([40, 40], [nx - 40, ny - 40], size=(15, 2))
    n = len(xy)
    return pd.DataFrame({"rlnCoordinateX": xy[:, 0], "rlnCoordinateY": xy[:, 1],
                         "rlnAutopickFigureOfMerit": rng.normal(size=n),
                         "rlnClassNumber": 0, "rlnAnglePsi": 0.0})


@pytest.fixture
def relion_project(tmp_path, monkeypatch) -> Path:
    """Three micrographs, interior and edge coordinate sets, a 3.1 STAR with CTF labels."""
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(11)
    for name, shape in zip(NAMES, SHAPES):
        write_mrc(name, _micrograph(shape, rng), PIXEL_A)
        stem = Path(name).stem
        for job, edges in (("job006", False), ("job008", True)):
            write_coordinates(f"AutoPick/{job}/Movies/{stem}_autopick.star",
                              _coordinates(shape, rng, edges))
    optics = pd.DataFrame({"rlnOpticsGroupName": ["opticsGroup1"], "rlnOpticsGroup": [1],
                           "rlnMicrographOriginalPixelSize": [PIXEL_A], "rlnVoltage": [300.0],
                           "rlnSphericalAberration": [2.7], "rlnAmplitudeContrast": [0.1],
                           "rlnMicrographPixelSize": [PIXEL_A]})
    mics = pd.DataFrame({
        "rlnMicrographName": NAMES, "rlnOpticsGroup": 1,
        "rlnCtfImage": [n.replace(".mrc", ".ctf:mrc") for n in NAMES],
        "rlnDefocusU": [15000.0, 21000.0, 18000.0], "rlnDefocusV": [14500.0, 20500.0, 17000.0],
        "rlnCtfAstigmatism": [500.0, 500.0, 1000.0], "rlnDefocusAngle": [10.0, 80.0, -30.0],
        "rlnCtfFigureOfMerit": [0.2, 0.1, 0.15], "rlnCtfMaxResolution": [4.0, 3.5, 5.1]})
    write_star("CtfFind/job003/micrographs_ctf.star", {"optics": optics, "micrographs": mics})
    return tmp_path


def _both(coord_dir: str, *flags: str) -> None:
    """Run relion_preprocess into R/ and cryopick preprocess into C/ with the same flags.

    ``coord_dir`` ending in ``.star`` is a particle file to re-extract instead.
    """
    source = ["--reextract_data_star", coord_dir] if coord_dir.endswith(".star") else \
        ["--coord_dir", coord_dir, "--coord_suffix", "_autopick.star"]
    common = ["--i", "CtfFind/job003/micrographs_ctf.star", *source, "--extract", *flags]
    subprocess.run(["relion_preprocess", *common, "--part_star", "R/particles.star",
                    "--part_dir", "R/"], check=True, capture_output=True, timeout=120)
    assert main(["preprocess", *common, "--part_star", "C/particles.star", "--part_dir", "C/",
                 "--j", "2"]) == 0


def _assert_same_tables() -> pd.DataFrame:
    ours, theirs = read_star("C/particles.star"), read_star("R/particles.star")
    pd.testing.assert_frame_equal(ours["optics"], theirs["optics"])
    theirs["particles"]["rlnImageName"] = theirs["particles"]["rlnImageName"].str.replace(
        "@R/", "@C/")
    pd.testing.assert_frame_equal(ours["particles"], theirs["particles"])
    return ours["particles"]


def _assert_same_pixels(n_expected: int, atol: float = 1e-4) -> None:
    """Every particle: Pearson r ≥ 0.99 and a max abs difference within float32 round-off."""
    n = 0
    for stack in sorted(Path("R/Movies").glob("*.mrcs")):
        theirs = mrcfile.read(stack)
        ours = mrcfile.read(Path("C/Movies") / stack.name)
        assert ours.shape == theirs.shape
        for a, b in zip(ours, theirs):
            assert np.corrcoef(a.ravel(), b.ravel())[0, 1] >= 0.99
        np.testing.assert_allclose(ours, theirs, atol=atol, rtol=0)
        n += len(ours)
    assert n == n_expected


def _assert_normalised_background(radius: int) -> None:
    for stack in Path("C/Movies").glob("*.mrcs"):
        images = mrcfile.read(stack)
        background = images[:, background_mask(images.shape[-1], radius)]
        np.testing.assert_allclose(background.mean(axis=1), 0.0, atol=1e-4)
        np.testing.assert_allclose(background.std(axis=1), 1.0, atol=1e-4)


def test_tutorial_extraction_matches_relion(relion_project):
    radius = gui_bg_radius(-1, 128, 64)  # the GUI's default background circle: 24
    _both("AutoPick/job006/", "--extract_size", "128", "--scale", "64", "--norm",
          "--bg_radius", str(radius), "--white_dust", "-1", "--black_dust", "-1",
          "--invert_contrast")
    particles = _assert_same_tables()
    assert len(particles) == 45
    _assert_same_pixels(45)
    _assert_normalised_background(radius)


def test_edge_boxes_match_relion(relion_project):
    _both("AutoPick/job008/", "--extract_size", "96", "--norm", "--bg_radius", "36")
    _assert_same_tables()
    _assert_same_pixels(30)


def test_upscaling_without_ramp_matches_relion(relion_project):
    _both("AutoPick/job008/", "--extract_size", "64", "--scale", "90", "--norm",
          "--bg_radius", "40", "--no_ramp", "--invert_contrast")
    particles = _assert_same_tables()
    assert set(particles["rlnImageName"].str[:7]) >= {"000010@"}
    _assert_same_pixels(30)


def test_recentred_reextraction_matches_relion(relion_project):
    _both("AutoPick/job006/", "--extract_size", "128", "--scale", "64", "--norm",
          "--bg_radius", "24")
    refined = read_star("C/particles.star")
    rng = np.random.default_rng(3)
    for label in ("rlnOriginXAngst", "rlnOriginYAngst"):  # up to ±2.5 particle pixels
        refined["particles"][label] = rng.uniform(-10.0, 10.0, 45).round(2)
    write_star("Class2D/job009/run_it025_data.star", refined)
    shutil.rmtree("C")
    shutil.rmtree("R")
    _both("Class2D/job009/run_it025_data.star", "--recenter", "--extract_size", "96",
          "--norm", "--bg_radius", "36", "--invert_contrast")
    particles = _assert_same_tables()
    moved = particles["rlnCoordinateX"] - refined["particles"]["rlnCoordinateX"]
    assert (moved != 0).any() and np.allclose(moved, moved.round(), atol=1e-5)
    _assert_same_pixels(45)
