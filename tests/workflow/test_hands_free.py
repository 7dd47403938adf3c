"""Hands-free on data unlike the demo: many empty-ice LoG picks, and featureless classes.

One small simulated project (4 micrographs of 1280² px at 1.77 Å/px, half of each micrograph
empty ice, an ice gradient, contamination and specks) is run twice with the workflow's
defaults and only the values a user sets from the particle and pixel size, with a LoG search
that reaches down to small particles and weak peaks (so that most LoG picks are empty ice):
once as it comes, once with a 2D classification stopped after its first iteration, whose
classes are all featureless discs.
"""

from __future__ import annotations

import base64
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
import yaml
from support import score_demo_picks
from test_workflow_project import SNAKEMAKE

from cryopick.io.star import read_coordinates, read_micrographs_star, read_star
from cryopick.metrics import match_picks
from cryopick.simulate import CTF_STAR, SimulationConfig, junk_mask, simulate_project

pytestmark = pytest.mark.workflow

PIXEL_A, DIAMETER_A = 1.77, 170.0
SIM = SimulationConfig(n_micrographs=4, nx=1280, ny=1280, pixel_size_a=PIXEL_A,
                       particles_per_micrograph=40, particle_diameter_a=DIAMETER_A,
                       snr=0.07, empty_fraction=0.5, n_carbon=0, ice_gradient=1.0,
                       n_contaminations=(1, 3), contamination_size=(1.0, 3.0),
                       n_specks=(4, 10))
USER = {"micrographs_star": CTF_STAR, "backend": "numpy",
        "select": {"min_micrographs": 4},
        "autopick_log": {"diameter_min_a": 110, "threshold_adjust": -0.3},
        "extract": {"box_size_px": 128, "rescaled_size_px": 64, "bg_diameter_px": 100},
        "class2d": {"n_iter": 12}}
FEATURELESS = {"class2d": {"n_iter": 1, "n_classes": 2},
               "aliases": {"class2d": "Class2D/first", "select_templates": "Select/first",
                           "autopick_optimise": "AutoPick/first_optimise",
                           "autopick_template": "AutoPick/first",
                           "extract_template": "Extract/first"}}


def _run(root: Path, config: dict, name: str) -> None:
    path = root / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    run = subprocess.run([*SNAKEMAKE, "--directory", str(root), "--configfile", str(path),
                          "--cores", "2"], capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-4000:]


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("hands_free")
    simulate_project(root, config=SIM, seed=5)
    _run(root, USER, "user")
    return root


def _empty_ice_share(root: Path) -> float:
    """Share of the LoG picks on neither a particle nor contamination: empty ice."""
    empty = total = 0
    for name in read_micrographs_star(root / "Select/5mics/micrographs_selected.star").names:
        stem = Path(name).stem
        picks = read_coordinates(root / f"AutoPick/LoG/Movies/{stem}_autopick.star")
        truth = read_coordinates(root / f"Demo/truth/{stem}_truth.star")
        xy = picks[["rlnCoordinateX", "rlnCoordinateY"]].to_numpy(float)
        matched = np.zeros(len(xy), dtype=bool)
        pairs = match_picks(xy, truth[["rlnCoordinateX", "rlnCoordinateY"]].to_numpy(float),
                            0.5 * DIAMETER_A / PIXEL_A)
        matched[pairs[:, 0]] = True
        mask = junk_mask(root, stem, margin_px=0.25 * DIAMETER_A / PIXEL_A)
        x, y = np.rint(xy).astype(int).clip(0, SIM.nx - 1).T
        empty += int(np.sum(~matched & ~mask[y, x]))
        total += len(xy)
    return empty / total


def _truth_ncc(root: Path, model: str) -> dict[int, float]:
    """Per class: best NCC of its average with true projections (48 directions, ψ every 10°)."""
    import os

    from cryopick.classification.class_selection import read_class_averages
    from cryopick.classification.quality import best_ncc
    from cryopick.picking.projection import healpix_directions
    from cryopick.simulate import make_blobs, project_blobs

    cwd = os.getcwd()
    os.chdir(root)  # the model names its stack relative to the project
    try:
        table, images, pixel_a = read_class_averages(model)
    finally:
        os.chdir(cwd)
    directions = healpix_directions(1)
    angles = np.column_stack([directions, np.zeros(len(directions))])
    truth = project_blobs(make_blobs(DIAMETER_A, 5), angles, images.shape[-1], pixel_a)
    radius = 0.5 * 200.0 / pixel_a
    return {int(c): max(best_ncc(image, p, radius, step_deg=10.0) for p in truth)
            for c, image in zip(table["rlnClassNumber"], images)}


def test_empty_ice_picks_do_not_become_templates(project):
    assert _empty_ice_share(project) >= 0.4  # the case the demo lacks
    note = (project / "Select/templates4autopick/note.txt").read_text()
    assert "fallback" not in note and "templates: classes" in note
    chosen = read_star(project / "Select/templates4autopick/class_averages.star")[""]
    ncc = _truth_ncc(project, "Class2D/LoG/run_it012_model.star")
    assert all(ncc[int(c)] >= 0.8 for c in chosen["rlnClassNumber"]), (chosen, ncc)
    score = score_demo_picks(project, "AutoPick/template", 0.25 * 150.0 / PIXEL_A)
    assert score.f1 >= 0.85, score


def test_featureless_classes_fall_back_and_say_so(project):
    _run(project, {**USER, **FEATURELESS, "class2d": {**USER["class2d"],
                                                     **FEATURELESS["class2d"]}}, "first")
    note = (project / "Select/first/note.txt").read_text()
    assert "no particle-like class" in note and "retry:" in note
    assert "fallback: one blob template" in note or "templates: classes" in note.split(
        "retry:")[-1]
    particles = read_star(project / "Extract/first/particles.star")["particles"]
    assert len(particles) > 20
    run = subprocess.run([*SNAKEMAKE, "--directory", str(project), "--configfile",
                          str(project / "first.yaml"), "--report", "report.html"],
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    html = (project / "report.html").read_text(errors="replace")
    embedded = [base64.b64decode(m).decode(errors="replace")
                for m in re.findall(r"data:text/plain;[^,]*base64,([A-Za-z0-9+/=]+)", html)]
    decisions = [text for text in embedded if "Template selection" in text]
    assert decisions and "no particle-like class" in decisions[0], embedded[:3]
