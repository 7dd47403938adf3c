"""LoG picking on simulated demo micrographs: cryopick against relion_autopick and the truth."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from support import needs_relion
from cryopick.cli.main import main
from cryopick.io.star import read_coordinates, read_micrographs_star
from cryopick.metrics import PickScore, agreement, score_picks
from cryopick.simulate import simulate_project

pytestmark = [needs_relion, pytest.mark.relion]

STAR = "CtfFind/job003/micrographs_ctf.star"
FLAGS = ["--LoG", "--LoG_diam_min", "150", "--LoG_diam_max", "180", "--shrink", "0",
         "--lowpass", "20", "--LoG_adjust_threshold", "0", "--LoG_upper_threshold", "5"]
PIXEL_A = 0.885
XY = ["rlnCoordinateX", "rlnCoordinateY"]


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo")
    simulate_project(root, preset="demo", n_micrographs=3, seed=5)
    subprocess.run(["relion_autopick", "--i", STAR, "--odir", "R/", "--pickname", "autopick",
                    *FLAGS], cwd=root, check=True, capture_output=True, timeout=300)
    return root


def _picks(root: Path, odir: str, name: str) -> np.ndarray:
    stem = Path(name).stem
    return read_coordinates(root / odir / f"Movies/{stem}_autopick.star")[XY].to_numpy(float)


def _truth(root: Path, name: str) -> np.ndarray:
    return read_coordinates(root / f"Demo/truth/{Path(name).stem}_truth.star")[XY].to_numpy()


def _score(root: Path, odir: str) -> PickScore:
    total = PickScore(0, 0, 0)
    for name in read_micrographs_star(root / STAR).names:
        total = total + score_picks(_picks(root, odir, name), _truth(root, name),
                                    0.25 * 150 / PIXEL_A)
    return total


def test_picks_agree_with_relions_and_score_at_least_as_well(demo, monkeypatch):
    monkeypatch.chdir(demo)
    assert main(["autopick", "--i", STAR, "--odir", "C/", *FLAGS, "--j", "2"]) == 0
    for name in read_micrograph_names(demo):
        ours, theirs = _picks(demo, "C", name), _picks(demo, "R", name)
        a, b = agreement(ours, theirs, radius_px=0.2 * 150 / PIXEL_A)
        assert a >= 0.8 and b >= 0.8, (name, a, b)
    ours, theirs = _score(demo, "C"), _score(demo, "R")
    assert ours.f1 >= theirs.f1 > 0.7, (ours, theirs)


def test_cryopick_noise_filter_beats_relions_f1(demo, monkeypatch):
    monkeypatch.chdir(demo)
    assert main(["autopick", "--i", STAR, "--odir", "N/", *FLAGS, "--LoG_noise_filters",
                 "--min_avg_noise", "-0.2"]) == 0
    ours, theirs = _score(demo, "N"), _score(demo, "R")
    assert ours.f1 > theirs.f1 and ours.recall >= theirs.recall - 0.01, (ours, theirs)


def read_micrograph_names(root: Path) -> list[str]:
    return read_micrographs_star(root / STAR).names
