"""From image-frame bucket sums to reference-frame sums, and the Wiener-like class averages.

The E-step sums ``Num = Σ w·s·CTF·X_t/σ²`` and ``Den = Σ w·s²·CTF²/σ²`` per (class, fine ψ)
in the frame of the images. Here every bucket is brought into the reference frame: both sums
are upsampled 2× exactly (zero-padding in real space) and read by bilinear interpolation at
``A_ψ g`` for every point ``g`` of the 2×-padded reference grid (the image-frame frequency
that the reference frequency ``g`` is seen at), then summed over ψ. The class average is
``Num/(Den + 1/(T·τ²))`` (relion-facts §4.7), corrected for the interpolation (÷ sinc²).
"""

from __future__ import annotations

import functools

import numpy as np

from cryopick.backend import Array, backend_of
from cryopick.classification.kernels import (
    CoefficientList,
    coefficient_list,
    list_to_images,
    make_complex,
    scatter_rows,
)

__all__ = ["buckets_to_reference", "gridding_correction", "padded_layout", "padded_transform",
           "wiener_average"]

_CHUNK_ELEMENTS = 16_000_000


def padded_transform(images: Array) -> Array:
    """``(R, n, n)`` centred real images → ``(R, 2n, n+1)`` half transforms of the 2×-padded box.

    Normalised so that padded index ``2k`` holds the size-``n`` coefficient ``k`` (÷ n²).
    """
    bk = backend_of(images)
    xp = bk.xp
    r, n = images.shape[0], images.shape[-1]
    padded = xp.zeros((r, 2 * n, 2 * n), dtype=xp.float32,
                      **({"device": bk.device} if bk.device is not None else {}))
    h = n // 2  # pixel (i, j) of the centred image goes to ((i − h) mod 2n, (j − h) mod 2n)
    for rows_in, rows_out in ((slice(h, n), slice(0, n - h)), (slice(0, h), slice(2 * n - h, None))):
        for cols_in, cols_out in ((slice(h, n), slice(0, n - h)),
                                  (slice(0, h), slice(2 * n - h, None))):
            padded[:, rows_out, cols_out] = images[:, rows_in, cols_in]
    return xp.astype(bk.rfft2(padded) / float(n * n), xp.complex64)


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


