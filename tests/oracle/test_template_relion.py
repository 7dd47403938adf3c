"""Template picking against the real relion_autopick: FOM maps, picks, FOM-map interchange."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest
from scipy.ndimage import rotate

from support import assert_fom_maps_equal, needs_relion
from cryopick.cli.main import main
from cryopick.io.mrc import read_image_stack, write_mrc
from cryopick.picking.references import prepare_templates
from cryopick.io.star import write_star

pytestmark = [needs_relion, pytest.mark.relion]

PIXEL_A, BOX = 2.0, 64
FLAGS = ["--ref", "refs.mrcs", "--invert", "--ang", "10", "--lowpass", "20", "--shrink", "0",
         "--threshold", "0.3", "--min_distance", "60"]


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """One 600 px micrograph with CTF labels, dark rotated copies of two white references."""
    root = tmp_path_factory.mktemp("tplrelion")
    rng = np.random.default_rng(1)
    yy, xx = np.mgrid[:BOX, :BOX] - BOX // 2

    def blob(y, x, s, a):
        return a * np.exp(-((yy - y) ** 2 + (xx - x) ** 2) / (2 * s * s))

    refs = np.stack([blob(0, 0, 7, 1) + blob(-8, 6, 4, 0.8) + blob(9, -3, 3, 0.6),
                     blob(0, -5, 5, 1) + blob(0, 6, 5, 1)]) * ((yy**2 + xx**2) < 25**2)
    write_mrc(root / "refs.mrcs", refs.astype(np.float32), PIXEL_A, stack=True)
    image = rng.normal(0, 1, (600, 600)).astype(np.float32)
    placed = []
    while len(placed) < 9:
        y, x = rng.uniform(60, 540, 2)
        if all((y - a) ** 2 + (x - b) ** 2 >= 90**2 for a, b in placed):
            placed.append((y, x))
            copy = rotate(refs[len(placed) % 2], rng.uniform(0, 360), reshape=False, order=1)
            image[int(y) - 32:int(y) + 32, int(x) - 32:int(x) + 32] -= 1.5 * copy
    write_mrc(root / "Movies/m.mrc", image, PIXEL_A)
    optics = pd.DataFrame({"rlnOpticsGroupName": ["opticsGroup1"], "rlnOpticsGroup": [1],
                           "rlnMicrographOriginalPixelSize": [PIXEL_A], "rlnVoltage": [300.0],
                           "rlnSphericalAberration": [2.7], "rlnAmplitudeContrast": [0.1],
                           "rlnMicrographPixelSize": [PIXEL_A]})
    write_star(root / "mics.star", {"optics": optics, "micrographs": pd.DataFrame({
        "rlnMicrographName": ["Movies/m.mrc"], "rlnOpticsGroup": [1],
        "rlnDefocusU": [15000.0], "rlnDefocusV": [14000.0], "rlnDefocusAngle": [20.0],
        "rlnCtfBfactor": [0.0]})})
    return root


def _run_both(project, extra, monkeypatch):
    monkeypatch.chdir(project)
    subprocess.run(["relion_autopick", "--i", "mics.star", "--odir", "R/", "--pickname",
                    "autopick", *FLAGS, *extra, "--write_fom_maps"], check=True,
                   capture_output=True, timeout=120)
    assert main(["autopick", "--i", "mics.star", "--odir", "C/", "--pickname", "autopick",
                 *FLAGS, *extra, "--write_fom_maps"]) == 0


def _rows(path, columns=(0, 1, 2, 4)):
    return [[line.split()[c] for c in columns] for line in path.read_text().splitlines()
            if len(line.split()) == 5 and not line.startswith("_")]


@pytest.mark.parametrize("extra", [[], ["--ctf"]], ids=["no-ctf", "ctf"])
def test_fom_and_noise_maps_equal_relions(project, extra, monkeypatch):
    """The likelihood ratio P behind each FOM map and both noise maps equal RELION's; the FOM
    itself differs only through E, which both programs draw at random (see support)."""
    _run_both(project, extra, monkeypatch)
    templates = prepare_templates("refs.mrcs", PIXEL_A, invert=True)
    assert_fom_maps_equal(project / "C/Movies/m_autopick", project / "R/Movies/m_autopick", 2,
                          templates.n_inside)


def test_picks_match_relions_positions_classes_and_angles(project, monkeypatch):
    _run_both(project, [], monkeypatch)
    ours = _rows(project / "C/Movies/m_autopick.star")
    assert len(ours) == 9
    # FOM values differ by RELION's random expected-ratio term; everything else is identical
    assert ours == _rows(project / "R/Movies/m_autopick.star")


def test_fom_maps_are_interchangeable_with_relion(project, monkeypatch):
    _run_both(project, [], monkeypatch)
    flags = [*FLAGS[:-4], "--threshold", "0.5", "--min_distance", "80", "--read_fom_maps"]
    for src, dst in (("R", "ours_from_relion"), ("C", "relion_from_ours")):
        shutil.copytree(project / src, project / dst)
        (project / dst / "Movies/m_autopick.star").unlink()
    assert main(["autopick", "--i", "mics.star", "--odir", "ours_from_relion/", *flags]) == 0
    subprocess.run(["relion_autopick", "--i", "mics.star", "--odir", "relion_from_ours/",
                    "--pickname", "autopick", *flags], check=True, capture_output=True,
                   timeout=120)
    subprocess.run(["relion_autopick", "--i", "mics.star", "--odir", "R/", "--pickname",
                    "autopick", *flags], check=True, capture_output=True, timeout=120)
    assert main(["autopick", "--i", "mics.star", "--odir", "C/", *flags]) == 0
    every = (0, 1, 2, 3, 4)
    assert _rows(project / "ours_from_relion/Movies/m_autopick.star", every) == \
        _rows(project / "R/Movies/m_autopick.star", every)
    assert _rows(project / "relion_from_ours/Movies/m_autopick.star", every) == \
        _rows(project / "C/Movies/m_autopick.star", every)


@pytest.mark.parametrize("pixel_a", [0.5, 3.0], ids=["up", "down"])
def test_rescaled_references_are_relions_resized_maps_times_the_box_ratio(project, pixel_a,
                                                                           monkeypatch):
    """relion_autopick resizes references as relion_image_handler --rescale_angpix does, then,
    when the box grows, multiplies them by old/new box (the noise level of down-scaled
    particles): our prepared references inside the mask equal that."""
    monkeypatch.chdir(project)
    out = f"rescaled_{pixel_a}.mrcs"
    subprocess.run(["relion_image_handler", "--i", "refs.mrcs", "--o", out, "--angpix",
                    str(PIXEL_A), "--rescale_angpix", str(pixel_a)], check=True,
                   capture_output=True, timeout=60)
    resized = read_image_stack(out)
    box = resized.shape[-1]
    diameter = box * pixel_a  # the largest mask: a disc 2 px inside the box
    templates = prepare_templates("refs.mrcs", pixel_a, angpix_ref=PIXEL_A,
                                  particle_diameter_a=diameter)
    assert templates.box_px == box == 2 * round(BOX / 2 * PIXEL_A / pixel_a)
    logical = np.arange(box) - box // 2
    inside = logical[:, None] ** 2 + logical[None, :] ** 2 < templates.radius2_px
    assert inside.sum() > 0.5 * box * box
    expected = resized * min(1.0, BOX / box)
    np.testing.assert_allclose(templates.images[:, inside], expected[:, inside], rtol=0,
                               atol=1e-5 * np.abs(expected).max())
