"""From image-frame bucket sums to reference-frame sums, and the Wiener-like class averages.

The E-step sums ``Num = Σ w·s·CTF·X_t/σ²`` and ``Den = Σ w·s²·CTF²/σ²`` per (class, fine ψ)
in the frame of the images. Here every bucket is brought into the reference frame: its
numerator is upsampled 2× exactly (zero-padding in real space) and both are read by bilinear
interpolation at ``A_ψ g`` for every reference coefficient ``g`` (the image-frame frequency that
the reference frequency ``g`` is seen at), then summed over ψ. The class average is
``Num/(Den + 1/(T·τ²))`` (relion-facts §4.7), corrected for the interpolation (÷ sinc²).
"""

from __future__ import annotations

import functools

import numpy as np

from cryopick.backend import Array, backend_of
from cryopick.classification.kernels import (
    CoefficientList,
    bilinear_geometry,
    coefficient_list,
    list_to_images,
    make_complex,
)

__all__ = ["buckets_to_reference", "gridding_correction", "padded_transform",
           "wiener_average"]

_CHUNK_ELEMENTS = 16_000_000


def padded_transform(images: Array) -> Array:
    """``(R, n, n)`` centred real images → ``(R, 2n, 2n)`` full transforms of the 2×-padded box.

    Normalised so that padded index ``2k`` holds the size-``n`` coefficient ``k`` (÷ n²).
    """
    bk = backend_of(images)
    xp = bk.xp
    r, n = images.shape[0], images.shape[-1]
    padded = xp.zeros((r, 2 * n, 2 * n), dtype=xp.float32,
                      **({"device": bk.device} if bk.device is not None else {}))
    padded[:, n // 2: n // 2 + n, n // 2: n // 2 + n] = images
    padded = xp.roll(padded, shift=(-n, -n), axis=(-2, -1))
    full = bk.fft_axis(bk.fft_axis(xp.astype(padded, xp.complex64), -1), -2)
    return xp.astype(full / float(n * n), xp.complex64)


@functools.lru_cache(maxsize=8)
def _full_grid_map(n: int, m: int) -> np.ndarray:
    """For each cell of the full ``n × n`` plane: its list position (``m`` = absent), using
    ``F(−k) = conj F(k)`` for cells outside the stored half plane (for real even data)."""
    coeffs = coefficient_list(n)
    half = np.full(n * (n // 2 + 1), m, dtype=np.int64)
    half[coeffs.flat[:m]] = np.arange(m)
    k = np.fft.fftfreq(n, 1.0 / n).astype(np.int64)
    ky, kx = np.meshgrid(k, k, indexing="ij")
    flip = (kx < 0) | ((kx == 0) & (ky < 0))
    ky, kx = np.where(flip, -ky, ky), np.where(flip, -kx, kx)
    inside = kx <= n // 2
    cell = (ky % n) * (n // 2 + 1) + np.minimum(kx, n // 2)
    return np.where(inside, half[cell], m).ravel()


def _den_full(den: Array, n: int) -> Array:
    """``(R, m)`` real, even list values → ``(R, n, n)`` full plane (zero outside the list)."""
    bk = backend_of(den)
    xp = bk.xp
    m = den.shape[-1]
    padded = xp.concat([den, xp.zeros((den.shape[0], 1), dtype=den.dtype,
                                      **({"device": bk.device} if bk.device is not None else {}))],
                       axis=1)
    grid = xp.take(padded, bk.asarray(_full_grid_map(n, m)), axis=1)
    return xp.reshape(grid, (den.shape[0], n, n))


def _pull_geometry(psis_deg: np.ndarray, coeffs: CoefficientList, m: int, scale: int, size: int
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Bilinear geometry ``(4, Ψ, m)`` into ψ-stacked grids of ``size²`` at ``scale·A_ψ g``."""
    rad = np.deg2rad(np.asarray(psis_deg, np.float64))[:, None]
    c, s = np.cos(rad), np.sin(rad)
    gx, gy = coeffs.kx[None, :m], coeffs.ky[None, :m]
    fx, fy = c * gx + s * gy, -s * gx + c * gy
    index, weight = bilinear_geometry(scale * fy, scale * fx, size)
    offsets = (np.arange(len(psis_deg)) * size * size)[None, :, None]
    return index + offsets, weight


def _pull(grids: Array, index: np.ndarray, weight: np.ndarray) -> Array:
    """Sum over ψ of bilinear samples: grids ``(c, Ψ·size²)`` → ``(c, m)``."""
    bk = backend_of(grids)
    xp = bk.xp
    total = None
    n_psi, m = index.shape[1], index.shape[2]
    for corner in range(4):
        picked = xp.take(grids, bk.asarray(index[corner].ravel()), axis=1)
        term = picked * bk.asarray(weight[corner].ravel())
        total = term if total is None else total + term
    return xp.sum(xp.reshape(total, (grids.shape[0], n_psi, m)), axis=1)


def buckets_to_reference(buckets: Array, n_classes: int, psis_deg: np.ndarray, n: int
                         ) -> tuple[np.ndarray, np.ndarray]:
    """Rotate per-(class, ψ) sums ``(K·Ψ, 3m)`` into the reference frame.

    Returns host arrays ``num`` (K, m) complex128 and ``den`` (K, m) float64 at the first
    ``m`` list coefficients of the reference.
    """
    bk = backend_of(buckets)
    xp = bk.xp
    n_psi = len(psis_deg)
    m = buckets.shape[1] // 3
    coeffs = coefficient_list(n)
    num_geo = _pull_geometry(psis_deg, coeffs, m, 2, 2 * n)
    den_geo = _pull_geometry(psis_deg, coeffs, m, 1, n)
    per_class = n_psi * 4 * n * n
    chunk = max(1, _CHUNK_ELEMENTS // per_class)
    nums, dens = [], []
    for lo in range(0, n_classes, chunk):
        hi = min(lo + chunk, n_classes)
        block = buckets[lo * n_psi: hi * n_psi, :]
        images = list_to_images(make_complex(block[:, :m], block[:, m:2 * m]), n)
        up = xp.reshape(padded_transform(images), (hi - lo, n_psi * 4 * n * n))
        nums.append(bk.to_numpy(_pull(up, *num_geo)))
        den = xp.reshape(_den_full(block[:, 2 * m:], n), (hi - lo, n_psi * n * n))
        dens.append(bk.to_numpy(_pull(den, *den_geo)))
    return np.concatenate(nums).astype(np.complex128), \
        np.maximum(np.concatenate(dens).astype(np.float64), 0.0)


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