def _pull_geometry(psis_deg: np.ndarray, coeffs: CoefficientList, m: int, n2: int
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bilinear geometry ``(4, Ψ, m)`` into ψ-stacked half grids ``(n2, n2/2+1)`` at ``A_ψ g``.

    Corners with ``kx < 0`` read the mirrored coefficient ``F(−k) = conj F(k)``: returns
    flat indices, conjugate flags and weights.
    """
    rad = np.deg2rad(np.asarray(psis_deg, np.float64))[:, None]
    c, s = np.cos(rad), np.sin(rad)
    gx, gy = coeffs.kx[None, :m], coeffs.ky[None, :m]
    fx, fy = c * gx + s * gy, -s * gx + c * gy
    x0, y0 = np.floor(fx), np.floor(fy)
    wx, wy = fx - x0, fy - y0
    half = n2 // 2 + 1
    index, conj, weight = [], [], []
    for dy, dx, w in ((0, 0, (1 - wy) * (1 - wx)), (0, 1, (1 - wy) * wx),
                      (1, 0, wy * (1 - wx)), (1, 1, wy * wx)):
        y, x = (y0 + dy).astype(np.int64), (x0 + dx).astype(np.int64)
        mirror = x < 0
        # |f| ≤ n2/2, so x > n2/2 happens only with weight 0 (f on the edge): clamp
        y, x = np.where(mirror, -y, y) % n2, np.minimum(np.where(mirror, -x, x), half - 1)
        index.append(y * half + x + (np.arange(len(psis_deg)) * n2 * half)[:, None])
        conj.append(mirror)
        weight.append(w.astype(np.float32))
    return np.stack(index), np.stack(conj), np.stack(weight)


def _pull(grids: Array, psi_of_row: np.ndarray, index: np.ndarray, conj: np.ndarray,
          weight: np.ndarray) -> Array:
    """Bilinear samples of each row's half grid at its ψ's geometry: ``(R, cells)`` → ``(R, m)``."""
    bk = backend_of(grids)
    xp = bk.xp
    rows, cells = grids.shape
    flat = xp.reshape(grids, (rows * cells,))
    offsets = (np.arange(rows) * cells)[:, None]
    total = None
    for corner in range(4):
        where = (index[corner][psi_of_row] + offsets).ravel()
        picked = xp.take(flat, bk.asarray(where))
        picked = xp.where(bk.asarray(conj[corner][psi_of_row].ravel()), xp.conj(picked), picked)
        term = picked * bk.asarray(weight[corner][psi_of_row].ravel())
        total = term if total is None else total + term
    return xp.reshape(total, (rows, index.shape[2]))


def buckets_to_reference(buckets: Array, n_classes: int, psis_deg: np.ndarray, n: int,
                         size: int) -> tuple[np.ndarray, np.ndarray]:
    """Rotate per-(class, ψ) sums ``(K·Ψ, 3m)`` into the reference frame, on the padded grid.

    Returns host arrays ``num`` (K, mp) complex128 and ``den`` (K, mp) float64 at the
    coefficients of RELION's 2×-padded reference grid (:func:`padded_layout`) up to radius
    ``size/2``; reconstructing there and windowing the ``2n`` image to ``n`` keeps content
    rotated into the box corners from wrapping around. Buckets without weight are skipped.
    """
    bk = backend_of(buckets)
    xp = bk.xp
    n_psi = len(psis_deg)
    m = buckets.shape[1] // 3
    padded = padded_layout(n)[0]
    mp = padded.count(2 * size)
    index, conj, weight = _pull_geometry(psis_deg, padded, mp, 2 * n)
    local = index - (np.arange(n_psi) * 2 * n * (n + 1))[None, :, None]
    active = np.flatnonzero(bk.to_numpy(xp.sum(buckets[:, 2 * m:], axis=1)) > 0)
    chunk = max(1, min(256, _CHUNK_ELEMENTS // (4 * n * (n + 1))))
    sums = xp.zeros((n_classes, 3 * mp), dtype=xp.float32,
                    **({"device": bk.device} if bk.device is not None else {}))
    for lo in range(0, len(active), chunk):
        rows = active[lo:lo + chunk]
        block = xp.take(buckets, bk.asarray(rows), axis=0)
        zero = xp.zeros_like(block[:, 2 * m:])
        # numerator and denominator are upsampled the same way, so their ratio is consistent
        values = xp.concat([make_complex(block[:, :m], block[:, m:2 * m]),
                            make_complex(block[:, 2 * m:], zero)], axis=0)
        up = padded_transform(list_to_images(values, n))
        grids = xp.reshape(up, (up.shape[0], up.shape[1] * up.shape[2]))
        psi = np.concatenate([rows % n_psi, rows % n_psi])
        pulled = _pull(grids, psi, local, conj, weight)
        num, den = pulled[:len(rows), ...], xp.real(pulled[len(rows):, ...])
        sums = sums + scatter_rows(bk.asarray(rows // n_psi),
                                   xp.concat([xp.real(num), xp.imag(num), den], axis=1),
                                   n_classes)
    sums = bk.to_numpy(sums).astype(np.float64)
    return sums[:, :mp] + 1j * sums[:, mp:2 * mp], np.maximum(sums[:, 2 * mp:], 0.0)


def gridding_correction(n: int) -> np.ndarray:
    """``(n, n)`` ``sinc²(π r / 2n)``: the attenuation of bilinear interpolation on the 2× grid."""
    yy, xx = np.mgrid[:n, :n] - n // 2
    arg = np.pi * np.sqrt(yy**2 + xx**2) / (2 * n)
    safe = np.where(arg > 0, arg, 1.0)
    return np.where(arg > 0, np.sin(safe) / safe, 1.0) ** 2


def wiener_average(num: np.ndarray, den: np.ndarray, tau2: np.ndarray, tau2_fudge: float,
                   shell: np.ndarray, minres_shell: int = 5, regularise: bool = True
                   ) -> np.ndarray:
    """Class averages in Fourier space: ``Num/(Den + 1/(T·τ²(|f|)))`` (host, ``(K, m)``).

    Below shell ``minres_shell`` no prior term is added; where ``τ² = 0`` the term is
    ``1/(0.001·Den)`` (RELION's fallback); where ``Den = 0`` the coefficient is 0.
    Without ``regularise`` this is the plain ratio (the initial references).
    """
    tau = tau2[:, shell]
    with np.errstate(divide="ignore", invalid="ignore"):
        prior = np.where(tau > 0, 1.0 / (tau2_fudge * np.where(tau > 0, tau, 1.0)),
                         1.0 / (0.001 * np.where(den > 0, den, 1.0)))
    prior = np.where(shell[None, :] >= minres_shell, prior, 0.0) if regularise else 0.0
    total = den + prior
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where((den > 0) & (total > 0), num / np.where(total > 0, total, 1.0), 0.0)
