"""Hands-free on data unlike the demo: many empty-ice LoG picks, and featureless classes.

One small simulated project (3 micrographs of 1024² px at 1.77 Å/px, half of each micrograph
empty ice, contamination) is run twice with the workflow's defaults and only the values a
user sets from the particle and pixel size: once as it comes, once with a 2D classification
stopped after its first iteration, whose classes are all featureless discs.
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
SIM = SimulationConfig(n_micrographs=3, nx=1024, ny=1024, pixel_size_a=PIXEL_A,
                       particles_per_micrograph=14, particle_diameter_a=DIAMETER_A,
                       snr=0.07, empty_fraction=0.5, n_carbon=0)
USER = {"micrographs_star": CTF_STAR, "backend": "numpy",
        "select": {"min_micrographs": 3},
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
        x, y = np.rint(xy).astype(int).clip(0, 1023).T
        empty += int(np.sum(~matched & ~mask[y, x]))
        total += len(xy)
    return empty / total


def test_empty_ice_picks_do_not_become_templates(project):
    assert _empty_ice_share(project) >= 0.4  # the case the demo lacks
    note = (project / "Select/templates4autopick/note.txt").read_text()
    assert "fallback" not in note and "templates: classes" in note
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
