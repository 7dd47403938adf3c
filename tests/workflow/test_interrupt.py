"""Interrupted runs: SIGKILL a picking job mid-way; re-running completes with identical files."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from cryopick.io.mrc import write_mrc
from cryopick.io.star import write_star
from test_workflow_project import SNAKEMAKE

pytestmark = pytest.mark.workflow
N_MICS = 16


def _project(root: Path) -> Path:
    rng = np.random.default_rng(11)
    yy, xx = np.mgrid[:1536, :1536]
    names = []
    for i in range(N_MICS):
        image = rng.normal(size=(1536, 1536)).astype(np.float32)
        for y, x in rng.uniform(150, 1386, (12, 2)):
            image -= np.exp(-((yy - y) ** 2 + (xx - x) ** 2) / 800.0).astype(np.float32)
        names.append(f"MotionCorr/job002/Movies/m{i:02d}.mrc")
        write_mrc(root / names[-1], image, 2.0)
    optics = pd.DataFrame({"rlnOpticsGroupName": ["g1"], "rlnOpticsGroup": [1],
                           "rlnMicrographPixelSize": [2.0], "rlnVoltage": [300.0],
                           "rlnSphericalAberration": [2.7], "rlnAmplitudeContrast": [0.1]})
    write_star(root / "mics.star", {"optics": optics, "micrographs": pd.DataFrame(
        {"rlnMicrographName": names, "rlnOpticsGroup": 1})})
    (root / "config.yaml").write_text(yaml.safe_dump({
        "micrographs_star": "mics.star", "backend": "numpy", "select": {"first_n": N_MICS},
        "autopick_log": {"diameter_min_a": 100, "diameter_max_a": 130}}))
    return root


def _snakemake(root: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([*SNAKEMAKE, "--directory", str(root), "--configfile",
                             str(root / "config.yaml"), "--cores", "1", "--rerun-incomplete",
                             *(extra or ("autopick_log",))],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)


def _files(root: Path) -> dict[str, bytes]:
    job = root / "AutoPick/LoG"
    return {str(p.relative_to(job)): p.read_bytes() for p in sorted(job.rglob("*.star"))}


def test_killed_picking_job_reruns_to_identical_results(tmp_path):
    reference = _project(tmp_path / "reference")
    assert _snakemake(reference).wait(timeout=300) == 0
    root = _project(tmp_path / "killed")
    run = _snakemake(root)
    first = root / "AutoPick/LoG/Movies/m00_autopick.star"
    deadline = time.time() + 240
    while not first.exists() and time.time() < deadline and run.poll() is None:
        time.sleep(0.02)
    os.killpg(run.pid, signal.SIGKILL)
    run.wait()
    killed_mid_way = not (root / "AutoPick/LoG/coords_suffix_autopick.star").exists()
    assert killed_mid_way, "the job finished before it could be killed; make it longer"
    assert not [p for p in root.rglob("*") if p.name.startswith(".") and "tmp" in p.name]
    # a killed Snakemake leaves its lock behind: unlock (as Snakemake asks), then re-run
    assert _snakemake(root, "--unlock", "autopick_log").wait(timeout=120) == 0
    rerun = _snakemake(root)
    assert rerun.wait(timeout=300) == 0, rerun.stdout.read().decode()[-3000:]
    assert _files(root) == _files(reference)


def _class2d_project(root: Path) -> Path:
    from test_workflow_project import make_project

    make_project(root)
    config = yaml.safe_load((root / "config.yaml").read_text())
    config["class2d"] = {"n_classes": 2, "n_iter": CLASS2D_ITER}
    (root / "config.yaml").write_text(yaml.safe_dump(config))
    return root


CLASS2D_ITER = 12
CLASS2D_MODEL = f"Class2D/LoG/run_it{CLASS2D_ITER:03d}_model.star"


def _class2d_files(root: Path) -> dict[str, bytes]:
    """The last iteration's classes, model and data STAR files (the optimiser STAR records
    the command line, which names the iteration a resumed run continued from)."""
    stem = root / CLASS2D_MODEL.replace("_model.star", "")
    return {suffix: Path(f"{stem}{suffix}").read_bytes()
            for suffix in ("_model.star", "_data.star", "_classes.mrcs")}


def test_killed_classification_resumes_from_its_last_iteration_to_identical_results(tmp_path):
    reference = _class2d_project(tmp_path / "reference")
    assert _snakemake(reference, CLASS2D_MODEL).wait(timeout=600) == 0
    root = _class2d_project(tmp_path / "killed")
    run = _snakemake(root, CLASS2D_MODEL)
    second = root / "Class2D/LoG/run_it002_optimiser.star"
    deadline = time.time() + 500
    while not second.exists() and time.time() < deadline and run.poll() is None:
        time.sleep(0.01)
    os.killpg(run.pid, signal.SIGKILL)
    run.wait()
    assert second.exists() and not (root / CLASS2D_MODEL).exists(), \
        "the classification was not killed between iterations 2 and the last; make it longer"
    assert _snakemake(root, "--unlock", CLASS2D_MODEL).wait(timeout=120) == 0
    rerun = _snakemake(root, CLASS2D_MODEL)
    assert rerun.wait(timeout=600) == 0, rerun.stdout.read().decode()[-3000:]
    log = (root / "logs/class2d.log").read_text()
    assert "resuming the interrupted run from Class2D/LoG/run_it00" in log
    assert "wrote Class2D/LoG/run_it001_model.star" not in log.split("resuming")[-1]
    assert not [p for p in (root / "Class2D").rglob("*") if ".tmp" in p.name]
    assert _class2d_files(root) == _class2d_files(reference)
