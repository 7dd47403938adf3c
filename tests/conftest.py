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
