"""The workflow on a real SLURM cluster (a one-node cluster on localhost in CI)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from cryopick.io.star import read_star
from test_workflow_project import REPO, SNAKEMAKE

pytestmark = pytest.mark.workflow


def _slurm_up() -> bool:
    if shutil.which("sinfo") is None:
        return False
    probe = subprocess.run(["sinfo", "-h", "-o", "%t"], capture_output=True, text=True,
                           timeout=20)
    return probe.returncode == 0 and any(s in probe.stdout for s in ("idle", "mix", "alloc"))


SLURM_UP = _slurm_up()
if not SLURM_UP and os.environ.get("CRYOPICK_REQUIRE_SLURM"):
    raise RuntimeError("CRYOPICK_REQUIRE_SLURM is set but no SLURM cluster answers sinfo: "
                       "start one with ../shared/ci/start-local-slurm.sh")
needs_slurm = pytest.mark.skipif(not SLURM_UP, reason="no SLURM cluster (sinfo) here")


# status checks every 2 s instead of the profile's 5 s growing by 10 s at each check: the
# jobs are short (see snakemake_steady_poll.py)
FAST_STATUS = ["--slurm-init-seconds-before-status-checks", "2"]
SLURM_SNAKEMAKE = [sys.executable, str(Path(__file__).with_name("snakemake_steady_poll.py")),
                   *SNAKEMAKE[3:]]


def _slurm_log_header(root, rule: str) -> str:
    """The job's rule block (threads, resources) at the top of its SLURM log."""
    logs = sorted((root / ".snakemake/slurm_logs" / f"rule_{rule}").rglob("*.log"))
    assert logs, f"no SLURM log for {rule}"
    return logs[-1].read_text().split("Shell command:")[0]


DEMO_ITER = 12  # enough iterations to be caught mid-way
DEMO_MODEL = f"Class2D/LoG/run_it{DEMO_ITER:03d}_model.star"


def _slurm_run(root, *targets: str) -> list[str]:
    return [*SLURM_SNAKEMAKE, "--directory", str(root), "--configfile",
            str(root / "config.yaml"), "--profile", str(REPO / "profiles/slurm"), *FAST_STATUS, *targets]


@pytest.fixture(scope="module")
def slurm_demo(tmp_path_factory):
    """The whole demo DAG through profiles/slurm: the default config (class2d.mpi_ranks 1) with
    a smaller demo and classification."""
    root = tmp_path_factory.mktemp("slurm_demo")
    (root / "config.yaml").write_text(yaml.safe_dump({
        "backend": "numpy", "demo": {"n_micrographs": 4, "seed": 2}, "select": {"first_n": 2},
        "class2d": {"n_classes": 4, "n_iter": DEMO_ITER},
        "select_templates": {"max_resolution_a": 100}}))
    run = subprocess.run(_slurm_run(root), capture_output=True, text=True, timeout=600)
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-4000:]
    assert "submitted with SLURM jobid" in output or "SLURM run ID" in output
    return root


@needs_slurm
def test_the_default_demo_workflow_runs_through_slurm_to_the_template_particles(slurm_demo):
    root = slurm_demo
    particles = read_star(root / "Extract/template/particles.star")["particles"]
    assert len(particles) > 20
    # one rank: the 2D classification is a plain threaded job, not an MPI job
    header = _slurm_log_header(root, "class2d")
    assert "threads: 2" in header and "mpi=" not in header and "tasks=" not in header, header
    for rule in ("simulate_demo", "autopick_log", "extract_log", "autopick_template",
                 "extract_template"):  # one shard: one picking job per stage
        assert _slurm_log_header(root, rule)
    report = subprocess.run([*SNAKEMAKE, "--directory", str(root), "--configfile",
                             str(root / "config.yaml"), "--report", "report.html"],
                            capture_output=True, text=True, timeout=300)
    assert report.returncode == 0, report.stderr[-3000:]
    html = (root / "report.html").read_text(errors="replace")
    assert "classes.png" in html and "templates.png" in html


