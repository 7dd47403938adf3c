"""Sampling grids and the image-size schedule of RELION's 2D classification (§4.5, §4.10, §4.13)."""

from __future__ import annotations

import numpy as np

from cryopick.classification.params import Class2DConfig
from cryopick.classification.sampling import (
    coarse_size,
    current_size,
    initial_highres_a,
    make_sampling,
    next_perturbation,
    psi_grid,
    subset_size,
    translation_grid,
)


def test_tutorial_sampling_has_30_angles_and_21_translations():
    assert psi_grid(12.0) == (30, 12.0)
    assert psi_grid(7.0)[0] == 52  # CEIL(360/7)
    assert len(translation_grid(5.0, 2.0)) == 21


def test_oversampled_children_sit_a_quarter_step_around_their_parent():
    s = make_sampling(12.0, 5.0, 2.0, 1, 0.0)
    assert len(s.psi_fine_deg) == 60 and len(s.trans_fine_px) == 84
    np.testing.assert_allclose(s.psi_fine_deg[2:4], [9.0, 15.0])
    np.testing.assert_allclose(s.trans_fine_px[:4] - s.trans_coarse_px[0],
                               [[-0.5, -0.5], [-0.5, 0.5], [0.5, -0.5], [0.5, 0.5]])
    assert np.all(s.psi_fine_deg <= 180.0) and np.all(s.psi_fine_deg > -180.0)


def test_perturbation_moves_the_whole_grid_and_stays_within_the_factor():
    rho = 0.0
    for iteration in range(1, 30):
        rho = next_perturbation(rho, 0.5, 1, iteration)
        assert -0.5 <= rho <= 0.5
    a, b = make_sampling(12.0, 5.0, 2.0, 1, 0.0), make_sampling(12.0, 5.0, 2.0, 1, 0.25)
    np.testing.assert_allclose(b.psi_coarse_deg - a.psi_coarse_deg, 3.0)
    np.testing.assert_allclose(b.trans_coarse_px - a.trans_coarse_px, 0.5)


def test_image_sizes_follow_relions_schedule():
    assert initial_highres_a(64, 3.54) == 64 * 3.54 / 4
    assert current_size(4, 64, 10) == 28  # the tutorial's first iteration
    assert current_size(40, 64, 10) == 64
    assert coarse_size(64, 64, 3.54, 12.0, 200.0, -1.0) == 34
    assert coarse_size(28, 64, 3.54, 12.0, 200.0, -1.0) == 28
    assert coarse_size(64, 64, 3.54, 12.0, 200.0, 20.0) == 2 * round(64 * 3.54 / 20)


def test_fast_subsets_grow_as_in_relion():
    sizes = [subset_size(it, 10, 100000, True) for it in (1, 6, 11, 16)]
    assert sizes == [1000, 3000, 30000, 100000]
    assert subset_size(3, 10, 500, True) == 500
    assert subset_size(3, 10, 100000, False) == 100000


def test_config_doubles_the_gui_steps_like_relions_gui():
    params = Class2DConfig().to_params()
    assert params.psi_step_deg == 12.0 and params.offset_step_px == 2.0
    assert params.flatten_solvent and params.norm and params.scale and params.n_classes == 50
