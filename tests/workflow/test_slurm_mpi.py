"""2D classification as an MPI job through SLURM (its own file, so that a parallel test run
gives it a worker of its own beside the demo-DAG tests of ``test_slurm.py``)."""

from __future__ import annotations

import subprocess

import pytest
import yaml

from test_slurm import FAST_STATUS, SLURM_SNAKEMAKE, _slurm_log_header, needs_slurm
from test_workflow_project import REPO, make_project

pytestmark = pytest.mark.workflow


@needs_slurm
def test_class2d_runs_as_a_two_rank_mpi_job_through_slurm(tmp_path):
    root = make_project(tmp_path)
    config = yaml.safe_load((root / "config.yaml").read_text())
    config["class2d"] = {"n_classes": 2, "n_iter": 2, "mpi_ranks": 2}
    (root / "config.yaml").write_text(yaml.safe_dump(config))
    model = "Class2D/LoG/run_it002_model.star"
    run = subprocess.run([*SLURM_SNAKEMAKE, "--directory", str(root), "--configfile",
                          str(root / "config.yaml"), "--profile", str(REPO / "profiles/slurm"),
                          *FAST_STATUS, model], capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, (run.stdout + run.stderr)[-4000:]
    assert (root / model).is_file()
    logs = "".join(p.read_text() for p in
                   (root / ".snakemake/slurm_logs/rule_class2d").rglob("*.log"))
    assert "srun -n 2" in logs and "MPI: 2 ranks" in logs
    assert "tasks=2" in _slurm_log_header(root, "class2d")
