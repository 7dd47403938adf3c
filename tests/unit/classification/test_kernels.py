"""Fourier kernels of 2D classification on every backend: conventions, CTF, shifts, rotations."""

from __future__ import annotations

import numpy as np
import pytest

from cryopick.backend import get_backend
from cryopick.classification.kernels import (
    coefficient_list,
    ctf_list,
    images_to_list,
    list_to_images,
    projection_table,
    rotated_projections,
    scatter_rows,
    shift_images_integer,
    shift_phases,
)
from cryopick.classification.synthetic import blob_shapes, render_shape
from cryopick.ctf import ctf_2d
from cryopick.io.star import CtfParams

N = 24


@pytest.fixture
def shape_images():
    blobs = blob_shapes(2, N, 0.35 * N, seed=1)
    return np.stack([render_shape(b, N) for b in blobs])


def test_coefficient_list_holds_each_independent_coefficient_once_sorted_by_shell():
    coeffs = coefficient_list(N)
    assert coeffs.shell[0] == 0 and np.all(np.diff(coeffs.shell) >= 0)
    assert not np.any((coeffs.kx == 0) & (coeffs.ky < 0))
    assert len(np.unique(coeffs.flat)) == len(coeffs.flat)
    assert coeffs.count(N) == len(coeffs.flat) and coeffs.count(10) < coeffs.count(12)


def test_images_survive_the_round_trip_through_the_coefficient_list(backend, shape_images):
    coeffs = coefficient_list(N)
    lowpassed = backend.to_numpy(list_to_images(
        images_to_list(backend.asarray(shape_images), coeffs, len(coeffs.flat)), N))
    again = backend.to_numpy(list_to_images(
        images_to_list(backend.asarray(lowpassed), coeffs, len(coeffs.flat)), N))
    np.testing.assert_allclose(again, lowpassed, atol=1e-5)
    np.testing.assert_allclose(lowpassed, shape_images, atol=0.05 * shape_images.max())


def test_list_coefficients_use_relion_normalisation_and_the_box_centre(backend):
    image = np.zeros((1, N, N), np.float32)
    image[0, N // 2, N // 2] = N * N  # a delta at the centre: every coefficient is 1
    values = backend.to_numpy(images_to_list(backend.asarray(image), coefficient_list(N), 50))
    np.testing.assert_allclose(values, 1.0, atol=1e-5)


def test_ctf_on_the_list_matches_ctf_2d(backend):
    coeffs = coefficient_list(N)
    params = CtfParams(15000.0, 14000.0, 30.0, 300.0, 2.7, 0.1, 0.0, 50.0, 1.0)
    arrays = {"defocus_u_a": [15000.0], "defocus_v_a": [14000.0], "angle_deg": [30.0],
                  "voltage_kv": [300.0], "cs_mm": [2.7], "q0": [0.1], "phase_deg": [0.0],
                  "bfactor_a2": [50.0], "scale": [1.0]}
    ours = backend.to_numpy(ctf_list(**{k: np.array(v) for k, v in arrays.items()},
                                     coeffs=coeffs, m=len(coeffs.flat), pixel_a=2.5, bk=backend))
    reference = ctf_2d(params, N, 2.5, get_backend("numpy")).ravel()[coeffs.flat]
    np.testing.assert_allclose(ours[0], reference, atol=1e-5)


def test_phase_ramps_shift_images_like_an_integer_real_space_shift(backend, shape_images):
    coeffs = coefficient_list(N)
    m = len(coeffs.flat)
    shifts = np.array([[2, -3], [-1, 1]])
    moved = shift_images_integer(backend.asarray(shape_images), backend.asarray(shifts))
    direct = backend.to_numpy(images_to_list(moved, coeffs, m))
    ramps = backend.to_numpy(shift_phases(shifts.astype(float), coeffs, m, backend))
    f = backend.to_numpy(images_to_list(backend.asarray(shape_images), coeffs, m))
    np.testing.assert_allclose(direct, f * ramps, atol=2e-4)  # blobs vanish at the edges


def test_projection_at_psi_zero_is_the_reference_transform(backend, shape_images):
    coeffs = coefficient_list(N)
    m = coeffs.count(N // 2)
    table = projection_table(backend.asarray(shape_images))
    proj = backend.to_numpy(rotated_projections(table, np.array([0.0]), coeffs, m))[:, 0]
    f = backend.to_numpy(images_to_list(backend.asarray(shape_images), coeffs, m))
    # equal up to the gridding pre-correction, which only changes the outer real space
    assert np.abs(proj - f).max() < 0.05 * np.abs(f).max()


def test_projection_at_90_degrees_matches_the_rotated_drawing(backend):
    blobs = blob_shapes(1, N, 0.35 * N, seed=2)[0]
    coeffs = coefficient_list(N)
    m = coeffs.count(N // 2)
    table = projection_table(backend.asarray(render_shape(blobs, N)[None]))
    proj = backend.to_numpy(rotated_projections(table, np.array([90.0]), coeffs, m))[0, 0]
    drawn = backend.to_numpy(images_to_list(backend.asarray(render_shape(blobs, N, 90.0)[None]),
                                            coeffs, m))[0]
    assert np.abs(proj - drawn).max() < 0.05 * np.abs(drawn).max()


def test_scatter_rows_sums_rows_into_their_buckets(backend):
    rng = np.random.default_rng(0)
    rows = rng.normal(size=(30, 5)).astype(np.float32)
    index = rng.integers(0, 7, 30)
    expected = np.zeros((7, 5), np.float32)
    np.add.at(expected, index, rows)
    out = scatter_rows(backend.asarray(index), backend.asarray(rows), 7)
    np.testing.assert_allclose(backend.to_numpy(out), expected, atol=1e-5)


def test_bucket_rotation_is_the_same_on_every_backend(backend):
    from cryopick.classification.reconstruct import buckets_to_reference

    rng = np.random.default_rng(2)
    coeffs = coefficient_list(16)
    m = coeffs.count(12)
    buckets = rng.normal(size=(2 * 4, 3 * m)).astype(np.float32)
    buckets[:, 2 * m:] = np.abs(buckets[:, 2 * m:])
    buckets[3, 2 * m:] = 0.0  # an empty bucket is skipped
    psis = np.array([0.0, 90.0, 180.0, 270.0])
    expected = buckets_to_reference(buckets, 2, psis, 16, 12)
    got = buckets_to_reference(backend.asarray(buckets), 2, psis, 16, 12)
    np.testing.assert_allclose(got[0], expected[0], rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(got[1], expected[1], rtol=1e-4, atol=1e-4)
