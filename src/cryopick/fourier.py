"""Fourier conventions of RELION: normalisation, cropping/padding, FFT-friendly sizes.

RELION divides the forward transform by the number of pixels and leaves the inverse
unnormalised, so a Fourier-cropped inverse keeps the grey scale. All routines here work on
half-complex (``rfft2``) arrays whose last axis is ``n//2 + 1`` long.
"""

from __future__ import annotations

import math

import numpy as np

from cryopick.backend import Array, backend_of

__all__ = [
    "fourier_window",
    "forward",
    "forward_cropped",
    "good_fourier_size",
    "inverse",
    "largest_prime_factor",
    "relion_round",
    "relion_round_array",
    "shell_radius2",
]


def relion_round(x: float) -> int:
    """RELION's ROUND: half away from zero."""
    return int(math.floor(x + 0.5)) if x >= 0 else -int(math.floor(-x + 0.5))


def relion_round_array(x: np.ndarray) -> np.ndarray:
    """RELION's ROUND (half away from zero), element-wise."""
    return np.sign(x) * np.floor(np.abs(x) + 0.5)


def forward(image: Array) -> Array:
    """Half-complex FFT of a square/rectangular image, divided by its pixel count."""
    bk = backend_of(image)
    ny, nx = image.shape[-2:]
    return bk.rfft2(image) / (ny * nx)


def inverse(f: Array, shape: tuple[int, int]) -> Array:
    """Inverse of :func:`forward` at real-space ``shape`` (no normalisation)."""
    bk = backend_of(f)
    ny, nx = shape
    return bk.irfft2(f, shape) * (ny * nx)


def forward_cropped(image: Array, n_out: int) -> Array:
    """``fourier_window(forward(image), n, n_out)`` for a square ``n × n`` image, computed cheaply.

    Only the kept frequencies are transformed: a real FFT along one axis keeps ``n_out/2 + 1``
    frequencies, then a complex FFT along the other runs over just those. For a 4k micrograph
    cropped to a few hundred pixels this is about half the work of a full 2D FFT and needs a
    tenth of its memory. Falls back to the full transform when not cropping.

    The order of the two passes only changes the speed. Large images go columns last (real
    FFT along the contiguous axis first). Stacks of boxes of 128–512 px go rows first: the
    FFT library then runs many columns at once in SIMD lanes, which makes the extraction's
    256 → 64 rescaling about 25 % faster (rows first: 12.8 ms, columns first: 17.3 ms for
    100 boxes on one core; not measured with CuPy, which keeps the first order). Both orders
    give the same coefficients to float rounding.
    """
    bk = backend_of(image)
    n = image.shape[-1]
    if image.shape[-2] != n:
        raise ValueError(f"forward_cropped needs a square image, got {image.shape}")
    if n_out >= n:
        return fourier_window(forward(image), n, n_out)
    if image.ndim > 2 and image.shape[0] > 1 and 128 <= n <= 512 and bk.name != "cupy":
        return _forward_cropped_rows_first(bk, image, n_out) / (n * n)
    xp = bk.xp
    h = n_out // 2
    rows = bk.rfft_axis(image, axis=-1)[..., : h + 1]
    cols = bk.fft_axis(rows, axis=-2)
    n_neg = n_out - h - 1
    kept = xp.concat([cols[..., : h + 1, :], cols[..., n - n_neg:, :]], axis=-2)
    return kept / (n * n)


def _forward_cropped_rows_first(bk, image: Array, n_out: int) -> Array:
    """The unnormalised cropped half-complex FT, by a real FFT along rows (axis −2) first.

    ``G[ky, kx]`` for ``ky = 0..h`` (all ``kx``) holds every kept coefficient: RELION's
    layout keeps ``kx = 0..h`` for ``ky = −n_neg..h``, and a row ``ky < 0`` is the
    conjugate of ``G[−ky, −kx mod n]`` (the image is real).
    """
    xp = bk.xp
    n = image.shape[-1]
    h = n_out // 2
    n_neg = n_out - h - 1
    g = bk.fft_axis(bk.rfft_axis(image, axis=-2)[..., : h + 1, :], axis=-1)  # (…, h+1, n)
    top = g[..., :, : h + 1]
    mirrored = xp.flip(g[..., 1: n_neg + 1, :], axis=-2)  # rows ky = n_neg … 1
    # columns −kx mod n for kx = 0..h: 0, n−1, n−2, …, n−h
    bottom = xp.concat([mirrored[..., :1], xp.flip(mirrored[..., n - h:], axis=-1)], axis=-1)
    return xp.concat([top, xp.conj(bottom)], axis=-2)


