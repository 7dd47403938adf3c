"""M-step reconstruction: bucket sums inserted into the padded reference grid, class averages."""

from __future__ import annotations

import numpy as np

from cryopick.backend import get_backend
from cryopick.classification.kernels import (
    coefficient_list,
    projection_table,
    rotated_projections,
)
from cryopick.classification.mstep import IterationSums, reconstruct_classes
from cryopick.classification.params import Class2DParams
from cryopick.classification.reconstruct import buckets_to_reference, padded_layout
from cryopick.classification.synthetic import blob_shapes, render_shape

N = 24


def _buckets(values: np.ndarray, den: np.ndarray) -> np.ndarray:
    """``(K, Ψ, m)`` complex sums and ``(K, Ψ, m)`` weights → bucket rows ``(K·Ψ, 3m)``."""
    k, n_psi, m = values.shape
    rows = np.concatenate([values.real, values.imag, den], axis=2)
    return rows.reshape(k * n_psi, 3 * m).astype(np.float32)


def _sums(num: np.ndarray, den: np.ndarray) -> IterationSums:
    k = len(num)
    return IterationSums(num, den, np.ones(k), np.zeros((k, 2)), 0.0, np.zeros((1, N // 2 + 1)),
                         np.zeros(1), np.zeros(1), np.zeros(1))


def test_class_average_of_rotated_views_is_the_reference():
    """Views of a shape at many ψ, inserted back into the reference frame, give the shape."""
    bk = get_backend("numpy")
    coeffs = coefficient_list(N)
    shapes = np.stack([render_shape(b, N) for b in blob_shapes(2, N, 0.3 * N, seed=4)])
    psis = np.arange(40) * 9.0 + 2.5
    m = len(coeffs.flat)
    views = bk.to_numpy(rotated_projections(projection_table(shapes.astype(np.float32)), psis,
                                            coeffs, m))
    weights = np.ones(views.shape)
    num, den = buckets_to_reference(_buckets(views, weights), 2, psis, N, N)
    averages = reconstruct_classes(_sums(num, den), np.zeros((2, N // 2 + 1)),
                                   Class2DParams(n_classes=2), coeffs, N, regularise=False)
    inside = np.hypot(*(np.mgrid[:N, :N] - N // 2)) < 0.4 * N
    for average, shape in zip(averages, shapes):
        a, b = average[inside] - average[inside].mean(), shape[inside] - shape[inside].mean()
        assert np.dot(a, b) / np.sqrt(np.dot(a, a) * np.dot(b, b)) > 0.99
        assert abs(np.std(average[inside]) / np.std(shape[inside]) - 1.0) < 0.1


def test_reference_grid_values_are_weighted_means_of_the_inserted_values():
    """Every padded-grid ratio Num/Den is a weighted mean of the images' Num/Den: bounded by
    them even where the weights change sharply (tiny weight at the origin, as with a CTF ≈ 0.1
    and a large σ² there) and where few samples reach the grid (few angles)."""
    rng = np.random.default_rng(0)
    coeffs = coefficient_list(N)
    m = coeffs.count(N)
    psis = rng.uniform(0.0, 360.0, 3)
    ratio = np.exp(1j * rng.uniform(0, 2 * np.pi, (1, 3, m))) * rng.uniform(0.2, 1.0, (1, 3, m))
    den = rng.uniform(50.0, 500.0, (1, 3, m))
    den[:, :, coeffs.shell[:m] == 0] = 0.01
    num, den_ref = buckets_to_reference(_buckets(ratio * den, den), 1, psis, N, N)
    covered = den_ref > 0
    assert covered[0, 0] and covered.mean() > 0.4
    assert np.all(np.abs(num[covered] / den_ref[covered]) <= 1.0 + 1e-4)


def test_padded_weight_is_a_quarter_of_the_image_weight():
    """Bilinear insertion onto the 2×-padded grid spreads each coefficient's weight over about
    four grid points (RELION's pad² on the prior term relies on it)."""
    coeffs = coefficient_list(N)
    m = coeffs.count(N)
    psis = np.arange(90) * 4.0
    den = np.ones((1, len(psis), m))
    _, den_ref = buckets_to_reference(_buckets(np.zeros(den.shape, complex), den), 1, psis, N, N)
    _, shell_n, _ = padded_layout(N)
    ring = (shell_n[:den_ref.shape[1]] >= 3) & (shell_n[:den_ref.shape[1]] <= N // 2 - 2)
    assert abs(den_ref[0, ring].mean() / len(psis) - 0.25) < 0.02


def test_projector_tau2_is_the_reference_power_within_the_current_size():
    """τ² from the padded projector grid: the reference's power per shell (÷2) for a compact
    reference, and zero beyond the current image size; a low-passed reference keeps a little
    power beyond its cut-off (the padded grid samples between integer frequencies)."""
    from cryopick.classification.initialise import _lowpass
    from cryopick.classification.mstep import projector_tau2, reference_tau2

    coeffs = coefficient_list(N)
    refs = np.stack([render_shape(b, N) for b in blob_shapes(2, N, 0.25 * N, seed=2)])
    plain = reference_tau2(refs, coeffs)
    padded = projector_tau2(refs, coeffs, 16)
    assert np.all(padded[:, 9:] == 0.0) and np.all(padded[:, :8] > 0.0)
    np.testing.assert_allclose(padded[:, :5], plain[:, :5], rtol=0.4)
    low = _lowpass(refs, 3.0)
    assert np.all(reference_tau2(low, coeffs)[:, 6:] < 1e-12 * plain[:, :1])
    leak = projector_tau2(low, coeffs, 16)[:, 6:9]
    assert np.all(leak > 1e-6 * plain[:, :1])


def test_a_group_without_reference_power_gets_scale_1_before_the_mean_is_made_1():
    from cryopick.classification.mstep import _scales

    sums = IterationSums(num=None, den=None, class_weight=None, offset_sum=None,
                         sigma_offset_sum=0.0, resid=None, group_weight=None,
                         scale_xa=np.array([2.0, 0.0, 1.2]), scale_aa=np.array([2.0, 0.0, 1.0]))
    scale = _scales(sums, np.array([1.0, 3.0, 1.0]), np.array([1.0, 1.0, 2.0]))
    # before the mean: 1, 1 (RELION's reset, not the old 3), 1.2; group-size weighted mean 1.1
    np.testing.assert_allclose(scale, np.array([1.0, 1.0, 1.2]) / 1.1)
