"""LoG picking against the real relion_autopick, and RELION reading our coordinates."""

from __future__ import annotations

import subprocess

import numpy as np
import pandas as pd
import pytest

from support import needs_relion
from cryopick.cli.main import main
from cryopick.io.mrc import write_mrc
from cryopick.io.star import read_coordinates, read_star, write_star

pytestmark = [needs_relion, pytest.mark.relion]

PIXEL_A = 2.0
LOG_FLAGS = ["--LoG", "--LoG_diam_min", "110", "--LoG_diam_max", "140", "--lowpass", "20",
             "--shrink", "0", "--LoG_upper_threshold", "5", "--LoG_adjust_threshold", "-0.5"]


@pytest.fixture
def blob_project(tmp_path, monkeypatch, blob_micrograph):
    """A square and a non-square blob micrograph in a RELION 3.1 project with CTF labels."""
    monkeypatch.chdir(tmp_path)
    image, _ = blob_micrograph
    names = ["MotionCorr/job002/Movies/square.mrc", "MotionCorr/job002/Movies/wide.mrc"]
    write_mrc(names[0], np.ascontiguousarray(image[:, :600]), PIXEL_A)
    write_mrc(names[1], image, PIXEL_A)
    optics = pd.DataFrame({"rlnOpticsGroupName": ["opticsGroup1"], "rlnOpticsGroup": [1],
                           "rlnMicrographOriginalPixelSize": [PIXEL_A], "rlnVoltage": [300.0],
                           "rlnSphericalAberration": [2.7], "rlnAmplitudeContrast": [0.1],
                           "rlnMicrographPixelSize": [PIXEL_A]})
    mics = pd.DataFrame({"rlnMicrographName": names, "rlnOpticsGroup": [1, 1],
                         "rlnDefocusU": [15000.0, 21000.0], "rlnDefocusV": [14500.0, 20500.0],
                         "rlnDefocusAngle": [10.0, 80.0], "rlnCtfBfactor": [0.0, 0.0]})
    write_star("mics.star", {"optics": optics, "micrographs": mics})
    # RELION picks only micrographs of one size per run
    write_star("square.star", {"optics": optics, "micrographs": mics.iloc[:1]})
    write_star("wide.star", {"optics": optics, "micrographs": mics.iloc[1:]})
    return tmp_path


def _rows(path):
    """The data lines of a coordinate file, as RELION formatted them."""
    return [line.split() for line in path.read_text().splitlines()
            if len(line.split()) == 5 and not line.startswith("_")]


def _relion(*args: str) -> None:
    subprocess.run(list(args), check=True, capture_output=True, text=True, timeout=120)


def test_square_micrograph_picks_are_identical_to_relions(blob_project):
    _relion("relion_autopick", "--i", "square.star", "--odir", "R/", "--pickname", "autopick",
            *LOG_FLAGS)
    assert main(["autopick", "--i", "square.star", "--odir", "C/", "--pickname", "autopick",
                 *LOG_FLAGS]) == 0
    ours = _rows(blob_project / "C/Movies/square_autopick.star")
    theirs = _rows(blob_project / "R/Movies/square_autopick.star")
    assert len(ours) >= 5
    assert ours == theirs  # same coordinates, FOMs and order, to RELION's printed digits


def test_non_square_picks_agree_with_relions_within_noise_padding(blob_project):
    _relion("relion_autopick", "--i", "wide.star", "--odir", "R/", "--pickname", "autopick",
            *LOG_FLAGS)
    assert main(["autopick", "--i", "wide.star", "--odir", "C/", *LOG_FLAGS]) == 0
    ours = read_coordinates(blob_project / "C/Movies/wide_autopick.star")
    theirs = read_coordinates(blob_project / "R/Movies/wide_autopick.star")
    xy = ["rlnCoordinateX", "rlnCoordinateY"]
    # the five blobs (the strongest picks) are identical; weak noise picks may differ
    np.testing.assert_allclose(ours[xy].to_numpy()[:5], theirs[xy].to_numpy()[:5], atol=1e-3)
    from cryopick.metrics import agreement

    a, b = agreement(ours[xy].to_numpy(), theirs[xy].to_numpy(), radius_px=0.2 * 110 / PIXEL_A)
    assert a >= 0.8 and b >= 0.8


def test_relion_preprocess_extracts_our_picks(blob_project):
    assert main(["autopick", "--i", "mics.star", "--odir", "AutoPick/job006/", "--pickname",
                 "autopick", *LOG_FLAGS]) == 0
    n_picks = sum(len(read_coordinates(p))
                  for p in (blob_project / "AutoPick/job006/Movies").glob("*_autopick.star"))
    # the coordinate directory and suffix as RELION 3.1's Extract job derives them
    _relion("relion_preprocess", "--i", "mics.star", "--coord_dir", "AutoPick/job006/",
            "--coord_suffix", "_autopick.star", "--part_star", "Extract/job007/particles.star",
            "--part_dir", "Extract/job007/", "--extract", "--extract_size", "64", "--norm",
            "--bg_radius", "24", "--invert_contrast")
    particles = read_star(blob_project / "Extract/job007/particles.star")["particles"]
    assert len(particles) == n_picks > 0