def fourier_window(f: Array, n_in: int, n_out: int) -> Array:
    """Crop or pad the half-complex FT of a square ``n_in`` image to size ``n_out``.

    Rows ``ky = 0..n/2`` and ``-(n/2-1)..-1`` and columns ``kx = 0..n/2`` of the smaller
    size are kept at the same logical frequency (RELION's ``windowFourierTransform``); when
    padding, only coefficients with ``kx² + ky² ≤ (n_in/2)²`` are copied (circular).
    Works on stacks: the last two axes are the Fourier plane.
    """
    bk = backend_of(f)
    xp = bk.xp
    if n_out == n_in:
        return f
    lead = f.shape[:-2]
    if n_out < n_in:
        h = n_out // 2
        top = f[..., : h + 1, : h + 1]
        bottom = f[..., n_in - (n_out - h - 1):, : h + 1]
        return xp.concat([top, bottom], axis=-2)
    out = xp.zeros(lead + (n_out, n_out // 2 + 1), dtype=f.dtype, **bk.device_kw)
    h = n_in // 2
    ky_pos = xp.arange(h + 1, **bk.device_kw)
    kx = xp.arange(h + 1, **bk.device_kw)
    keep_pos = (ky_pos[:, None] ** 2 + kx[None, :] ** 2) <= h * h
    n_neg = n_in - h - 1
    ky_neg = xp.arange(-n_neg, 0, **bk.device_kw)
    keep_neg = (ky_neg[:, None] ** 2 + kx[None, :] ** 2) <= h * h
    zero = xp.zeros((), dtype=f.dtype, **bk.device_kw)
    top = xp.where(keep_pos, f[..., : h + 1, : h + 1], zero)
    bottom = xp.where(keep_neg, f[..., n_in - n_neg:, : h + 1], zero)
    out = _set_block(bk, out, top, slice(0, h + 1), slice(0, h + 1))
    out = _set_block(bk, out, bottom, slice(n_out - n_neg, n_out), slice(0, h + 1))
    return out


def _set_block(bk, out: Array, block: Array, rows: slice, cols: slice) -> Array:
    """``out[..., rows, cols] = block`` for every backend (all support slice assignment)."""
    out[..., rows, cols] = block
    return out


def shell_radius2(n: int, bk) -> Array:
    """``kx² + ky²`` (integer frequency units) on the half-complex grid of an ``n``-sized FT."""
    xp = bk.xp
    ky = xp.arange(n, dtype=xp.float32, **bk.device_kw)
    ky = xp.where(ky > n // 2, ky - n, ky)
    kx = xp.arange(n // 2 + 1, dtype=xp.float32, **bk.device_kw)
    return ky[:, None] ** 2 + kx[None, :] ** 2


def largest_prime_factor(n: int) -> int:
    """The largest prime factor of ``n`` (``n`` itself when prime; 1 for n ≤ 1)."""
    best, d = 1, 2
    while d * d <= n:
        while n % d == 0:
            best, n = d, n // d
        d += 1
    return max(best, n) if n > 1 else best


def good_fourier_size(requested: int, limit: int) -> int:
    """RELION's FFT-friendly working size near ``requested`` (even), at most ``limit`` (+2).

    Keeps ``requested`` when both it and ``requested/2 + 1`` have no prime factor above 43;
    otherwise takes the nearer of the closest such even sizes above and below, preferring the
    one below when the one above exceeds ``limit``.
    """
    def factor(w: int) -> int:
        return max(largest_prime_factor(w), largest_prime_factor(w // 2 + 1))

    w = requested
    if factor(w) <= 43:
        return w - w % 2
    up = w
    while factor(up) >= 43 and up <= limit + 2:
        up += 2
    down = w
    while factor(down) >= 43 and down > 2:
        down -= 2
    best = down if (up - w) > (w - down) or up > limit else up
    return best - best % 2
