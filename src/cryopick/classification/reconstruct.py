"""From image-frame bucket sums to reference-frame sums, and the Wiener-like class averages.

The E-step sums ``Num = Σ w·s·CTF·X_t/σ²`` and ``Den = Σ w·s²·CTF²/σ²`` per (class, fine ψ)
in the frame of the images. Here every bucket is brought into the reference frame as RELION's
back-projector does it (relion-facts §4.7): each coefficient ``f`` of the bucket is rotated by
ψ to ``2·R_ψ f`` on the 2×-padded reference grid and inserted with bilinear weights into its
four neighbours (a point with ``x < 0`` is inserted, conjugated, at ``−2·R_ψ f``); as in
RELION, the ``kx = 0`` column is inserted for ``ky ≥ 0`` only.
The weights are positive, so every reference-grid value is a weighted mean of the images'
values: the class average ``Num/(Den + 1/(pad²·T·τ²))`` cannot blow up where the sampling of
the padded grid is thin (near the origin). It is corrected for the interpolation (÷ sinc²).
"""

from __future__ import annotations

import functools

import numpy as np

from cryopick.backend import Array, backend_of
from cryopick.classification.kernels import (
    CoefficientList,
    coefficient_list,
    sparse_product,
)

__all__ = ["PAD_OVERSAMPLING", "buckets_to_reference", "gridding_weights",
           "map_weight", "padded_layout"]

PAD_OVERSAMPLING = 4.0  # RELION's pad² for 2D: padded-grid weights are ~1/4 of an image's


@functools.lru_cache(maxsize=8)
def padded_layout(n: int) -> tuple[CoefficientList, np.ndarray, np.ndarray]:
    """The reference grid of the M-step: RELION's 2×-padded Fourier grid of an ``n`` box.

    Returns the coefficient list of the ``2n`` grid (frequency ``k2/2`` in units of the
    ``n`` transform), each entry's shell in ``n`` units (``ROUND(|k2|/2)``), and for every
    entry of the size-``n`` list its position in the padded list (the even points).
    """
    padded = coefficient_list(2 * n)
    shell_n = np.floor(np.sqrt(padded.kx**2 + padded.ky**2) / 2.0 + 0.5).astype(np.int64)
    lookup = np.full(2 * n * (n + 1), -1, dtype=np.int64)
    lookup[padded.flat] = np.arange(len(padded.flat))
    plain = coefficient_list(n)
    cell = (2 * plain.ky.astype(np.int64) % (2 * n)) * (n + 1) + 2 * plain.kx.astype(np.int64)
    return padded, shell_n, lookup[cell]