def _copy_without(reference, root, *stages: str):
    """The finished reference project with ``stages`` (job folders) not yet run."""
    shutil.copytree(reference, root, symlinks=True)
    shutil.rmtree(root / ".snakemake/slurm_logs")
    for stage in stages:
        shutil.rmtree(root / stage)
    return root


def _scancel_when(root, command: list[str], rule: str, ready) -> subprocess.Popen:
    """Run ``command``; scancel the SLURM job of ``rule`` as soon as ``ready()``; wait."""
    with open(root / "killed.log", "w") as log:
        run = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.time() + 400
    job_id = None
    while time.time() < deadline and run.poll() is None:
        logs = list((root / ".snakemake/slurm_logs" / f"rule_{rule}").rglob("*.log"))
        if logs and ready():
            job_id = logs[0].stem
            subprocess.run(["scancel", job_id], check=True, timeout=60)
            break
        time.sleep(0.02)
    assert job_id is not None, (root / "killed.log").read_text()[-3000:]
    assert run.wait(timeout=300) != 0, "the run went on after its job was cancelled"
    return run


def _same_bytes(root, reference, pattern: str) -> None:
    files = sorted(p.relative_to(reference) for p in reference.glob(pattern))
    assert files, pattern
    for name in files:
        assert (root / name).read_bytes() == (reference / name).read_bytes(), name


@needs_slurm
def test_template_picking_cancelled_mid_way_reruns_without_redoing_finished_micrographs(
        slurm_demo, tmp_path):
    root = _copy_without(slurm_demo, tmp_path / "p", "AutoPick/template", "Extract/template")
    movies = root / "AutoPick/template/Movies"
    _scancel_when(root, _slurm_run(root), "autopick_template",
                  lambda: len(list(movies.glob("*_autopick.star"))) >= 1)
    finished = {p.name: p.stat().st_mtime_ns for p in movies.glob("*_autopick.star")}
    assert 1 <= len(finished) < 4, "cancelled too late: make the picking longer"
    rerun = subprocess.run(_slurm_run(root), capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, (rerun.stdout + rerun.stderr)[-4000:]
    # no micrograph finished before the cancel was picked again
    assert {name: (movies / name).stat().st_mtime_ns for name in finished} == finished
    assert "micrograph(s) finished by the interrupted attempt are kept" in \
        (root / "logs/autopick_template/shard0.log").read_text()
    _same_bytes(root, slurm_demo, "AutoPick/template/Movies/*.star")
    _same_bytes(root, slurm_demo, "Extract/template/**/*.mrcs")
    _same_bytes(root, slurm_demo, "Extract/template/particles.star")
    assert len(list((root / "AutoPick/template/pictures").rglob("*_autopick.png"))) == 4


@needs_slurm
def test_classification_cancelled_mid_way_resumes_to_the_same_classes(slurm_demo, tmp_path):
    root = _copy_without(slurm_demo, tmp_path / "p", "Class2D/LoG")
    second = root / "Class2D/LoG/run_it002_optimiser.star"
    _scancel_when(root, _slurm_run(root, DEMO_MODEL), "class2d", second.exists)
    assert not (root / DEMO_MODEL).exists(), "cancelled too late: make the classification longer"
    rerun = subprocess.run(_slurm_run(root, DEMO_MODEL), capture_output=True, text=True,
                           timeout=600)
    assert rerun.returncode == 0, (rerun.stdout + rerun.stderr)[-4000:]
    assert "resuming the interrupted run from Class2D/LoG/run_it00" in \
        (root / "logs/class2d.log").read_text()
    stem = DEMO_MODEL.replace("_model.star", "")
    for suffix in ("_model.star", "_data.star", "_classes.mrcs"):
        _same_bytes(root, slurm_demo, stem + suffix)
