"""End-to-end Snakemake runs inside an existing RELION-like project (no simulation)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from cryopick.io.mrc import write_mrc
from cryopick.io.star import read_coordinates, read_micrographs_star, write_star

pytestmark = pytest.mark.workflow

REPO = Path(__file__).resolve().parents[2]
SNAKEMAKE = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile")]
# the stages these blob micrographs can go through (no real particles to classify)
TARGETS = ["select_micrographs", "autopick_log"]


def make_project(root: Path) -> Path:
    """Three blob micrographs in MotionCorr/job002/Movies with a RELION 3.1 STAR and a config."""
    from support import make_blob_micrograph

    image, _ = make_blob_micrograph()
    names = []
    for i in range(3):
        name = f"MotionCorr/job002/Movies/mic{i + 1:03d}.mrc"
        write_mrc(root / name, np.roll(image, 50 * i, axis=0), 2.0)
        names.append(name)
    optics = pd.DataFrame({"rlnOpticsGroupName": ["opticsGroup1"], "rlnOpticsGroup": [1],
                           "rlnMicrographOriginalPixelSize": [2.0], "rlnVoltage": [300.0],
                           "rlnSphericalAberration": [2.7], "rlnAmplitudeContrast": [0.1],
                           "rlnMicrographPixelSize": [2.0]})
    mics = pd.DataFrame({"rlnMicrographName": names, "rlnOpticsGroup": 1,
                         "rlnDefocusU": 15000.0, "rlnDefocusV": 14000.0, "rlnDefocusAngle": 5.0})
    write_star(root / "CtfFind/job003/micrographs_ctf.star",
               {"optics": optics, "micrographs": mics})
    config = {"micrographs_star": "CtfFind/job003/micrographs_ctf.star", "backend": "numpy",
              "select": {"first_n": 2},
              "autopick_log": {"diameter_min_a": 110, "diameter_max_a": 140}}
    (root / "config.yaml").write_text(yaml.safe_dump(config))
    return root


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """The project after `snakemake all` (selection and LoG picking)."""
    root = make_project(tmp_path_factory.mktemp("project"))
    run = subprocess.run([*SNAKEMAKE, "--directory", str(root), "--configfile",
                          str(root / "config.yaml"), "--cores", "2", *TARGETS],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    return root


def test_selection_keeps_the_first_two_micrographs(project):
    selected = read_micrographs_star(project / "Select/5mics/micrographs_selected.star")
    assert selected.names == ["MotionCorr/job002/Movies/mic001.mrc",
                              "MotionCorr/job002/Movies/mic002.mrc"]


def test_log_job_folder_is_relions(project):
    job = project / "AutoPick/LoG"
    for stem in ("mic001", "mic002"):
        assert len(read_coordinates(job / f"Movies/{stem}_autopick.star")) >= 5
        assert (job / f"pictures/shard0/Movies/{stem}_autopick.png").stat().st_size > 10_000
    assert (job / "summary.png").is_file()
    assert not (job / "Movies/mic003_autopick.star").exists()
    assert (job / "coords_suffix_autopick.star").read_text().strip() == \
        "Select/5mics/micrographs_selected.star"
    note = (job / "note.txt").read_text()
    assert "cryopick autopick --i Select/5mics/micrographs_selected.star" in note
    assert "--LoG_diam_min 110" in note


def test_report_embeds_the_pick_pictures(project):
    run = subprocess.run([*SNAKEMAKE, "--directory", str(project), "--configfile",
                          str(project / "config.yaml"), "--report", "report.html", *TARGETS],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    html = (project / "report.html").read_text(errors="replace")
    assert "mic001_autopick.png" in html and "mic002_autopick.png" in html


def test_an_unchanged_rerun_does_nothing(project):
    run = subprocess.run([*SNAKEMAKE, "--directory", str(project), "--configfile",
                          str(project / "config.yaml"), "--cores", "2", "--dry-run", *TARGETS],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0
    assert "Nothing to be done" in run.stdout + run.stderr


def test_changing_a_picking_parameter_reruns_only_that_stage(tmp_path):
    root = make_project(tmp_path)
    base = [*SNAKEMAKE, "--directory", str(root), "--configfile", str(root / "config.yaml"),
            "--cores", "2", *TARGETS]
    assert subprocess.run(base, capture_output=True, timeout=300).returncode == 0
    config = yaml.safe_load((root / "config.yaml").read_text())
    config["autopick_log"]["threshold_adjust"] = 0.5
    (root / "config.yaml").write_text(yaml.safe_dump(config))
    run = subprocess.run([*base, "--dry-run", "--quiet", "rules"], capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    counts = {}
    for line in (run.stdout + run.stderr).splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit():
            counts[parts[0]] = int(parts[1])
    assert counts.get("autopick_log") == 1
    assert "select_micrographs" not in counts


def test_sharded_picking_gives_the_same_picks(project, tmp_path):
    root = make_project(tmp_path)
    config = yaml.safe_load((root / "config.yaml").read_text())
    (root / "config.yaml").write_text(yaml.safe_dump({**config, "shards": 2}))
    run = subprocess.run([*SNAKEMAKE, "--directory", str(root), "--configfile",
                          str(root / "config.yaml"), "--cores", "2", *TARGETS],
                         capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    for name in ("Movies/mic001_autopick.star", "Movies/mic002_autopick.star", "summary.star"):
        assert (root / "AutoPick/LoG" / name).read_bytes() == \
            (project / "AutoPick/LoG" / name).read_bytes()
    assert len(list((root / "AutoPick/LoG/pictures").rglob("*_autopick.png"))) == 2


def test_compute_jobs_ask_the_cluster_for_a_gpu_only_with_the_cupy_backend(project):
    def plan(backend):
        run = subprocess.run([*SNAKEMAKE, "--directory", str(project), "--configfile",
                              str(project / "config.yaml"), "--dry-run", "--forceall",
                              *TARGETS, "--config", f"backend={backend}"],
                             capture_output=True, text=True, timeout=300)
        assert run.returncode == 0, run.stderr[-2000:]
        return run.stdout + run.stderr

    assert "gres=gpu:1" in plan("cupy")
    assert "gres=gpu" not in plan("numpy")
