"""The same classification with 1 and 2 MPI ranks (mpirun + mpi4py), and the 1-rank fallback."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np

from cryopick.classification.parallel import Reducer, get_reducer
from cryopick.io.mrc import read_image_stack
from cryopick.io.star import read_star
from support import needs_mpi

FLAGS = ["--i", "Extract/job007/particles.star", "--iter", "2", "--tau2_fudge", "2",
         "--particle_diameter", "80", "--K", "3", "--flatten_solvent", "--zero_mask",
         "--psi_step", "12", "--offset_range", "3", "--offset_step", "2", "--norm", "--scale",
         "--random_seed", "1", "--preread_images", "--batch_size", "16"]


def test_without_a_launcher_there_is_one_rank(monkeypatch):
    for name in ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "MPI_LOCALNRANKS"):
        monkeypatch.delenv(name, raising=False)
    reducer = get_reducer()
    assert (reducer.rank, reducer.size, reducer.is_root) == (0, 1, True)
    batches = [np.arange(3), np.arange(3, 6)]
    assert reducer.mine(batches) == batches
    assert reducer.sum({"a": np.ones(2)})["a"].tolist() == [1.0, 1.0]


def test_batches_are_dealt_round_robin():
    class Fake:
        def Get_rank(self):
            return 1

        def Get_size(self):
            return 2

    assert Reducer(Fake()).mine([10, 11, 12, 13, 14]) == [11, 13]


def _refine(cwd, root, ranks):
    env = {**os.environ, "OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
           "OMPI_MCA_rmaps_base_oversubscribe": "1", "OMP_NUM_THREADS": "1",
           "OPENBLAS_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "cryopick.cli.main", "refine", "--o", root, *FLAGS]
    if ranks > 1:
        command = ["mpirun", "-np", str(ranks), *command]
    subprocess.run(command, cwd=cwd, env=env, check=True, capture_output=True, timeout=300)


@needs_mpi
def test_two_ranks_give_the_results_of_one(no_ctf_shapes):
    project, _ = no_ctf_shapes
    _refine(project, "Class2D/mpi1/run", 1)
    _refine(project, "Class2D/mpi2/run", 2)
    one = read_image_stack(project / "Class2D/mpi1/run_it002_classes.mrcs")
    two = read_image_stack(project / "Class2D/mpi2/run_it002_classes.mrcs")
    np.testing.assert_allclose(two, one, atol=1e-4 * np.abs(one).max())
    a = read_star(project / "Class2D/mpi1/run_it002_data.star")["particles"]
    b = read_star(project / "Class2D/mpi2/run_it002_data.star")["particles"]
    np.testing.assert_array_equal(a["rlnClassNumber"], b["rlnClassNumber"])
    np.testing.assert_allclose(a["rlnAnglePsi"], b["rlnAnglePsi"], atol=1e-3)
    np.testing.assert_allclose(a["rlnLogLikeliContribution"], b["rlnLogLikeliContribution"],
                               rtol=1e-5)
