"""Helpers shared by test modules (imported as ``support``; tests/ is on sys.path)."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest

from cryopick.backend import cupy_available

RELION_PRESENT = shutil.which("relion_autopick") is not None
if not RELION_PRESENT and os.environ.get("CRYOPICK_REQUIRE_RELION"):
    raise RuntimeError("CRYOPICK_REQUIRE_RELION is set but relion_autopick is not on PATH: "
                       "install RELION (apt-get install relion) so the oracle tests run")

needs_relion = pytest.mark.skipif(not RELION_PRESENT, reason="RELION 3.1 binaries not on PATH")
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
