"""A SLURM job that runs out of time: the run names the rule and the resource to raise.

In its own file so that a parallel run (`make test`) waits out SLURM's one-minute time
limit beside test_slurm.py instead of after it.
"""

from __future__ import annotations

import subprocess

import pytest
import yaml

from test_slurm import _slurm_run, needs_slurm
from test_workflow_project import SNAKEMAKE

pytestmark = pytest.mark.workflow


@needs_slurm
def test_a_job_out_of_time_names_its_rule_and_the_resource_to_raise(tmp_path):
    root = tmp_path / "p"
    root.mkdir()
    config = {"backend": "numpy", "demo": {"n_micrographs": 2, "seed": 2},
              "select": {"first_n": 2},
              "class2d": {"n_classes": 4, "n_iter": 999}}  # far longer than its one minute
    (root / "config.yaml").write_text(yaml.safe_dump(config))
    base = [*SNAKEMAKE, "--directory", str(root), "--configfile", str(root / "config.yaml")]
    local = subprocess.run([*base, "--cores", "2", "Extract/LoG/particles.star"],
                           capture_output=True, text=True, timeout=300)
    assert local.returncode == 0, local.stderr[-3000:]
    # one core and little memory, so that the other SLURM tests' jobs run beside it
    run = subprocess.run(_slurm_run(root, "--set-resources", "class2d:runtime=1",
                                    "class2d:mem_mb=2000", "--set-threads", "class2d=1", "--",
                                    "Class2D/LoG/run_it999_model.star"),
                         capture_output=True, text=True, timeout=400)
    output = run.stdout + run.stderr
    assert run.returncode != 0
    assert "Error in rule class2d" in output and "SLURM status is: 'TIMEOUT'" in output, \
        output[-3000:]
    assert "cryopick: rule class2d ran out of time (SLURM state TIMEOUT): raise its `runtime` " \
        "(minutes) under set-resources: class2d: in the profile" in output, output[-3000:]
