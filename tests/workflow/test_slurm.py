"""The workflow on a real SLURM cluster (a one-node cluster on localhost in CI)."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
import yaml

from cryopick.io.star import read_star
from test_workflow_project import REPO, SNAKEMAKE, make_project

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


# status checks every few seconds instead of the profile's 5 s + 10 s steps: the jobs are short
FAST_STATUS = ["--slurm-init-seconds-before-status-checks", "2"]


def _slurm_log_header(root, rule: str) -> str:
    """The job's rule block (threads, resources) at the top of its SLURM log."""
    logs = sorted((root / ".snakemake/slurm_logs" / f"rule_{rule}").rglob("*.log"))
    assert logs, f"no SLURM log for {rule}"
    return logs[-1].read_text().split("Shell command:")[0]


@needs_slurm
def test_the_default_demo_workflow_runs_through_slurm_to_the_template_particles(tmp_path):
    # the default config (class2d.mpi_ranks 1) with a smaller demo and classification
    root = tmp_path
    (root / "config.yaml").write_text(yaml.safe_dump({
        "backend": "numpy", "demo": {"n_micrographs": 3, "seed": 2}, "select": {"first_n": 2},
        "class2d": {"n_classes": 4, "n_iter": 5}, "select_templates": {"max_resolution_a": 100}}))
    base = [*SNAKEMAKE, "--directory", str(root), "--configfile", str(root / "config.yaml")]
    run = subprocess.run([*base, "--profile", str(REPO / "profiles/slurm"), *FAST_STATUS],
                         capture_output=True, text=True, timeout=600)
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-4000:]
    assert "submitted with SLURM jobid" in output
    particles = read_star(root / "Extract/template/particles.star")["particles"]
    assert len(particles) > 20
    # one rank: the 2D classification is a plain threaded job, not an MPI job
    header = _slurm_log_header(root, "class2d")
    assert "threads: 2" in header and "mpi=" not in header and "tasks=" not in header, header
    for rule in ("simulate_demo", "autopick_log_shard", "extract_log", "autopick_template_shard",
                 "extract_template"):
        assert _slurm_log_header(root, rule)
    report = subprocess.run([*base, "--report", "report.html"], capture_output=True, text=True,
                            timeout=300)
    assert report.returncode == 0, report.stderr[-3000:]
    html = (root / "report.html").read_text(errors="replace")
    assert "classes.png" in html and "templates.png" in html


@needs_slurm
def test_class2d_runs_as_a_two_rank_mpi_job_through_slurm(tmp_path):
    root = make_project(tmp_path)
    config = yaml.safe_load((root / "config.yaml").read_text())
    config["class2d"] = {"n_classes": 2, "n_iter": 2, "mpi_ranks": 2}
    (root / "config.yaml").write_text(yaml.safe_dump(config))
    model = "Class2D/LoG/run_it002_model.star"
    run = subprocess.run([*SNAKEMAKE, "--directory", str(root), "--configfile",
                          str(root / "config.yaml"), "--profile", str(REPO / "profiles/slurm"),
                          *FAST_STATUS, model], capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, (run.stdout + run.stderr)[-4000:]
    assert (root / model).is_file()
    logs = "".join(p.read_text() for p in
                   (root / ".snakemake/slurm_logs/rule_class2d").rglob("*.log"))
    assert "srun -n 2" in logs and "MPI: 2 ranks" in logs
    assert "tasks=2" in _slurm_log_header(root, "class2d")
