"""Template picking on simulated demo micrographs: FOM maps, picks, F1 against relion_autopick."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from support import assert_fom_maps_equal, needs_relion, probability_ratio, score_demo_picks
from cryopick.cli.main import main
from cryopick.io.mrc import write_mrc
from cryopick.io.spider import write_spider
from cryopick.io.star import read_coordinates, read_star, write_star
from cryopick.metrics import PickScore
from cryopick.picking.references import prepare_templates
from cryopick.simulate import make_blobs, project_blobs, simulate_project

pytestmark = [needs_relion, pytest.mark.relion]

STAR = "CtfFind/job003/micrographs_ctf.star"
STEMS = ("mic001", "mic002")
PIXEL_A = 0.885
VIEWS_DEG = [(0.0, 0.0, 0.0), (0.0, 90.0, 0.0), (90.0, 90.0, 0.0), (45.0, 45.0, 30.0)]
FLAGS = ["--ref", "refs.star", "--invert", "--ctf", "--ang", "10", "--lowpass", "20",
         "--shrink", "0", "--threshold", "0.5", "--min_distance", "100",
         "--max_stddev_noise", "-1", "--min_avg_noise", "-0.2", "--write_fom_maps"]
LOG = ["--LoG", "--LoG_diam_min", "150", "--LoG_diam_max", "180", "--shrink", "0",
       "--lowpass", "20", "--LoG_upper_threshold", "5"]


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """Two demo micrographs; four white class-average-like references at 3.54 Å/px."""
    root = tmp_path_factory.mktemp("tpldemo")
    simulate_project(root, preset="demo", n_micrographs=2, seed=9)
    images = project_blobs(make_blobs(), np.array(VIEWS_DEG), 64, 3.54)
    yy, xx = np.mgrid[:64, :64] - 32
    images = images / images.std() * ((yy**2 + xx**2) < (200 / 3.54 / 2) ** 2)
    write_mrc(root / "refs.mrcs", images.astype(np.float32), 3.54, stack=True)
    write_star(root / "refs.star", {"": pd.DataFrame(
        {"rlnReferenceImage": [f"{i:06d}@refs.mrcs" for i in range(1, 5)]})})
    subprocess.run(["relion_autopick", "--i", STAR, "--odir", "R/", "--pickname", "autopick",
                    *FLAGS], cwd=root, check=True, capture_output=True, timeout=600)
    return root


def _score(root: Path, odir: str) -> PickScore:
    return score_demo_picks(root, odir, 0.25 * 150 / PIXEL_A)


def test_fom_maps_equal_relions_and_picks_score_as_well(demo, monkeypatch):
    """Square micrographs, STAR references at 3.54 Å/px rescaled to 0.885, the automatic mask
    diameter, CTF and --min_avg_noise: every FOM and noise map equals RELION's (support)."""
    monkeypatch.chdir(demo)
    assert main(["autopick", "--i", STAR, "--odir", "C/", *FLAGS, "--j", "2"]) == 0
    templates = prepare_templates("refs.star", PIXEL_A, invert=True)
    for stem in STEMS:
        assert_fom_maps_equal(demo / f"C/Movies/{stem}_autopick",
                              demo / f"R/Movies/{stem}_autopick", 4, templates.n_inside)
    assert main(["autopick", "--i", STAR, "--odir", "L/", *LOG]) == 0
    ours, theirs, log = _score(demo, "C"), _score(demo, "R"), _score(demo, "L")
    assert ours.f1 >= theirs.f1 - 0.005, (ours, theirs)  # RELION's E has a random term
    assert ours.f1 >= log.f1, (ours, log)


