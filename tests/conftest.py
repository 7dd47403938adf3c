"""Shared fixtures: backends (NumPy, the strict GPU stand-in, CuPy when present), test data."""

from __future__ import annotations

import numpy as np
import pytest

from cryopick.backend import get_backend
from support import make_blob_micrograph, needs_gpu


@pytest.fixture(params=["numpy", "strict", pytest.param("cupy", marks=needs_gpu)])
def backend(request):
    """Every backend: NumPy, the strict device stand-in (catches host round-trips), CuPy."""
    return get_backend(request.param)


@pytest.fixture
def blob_micrograph() -> tuple[np.ndarray, np.ndarray]:
    """A 600×720 noisy micrograph at 2 Å/px with dark Gaussian blobs (σ 40 Å) at known (y, x)."""
    return make_blob_micrograph()


# Files whose tests mostly wait (on SLURM's queue and time limits, on pip): first in the
# order, so that a parallel run (`make test`: pytest-xdist, whole files per worker) starts
# them at once and fills the waits with the end-to-end runs and then the unit tests.
WAITING_FIRST = ("test_slurm.py", "test_slurm_timeout.py", "test_install.py",
                 "test_slurm_mpi.py")


def _start_rank(item: pytest.Item) -> tuple[int, int]:
    name = item.path.name
    if name in WAITING_FIRST:
        return 0, WAITING_FIRST.index(name)
    return (1, 0) if item.get_closest_marker("workflow") else (2, 0)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Waiting files first, then the other end-to-end runs, then the rest (stable order)."""
    items.sort(key=_start_rank)
