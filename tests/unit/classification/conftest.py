"""Small synthetic particle sets (a few blob shapes, CTF, noise), shared by the 2D tests."""

from __future__ import annotations

import pytest

from cryopick.classification.synthetic import write_synthetic_particles


@pytest.fixture(scope="session")
def three_shapes(tmp_path_factory):
    """150 particles of 40 px (3 Å/px) from 3 shapes, with CTF, SNR 0.5, in a project folder."""
    project = tmp_path_factory.mktemp("class2d_project")
    truth = write_synthetic_particles(project, n_particles=150, n_shapes=3, box_px=40,
                                      pixel_size_a=3.0, snr=0.5, seed=3)
    return project, truth


@pytest.fixture(scope="session")
def no_ctf_shapes(tmp_path_factory):
    """90 CTF-free particles of 32 px from 3 shapes (SNR 1)."""
    project = tmp_path_factory.mktemp("class2d_noctf")
    truth = write_synthetic_particles(project, n_particles=90, n_shapes=3, box_px=32,
                                      pixel_size_a=3.0, snr=1.0, ctf=False, seed=5)
    return project, truth