def test_picks_equal_relions_given_relions_expected_ratios(demo, monkeypatch):
    """With RELION's E in place of ours (our P maps re-expressed as FOM = (P − 1)/(E − 1)), the
    picks are RELION's: same positions, classes and ψ, FOM to 2e-3 (P's rounding, ~1e-5, over
    E − 1 ≈ 0.005). E differs between
    the programs only by its random term, yet with CTF (E − 1 ~ 0.005) that alone reorders
    which reference wins a particle, so the picks are compared at equal E."""
    monkeypatch.chdir(demo)
    if not (demo / "C").is_dir():
        assert main(["autopick", "--i", STAR, "--odir", "C/", *FLAGS, "--j", "2"]) == 0
    shutil.copytree(demo / "C", demo / "CE")
    for stem in STEMS:
        for ref in range(4):
            name = f"Movies/{stem}_autopick_ref{ref:06d}._bestCCF.spi"
            p_ours, _ = probability_ratio(demo / "C" / name)
            _, e_theirs = probability_ratio(demo / "R" / name)
            write_spider(demo / "CE" / name, (p_ours - 1.0) / (e_theirs - 1.0), e_theirs)
    assert main(["autopick", "--i", STAR, "--odir", "CE/", *FLAGS[:-1], "--read_fom_maps"]) == 0
    for stem in STEMS:
        ours = _rows(demo / f"CE/Movies/{stem}_autopick.star")
        theirs = _rows(demo / f"R/Movies/{stem}_autopick.star")
        assert len(ours) == len(theirs) > 20, stem
        assert [r[:3] + r[4:] for r in ours] == [r[:3] + r[4:] for r in theirs], stem
        np.testing.assert_allclose([float(r[3]) for r in ours], [float(r[3]) for r in theirs],
                                   rtol=0, atol=2e-3, err_msg=stem)


def _rows(path: Path) -> list[list[str]]:
    """X, Y, class, FOM, ψ of every pick (text, as written)."""
    return [line.split() for line in path.read_text().splitlines()
            if len(line.split()) == 5 and not line.startswith("_")]


def test_relions_empty_pick_file_is_a_micrograph_without_picks(demo, monkeypatch):
    """relion_autopick writes a 0-byte coordinate file where it finds nothing; extraction
    reads it as no particles, as relion_preprocess does, and extracts the other micrograph."""
    monkeypatch.chdir(demo)
    shutil.copytree("R", "E")
    # re-pick from RELION's maps above mic001's best FOM (RELION aborts when no micrograph
    # has a pick, after writing the files)
    best = [max(float(row[3]) for row in _rows(Path(f"R/Movies/{stem}_autopick.star")))
            for stem in STEMS]
    assert best[0] < best[1]
    threshold = f"{(best[0] + best[1]) / 2:.3f}"
    subprocess.run(["relion_autopick", "--i", STAR, "--odir", "E/", "--pickname", "autopick",
                    *[f if f != "0.5" else threshold for f in FLAGS[:-1]], "--read_fom_maps"],
                   check=True, capture_output=True, timeout=600)
    empty = Path(f"E/Movies/{STEMS[0]}_autopick.star")
    assert empty.stat().st_size == 0  # RELION's way of writing "no picks"
    assert len(read_coordinates(empty)) == 0
    flags = ["--i", STAR, "--coord_dir", "E/", "--coord_suffix", "_autopick.star", "--extract",
             "--extract_size", "256", "--scale", "64", "--norm", "--bg_radius", "25",
             "--invert_contrast"]
    subprocess.run(["relion_preprocess", *flags, "--part_star", "XR/particles.star",
                    "--part_dir", "XR/"], check=True, capture_output=True, timeout=300)
    assert main(["preprocess", *flags, "--part_star", "XC/particles.star", "--part_dir",
                 "XC/"]) == 0
    ours, theirs = read_star("XC/particles.star")["particles"], \
        read_star("XR/particles.star")["particles"]
    picks = len(_rows(Path(f"E/Movies/{STEMS[1]}_autopick.star")))
    assert len(ours) == len(theirs) == picks > 0
    assert set(ours["rlnMicrographName"]) == {f"MotionCorr/job002/Movies/{STEMS[1]}.mrc"}
