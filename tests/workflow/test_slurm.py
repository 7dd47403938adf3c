"""The workflow on a real SLURM cluster (a one-node cluster on localhost in CI)."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
import yaml

from test_workflow_project import REPO, SNAKEMAKE, TARGETS, make_project

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


@needs_slurm
def test_workflow_runs_through_slurm(tmp_path):
    root = make_project(tmp_path)
    run = subprocess.run([*SNAKEMAKE, "--directory", str(root), "--configfile",
                          str(root / "config.yaml"), "--profile", str(REPO / "profiles/slurm"),
                          *TARGETS],
                         capture_output=True, text=True, timeout=600)
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-4000:]
    assert "submitted with SLURM jobid" in output or "SLURM run ID" in output
    logs = root / ".snakemake" / "slurm_logs"
    for rule in ("select_micrographs", "autopick_log"):  # one shard: one picking job
        assert list((logs / f"rule_{rule}").rglob("*.log")), f"no SLURM log for {rule}"
    assert (root / "AutoPick/LoG/coords_suffix_autopick.star").is_file()


@needs_slurm
def test_class2d_runs_as_a_two_rank_mpi_job_through_slurm(tmp_path):
    root = make_project(tmp_path)
    config = yaml.safe_load((root / "config.yaml").read_text())
    config["class2d"] = {"n_classes": 2, "n_iter": 2, "mpi_ranks": 2}
    (root / "config.yaml").write_text(yaml.safe_dump(config))
    model = "Class2D/LoG/run_it002_model.star"
    run = subprocess.run([*SNAKEMAKE, "--directory", str(root), "--configfile",
                          str(root / "config.yaml"), "--profile", str(REPO / "profiles/slurm"),
                          model], capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, (run.stdout + run.stderr)[-4000:]
    assert (root / model).is_file()
    logs = "".join(p.read_text() for p in
                   (root / ".snakemake/slurm_logs/rule_class2d").rglob("*.log"))
    assert "srun -n 2" in logs and "MPI: 2 ranks" in logs
