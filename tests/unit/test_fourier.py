"""Fourier conventions: normalisation, crop/pad, FFT-friendly sizes, RELION rounding."""

import numpy as np
import pytest

from cryopick.fourier import (
    forward,
    fourier_window,
    good_fourier_size,
    inverse,
    largest_prime_factor,
    relion_round,
)
from cryopick.picking.working_size import working_size


def test_forward_dc_term_is_the_image_mean(backend):
    image = np.random.default_rng(1).normal(3.0, 1.0, (32, 32)).astype(np.float32)
    f = backend.to_numpy(forward(backend.asarray(image)))
    assert f[0, 0].real == pytest.approx(image.mean(), rel=1e-5)


@pytest.mark.parametrize("n_out", [16, 24, 48, 64])
def test_window_keeps_a_constant_image_constant(backend, n_out):
    image = np.full((32, 32), 2.5, np.float32)
    f = fourier_window(forward(backend.asarray(image)), 32, n_out)
    out = backend.to_numpy(inverse(f, (n_out, n_out)))
    np.testing.assert_allclose(out, 2.5, rtol=1e-5)


def test_crop_then_pad_keeps_low_frequencies(backend):
    rng = np.random.default_rng(2)
    image = rng.normal(size=(64, 64)).astype(np.float32)
    f = backend.to_numpy(forward(backend.asarray(image)))
    cropped = backend.to_numpy(fourier_window(backend.asarray(f), 64, 32))
    np.testing.assert_allclose(cropped[:17, :17], f[:17, :17])
    np.testing.assert_allclose(cropped[17:, :17], f[64 - 15:, :17])
    padded = backend.to_numpy(fourier_window(backend.asarray(cropped), 32, 64))
    ky = np.fft.fftfreq(64, 1 / 64)[:, None]
    kx = np.arange(33)[None, :]
    inside = (ky**2 + kx**2 <= 16**2) & (ky != -16)  # the 32-grid has no ky = -16 row
    np.testing.assert_allclose(padded[inside], f[inside])
    assert np.all(padded[~inside] == 0)


def test_relion_round_is_half_away_from_zero():
    assert [relion_round(v) for v in (0.5, 1.5, 2.5, -0.5, -2.5, 37.5)] == [1, 2, 3, -1, -3, 38]


def test_largest_prime_factor():
    assert [largest_prime_factor(n) for n in (2, 97, 204, 208, 1024)] == [2, 97, 17, 13, 2]


def test_good_size_moves_away_from_large_prime_factors():
    # relion-facts §1.10: N=1024, 2 Å, lowpass 20 -> requested 204 (103 = 204/2+1 is prime) -> 208
    assert good_fourier_size(204, 1024) == 208
    assert good_fourier_size(256, 1024) == 256


def test_a_working_size_below_the_lowpass_is_warned_once_not_per_micrograph(caplog):
    # 1700 px at 1.6 Å/px: the good Fourier size (270) falls under the 20 Å low-pass (272)
    with caplog.at_level("WARNING", logger="cryopick.picking.working_size"):
        sizes = [working_size(1700, 1700 - i % 2, 1.6, 20.0, 0, True) for i in range(10)]
    assert {(s.w, s.lowpass_n) for s in sizes} == {(270, 272)}
    assert len([r for r in caplog.records if "smaller than the low-pass" in r.message]) <= 1


def test_working_size_for_the_tutorial_lowpass():
    size = working_size(1024, 1024, 2.0, 20.0, shrink=0)
    assert (size.n, size.lowpass_n, size.w) == (1024, 204, 208)
    # 512/2+1 = 257 and 300/2+1 = 151 are primes > 43: RELION moves to the nearest good size
    assert working_size(1024, 800, 2.0, 20.0, shrink=0.5).w == 510
    assert working_size(1024, 1024, 2.0, 20.0, shrink=301).w == 304
    assert working_size(1024, 1024, 2.0, 20.0, shrink=0.5, optimise_size=False).w == 512


@pytest.mark.parametrize("n, n_out", [(64, 20), (63, 20), (50, 16), (64, 64)])
def test_cropped_forward_equals_full_transform_then_crop(backend, n, n_out):
    from cryopick.fourier import forward_cropped

    image = np.random.default_rng(4).normal(size=(n, n)).astype(np.float32)
    full = backend.to_numpy(fourier_window(forward(backend.asarray(image)), n, n_out))
    fast = backend.to_numpy(forward_cropped(backend.asarray(image), n_out))
    np.testing.assert_allclose(fast, full, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("shape, n_out", [((3, 128, 128), 32), ((2, 128, 128), 33),
                                          ((2, 256, 256), 64), ((1, 128, 128), 32)])
def test_cropped_forward_of_a_stack_equals_full_transform_then_crop(backend, shape, n_out):
    """Stacks of 128-512 px boxes take the rows-first order (negative rows from the mirror)."""
    from cryopick.fourier import forward_cropped

    stack = np.random.default_rng(5).normal(size=shape).astype(np.float32)
    full = backend.to_numpy(fourier_window(forward(backend.asarray(stack)), shape[-1], n_out))
    fast = backend.to_numpy(forward_cropped(backend.asarray(stack), n_out))
    assert fast.shape == full.shape == (shape[0], n_out, n_out // 2 + 1)
    np.testing.assert_allclose(fast, full, rtol=1e-4, atol=1e-6)