def _insert_geometry(psis_deg: np.ndarray, coeffs: CoefficientList, m: int, n: int, mp: int
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Bilinear insertion of ``m`` list coefficients at each ψ into the padded list.

    Returns ``(source, target, weight, sign)`` of the non-zero entries: source row ``ψ·m + j``,
    target padded-list entry (< ``mp``), bilinear weight, and the sign of the imaginary part
    (−1 where the point was mirrored).
    """
    n2 = 2 * n
    rad = np.deg2rad(np.asarray(psis_deg, np.float64))[:, None]
    c, s = np.cos(rad), np.sin(rad)
    fx, fy = coeffs.kx[None, :m], coeffs.ky[None, :m]
    # the reference-frame frequency g whose image-frame frequency is f (inverse of the
    # projection's rotation f = (c·gx + s·gy, −s·gx + c·gy)), on the padded grid
    px, py = 2.0 * (c * fx - s * fy), 2.0 * (s * fx + c * fy)
    mirror = px < 0
    px, py = np.where(mirror, -px, px), np.where(mirror, -py, py)
    x0, y0 = np.floor(px), np.floor(py)
    wx, wy = px - x0, py - y0
    lookup = np.full(n2 * (n + 1), -1, dtype=np.int64)
    padded = padded_layout(n)[0]
    lookup[padded.flat[:mp]] = np.arange(mp)
    source = np.broadcast_to(np.arange(len(psis_deg))[:, None] * m + np.arange(m)[None, :],
                             px.shape)
    out_s, out_t, out_w, out_sign = [], [], [], []
    for dy, dx, w in ((0, 0, (1 - wy) * (1 - wx)), (0, 1, (1 - wy) * wx),
                      (1, 0, wy * (1 - wx)), (1, 1, wy * wx)):
        x, y = (x0 + dx).astype(np.int64), (y0 + dy).astype(np.int64)
        sign = np.where(mirror, -1.0, 1.0)
        # x = 0 column, y < 0: the conjugate of (0, −y) (Hermitian symmetry of the half grid)
        flip = (x == 0) & (y < 0)
        y = np.where(flip, -y, y)
        sign = np.where(flip, -sign, sign)
        inside = (x <= n) & (np.abs(y) <= n) & (w > 0)
        target = np.where(inside, lookup[(y % n2) * (n + 1) + np.minimum(x, n)], -1)
        keep = target >= 0
        out_s.append(source[keep])
        out_t.append(target[keep])
        out_w.append(w[keep])
        out_sign.append(sign[keep])
    return (np.concatenate(out_s), np.concatenate(out_t), np.concatenate(out_w),
            np.concatenate(out_sign))


@functools.lru_cache(maxsize=4)
def _cached_geometry(psis: tuple[float, ...], n: int, m: int, mp: int):
    return _insert_geometry(np.asarray(psis), coefficient_list(n), m, n, mp)


def buckets_to_reference(buckets: Array, n_classes: int, psis_deg: np.ndarray, n: int,
                         size: int) -> tuple[np.ndarray, np.ndarray]:
    """Insert per-(class, ψ) sums ``(K·Ψ, 3m)`` into the reference frame, on the padded grid.

    Returns host arrays ``num`` (K, mp) complex128 and ``den`` (K, mp) float64 at the
    coefficients of RELION's 2×-padded reference grid (:func:`padded_layout`) up to radius
    ``size/2``; reconstructing there and windowing the ``2n`` image to ``n`` keeps content
    rotated into the box corners from wrapping around.
    """
    bk = backend_of(buckets)
    xp = bk.xp
    n_psi = len(psis_deg)
    m = buckets.shape[1] // 3
    mp = padded_layout(n)[0].count(2 * size)
    source, target, weight, sign = _cached_geometry(
        tuple(float(v) for v in psis_deg), n, m, mp)
    # rows of each class laid end to end: (K, Ψ·m) per part; the product sums over (ψ, j)
    parts = xp.reshape(buckets, (n_classes, n_psi, 3, m))
    re = xp.reshape(parts[:, :, 0, :], (n_classes, n_psi * m))
    im = xp.reshape(parts[:, :, 1, :], (n_classes, n_psi * m))
    den = xp.reshape(parts[:, :, 2, :], (n_classes, n_psi * m))
    shape = (mp, n_psi * m)
    plain = sparse_product(target, source, weight, shape, xp.concat([re, den], axis=0).T)
    signed = sparse_product(target, source, weight * sign, shape, im.T)
    plain = bk.to_numpy(plain).astype(np.float64).T
    signed = bk.to_numpy(signed).astype(np.float64).T
    num = plain[:n_classes] + 1j * signed
    return num, np.maximum(plain[n_classes:], 0.0)


def map_weight(den: np.ndarray, tau2: np.ndarray, tau2_fudge: float, shell: np.ndarray,
               minres_shell: int = 5, regularise: bool = True) -> np.ndarray:
    """The padded-grid weight of the class averages: ``Den + 1/(pad²·T·τ²(|f|))`` (``(K, m)``).

    ``Den`` is a padded-grid sum (:func:`buckets_to_reference`), about ``1/pad²`` of the sum
    over the images, hence RELION's ``pad²`` on the prior term. Below shell ``minres_shell``
    no prior term is added; where ``τ² = 0`` the term is ``1/(0.001·Den)`` (0 where
    ``Den = 0``), RELION's fallback. Without ``regularise`` this is ``Den`` (initial references).
    """
    if not regularise:
        return den
    tau = tau2[:, shell]
    scale = PAD_OVERSAMPLING * tau2_fudge
    with np.errstate(divide="ignore", invalid="ignore"):
        prior = np.where(tau > 0, 1.0 / (scale * np.where(tau > 0, tau, 1.0)),
                         np.where(den > 1e-20, 1.0 / (0.001 * np.where(den > 1e-20, den, 1.0)),
                                  0.0))
    return den + np.where(shell[None, :] >= minres_shell, prior, 0.0)


_BLOB_RADIUS = 1.9 * 2.0  # RELION's back-projector blob (order 0, α 15) on the padded grid
_BLOB_ALPHA = 15.0
_BLOB_TABLE_STEP = 0.5 / 10000  # RELION tabulates its transform on [0, 0.5) in 10 000 steps


def _blob_transform(w: np.ndarray) -> np.ndarray:
    """Fourier transform of RELION's Kaiser–Bessel blob at ``w`` relative to ``w = 0``.

    Order 0: ``I₁.₅(σ)/σ^1.5`` with ``σ = √(α² − (2πaw)²)`` (``J₁.₅`` where ``2πaw > α``),
    read from RELION's table (``w`` floored to its step, 0 from ``w = 0.5`` on).
    """
    from scipy.special import iv, jv

    w = np.floor(np.abs(w) / _BLOB_TABLE_STEP) * _BLOB_TABLE_STEP
    x = 2.0 * np.pi * _BLOB_RADIUS * w
    sigma = np.maximum(np.sqrt(np.abs(_BLOB_ALPHA**2 - x**2)), 1e-8)
    value = np.where(x > _BLOB_ALPHA, jv(1.5, sigma), iv(1.5, sigma)) / sigma**1.5
    zero = iv(1.5, _BLOB_ALPHA) / _BLOB_ALPHA**1.5
    return np.where(w < 0.5, value / zero, 0.0)


@functools.lru_cache(maxsize=8)
def _grid_blob(grid: int, n: int) -> np.ndarray:
    """The blob's transform on the odd real-space grid of :func:`gridding_weights` (read-only;
    the same every iteration at one size, and 10 ms to tabulate)."""
    wrapped = np.where(np.arange(grid) < grid // 2, np.arange(grid), np.arange(grid) - grid)
    multiplier = _blob_transform(np.hypot(wrapped[:, None], wrapped[None, :]) / (2.0 * n))
    multiplier.flags.writeable = False
    return multiplier


def gridding_weights(weight: np.ndarray, n: int, size: int, n_iter: int = 10) -> np.ndarray:
    """RELION's iterative gridding pre-weighting of the padded-grid weights ``(K, mp)``.

    Returns ``W'`` such that the weights times ``W'``, convolved with RELION's blob, are 1
    inside the current radius (``|k2| < size``; 0 outside): the class average is ``Num·W'``,
    i.e. ``Num`` over the blob-smoothed weight. Where the padded grid is sampled thinly (few
    particles and angles, near the origin) this damps the average instead of dividing by a
    small weight. The convolution is a product in real space on RELION's odd grid of
    ``2·size + 3`` points (which sets the blob's width in padded-grid units).
    """
    k, mp = weight.shape
    padded = padded_layout(n)[0]
    ky, kx = padded.ky[:mp].astype(np.int64), padded.kx[:mp].astype(np.int64)
    r_max = size // 2
    inside = ky**2 + kx**2 < (2 * r_max) ** 2
    grid = 2 * (2 * r_max + 1) + 1
    half = grid // 2 + 1
    rows, cols = ky[inside] % grid, kx[inside]
    mirror = cols == 0  # the kx = 0 column holds ky < 0 too (same weight: Hermitian)
    all_rows = np.concatenate([rows, (-ky[inside][mirror]) % grid])
    all_cols = np.concatenate([cols, cols[mirror]])
    pick = np.concatenate([np.flatnonzero(inside), np.flatnonzero(inside)[mirror]])
    w_grid = np.zeros((k, grid, half))
    w_grid[:, all_rows, all_cols] = weight[:, pick]
    support = np.zeros((grid, half), bool)
    support[all_rows, all_cols] = True
    multiplier = _grid_blob(grid, n)
    new = np.broadcast_to(support.astype(np.float64), w_grid.shape).copy()
    for _ in range(n_iter):
        conv = np.fft.rfft2(np.fft.irfft2(new * w_grid, s=(grid, grid)) * multiplier)
        new = np.where(support, new / np.maximum(np.abs(conv), 1e-6), 0.0)
    out = np.zeros((k, mp))
    out[:, inside] = new[:, rows, cols]
    return out
