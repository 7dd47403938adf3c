"""Automatic template choice against the best hand-chosen set, on simulated demo data.

The workflow runs from simulated micrographs to template picks twice in one project: once
with the classes chosen automatically (the default), once with the same number of classes
chosen by hand as a user with perfect knowledge would: those whose averages correlate best
with true projections of the simulated particle. Both pick sets are scored against the
simulated particle positions.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
import yaml
from support import score_demo_picks
from test_workflow_project import SNAKEMAKE

from cryopick.classification.class_selection import read_class_averages
from cryopick.classification.quality import best_ncc
from cryopick.io.star import read_star
from cryopick.metrics import PickScore
from cryopick.picking.projection import healpix_directions
from cryopick.simulate import CTF_STAR, make_blobs, project_blobs

pytestmark = pytest.mark.workflow

SEED, N_MICS, N_ITER, DIAMETER_A = 3, 4, 12, 170.0
MODEL = f"Class2D/LoG/run_it{N_ITER:03d}_model.star"
PICKS = "coords_suffix_autopick.star"
BASE = {"backend": "numpy", "demo": {"preset": "demo", "seed": SEED, "n_micrographs": N_MICS},
        "select": {"first_n": N_MICS}, "class2d": {"n_classes": 8, "n_iter": N_ITER}}
HAND = {"select_templates": "Select/hand", "autopick_optimise": "AutoPick/hand_optimise",
        "autopick_template": "AutoPick/hand"}


def _run(root: Path, config: dict, target: str) -> None:
    path = root / f"{target.split('/')[1]}.yaml"
    path.write_text(yaml.safe_dump(config))
    run = subprocess.run([*SNAKEMAKE, "--directory", str(root), "--configfile", str(path),
                          "--cores", "2", target], capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-4000:]


def _truth_ncc(root: Path) -> dict[int, float]:
    """Per populated class: best NCC of its average with true projections (48 directions,
    in-plane rotations every 10°)."""
    table, images, pixel_a = read_class_averages(root / MODEL)
    directions = healpix_directions(1)
    angles = np.column_stack([directions, np.zeros(len(directions))])
    truth = project_blobs(make_blobs(DIAMETER_A, SEED), angles, images.shape[-1], pixel_a)
    radius = 0.5 * 200.0 / pixel_a
    return {int(c): max(best_ncc(image, p, radius, step_deg=10.0) for p in truth)
            for c, d, image in zip(table["rlnClassNumber"], table["rlnClassDistribution"],
                                   images) if d >= 0.01}


def _score(root: Path, odir: str) -> PickScore:
    pixel_a = float(read_star(root / CTF_STAR)["optics"]["rlnMicrographPixelSize"].iloc[0])
    return score_demo_picks(root, odir, 0.25 * 150.0 / pixel_a)


def test_automatic_templates_pick_as_well_as_the_best_hand_chosen_set(tmp_path, monkeypatch):
    root = tmp_path
    monkeypatch.chdir(root)  # STAR files name images relative to the project
    _run(root, BASE, f"AutoPick/template/{PICKS}")
    chosen = read_star(root / "Select/templates4autopick/class_averages.star")[""]
    auto = sorted(int(c) for c in chosen["rlnClassNumber"])
    ncc = _truth_ncc(root)
    hand = sorted(sorted(ncc, key=ncc.get, reverse=True)[: len(auto)])
    _run(root, {**BASE, "aliases": HAND, "select_templates": {"classes": hand}},
         f"AutoPick/hand/{PICKS}")
    listed = read_star(root / "Select/hand/class_averages.star")[""]
    assert sorted(int(c) for c in listed["rlnClassNumber"]) == hand
    f1_auto, f1_hand = _score(root, "AutoPick/template").f1, _score(root, "AutoPick/hand").f1
    print(f"auto {auto} F1 {f1_auto:.3f}; hand {hand} F1 {f1_hand:.3f}; NCC {ncc}")
    assert f1_hand > 0.5, (hand, ncc, f1_hand)  # the comparison is between working picks
    assert f1_auto >= f1_hand - 0.02, (auto, hand, ncc, f1_auto, f1_hand)
