"""Helpers shared by test modules (imported as ``support``; tests/ is on sys.path)."""

from __future__ import annotations

import importlib.util
import os
import shutil

import numpy as np
import pytest

from cryopick.backend import cupy_available

# Every RELION 3.1 program a test runs: CI sets CRYOPICK_REQUIRE_RELION so that a missing one
# fails the run instead of skipping the oracle tests that need it.
RELION_BINARIES = ("relion_autopick", "relion_refine", "relion_preprocess",
                   "relion_star_handler", "relion_image_handler")
RELION_MISSING = [name for name in RELION_BINARIES if shutil.which(name) is None]
RELION_PRESENT = not RELION_MISSING
if RELION_MISSING and os.environ.get("CRYOPICK_REQUIRE_RELION"):
    raise RuntimeError(f"CRYOPICK_REQUIRE_RELION is set but {', '.join(RELION_MISSING)} not on "
                       "PATH: install RELION 3.1 (apt-get install relion) so the oracle tests run")

# The MPI tests need mpi4py and an mpirun; CI sets CRYOPICK_REQUIRE_MPI so they never skip.
MPI_MISSING = [name for name, found in (("mpi4py", importlib.util.find_spec("mpi4py")),
                                        ("mpirun", shutil.which("mpirun"))) if found is None]
if MPI_MISSING and os.environ.get("CRYOPICK_REQUIRE_MPI"):
    raise RuntimeError(f"CRYOPICK_REQUIRE_MPI is set but missing: {', '.join(MPI_MISSING)}; "
                       "install OpenMPI (apt-get install openmpi-bin libopenmpi-dev) and mpi4py")

needs_relion = pytest.mark.skipif(not RELION_PRESENT,
                                  reason=f"RELION 3.1 programs not on PATH: {RELION_MISSING}")
needs_mpi = pytest.mark.skipif(bool(MPI_MISSING), reason=f"missing {MPI_MISSING}")
needs_gpu = pytest.mark.skipif(not cupy_available(), reason="no usable CUDA device")


def make_blob_micrograph() -> tuple[np.ndarray, np.ndarray]:
    """A 600×720 noisy micrograph at 2 Å/px with dark Gaussian blobs (σ 40 Å) at known (y, x)."""
    rng = np.random.default_rng(seed=0)
    ny, nx = 600, 720
    centres = np.array([[150, 160], [420, 520], [300, 330], [140, 560], [460, 170]], float)
    yy, xx = np.mgrid[:ny, :nx]
    image = rng.normal(0.0, 1.0, size=(ny, nx)).astype(np.float32)
    for y, x in centres:
        image -= 1.2 * np.exp(-((yy - y) ** 2 + (xx - x) ** 2) / (2 * 20.0**2)).astype(np.float32)
    return image, centres


def score_demo_picks(root, odir: str, radius_px: float):
    """Picks in ``root/odir/Movies/*_autopick.star`` against the simulated particle positions
    (``Demo/truth``), summed over the micrographs of the project's CTF STAR file."""
    from pathlib import Path

    from cryopick.io.star import read_coordinates, read_micrographs_star
    from cryopick.metrics import PickScore, score_picks
    from cryopick.simulate import CTF_STAR, TRUTH_DIR

    total = PickScore(0, 0, 0)
    xy = ["rlnCoordinateX", "rlnCoordinateY"]
    for name in read_micrographs_star(Path(root) / CTF_STAR).names:
        stem = Path(name).stem
        picks = read_coordinates(Path(root) / odir / f"Movies/{stem}_autopick.star")
        truth = read_coordinates(Path(root) / TRUTH_DIR / f"{stem}_truth.star")
        total = total + score_picks(picks[xy].to_numpy(float), truth[xy].to_numpy(float),
                                    radius_px)
    return total
