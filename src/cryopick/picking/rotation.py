"""In-plane rotation of templates in Fourier space, as RELION's 2D projector samples them.

The transform of a template (centred at the origin of an ``n × n`` micrograph-sized box) is
tabulated on a 2×-oversampled frequency grid up to the low-pass radius; rotated copies are
read from it by bilinear interpolation at ``Aᵀk`` (ψ = 0 hits the grid exactly).
"""

from __future__ import annotations

import numpy as np

from cryopick.backend import Array, Backend

__all__ = ["padded_table", "psi_angles", "rotated_templates", "window_real_space"]

PAD = 2


def psi_angles(step_deg: float) -> np.ndarray:
    """RELION's ψ samples: ``n = ROUND(360/step)``, ``ψ = 0, 360/n, …`` (degrees)."""
    from cryopick.fourier import relion_round

    n = max(1, relion_round(360.0 / step_deg))
    return np.arange(n, dtype=np.float64) * (360.0 / n)


def padded_table(template: np.ndarray, n: int, lowpass_n: int) -> np.ndarray:
    """Half-plane transform of ``template`` on the 2×-padded grid, ``(2R+3, R+2)`` complex.

    ``R = lowpass_n`` padded units (the low-pass radius ``lowpass_n/2`` in units of the
    ``n``-sized transform, times 2), plus one sample of margin for interpolation; row
    ``m + R + 1`` holds ``ky = m/2``, column ``j`` holds ``kx = j/2``. Values use RELION's
    normalisation (divided by ``n²``).
    """
    box = template.shape[0]
    logical = np.arange(box, dtype=np.float64) - box // 2
    radius = lowpass_n
    ky = np.arange(-radius - 1, radius + 2, dtype=np.float64) / PAD
    kx = np.arange(0, radius + 2, dtype=np.float64) / PAD
    ey = np.exp(-2j * np.pi * np.outer(ky, logical) / n)
    ex = np.exp(-2j * np.pi * np.outer(logical, kx) / n)
    return (ey @ template.astype(np.float64) @ ex / (n * n)).astype(np.complex64)


def rotated_templates(table: Array, psis_deg: np.ndarray, lowpass_n: int, bk: Backend) -> Array:
    """Rotated transforms ``(n_psi, L, L/2+1)`` on the ``L = lowpass_n`` half-complex grid.

    Coefficients beyond the low-pass radius ``L/2`` are zero (a hard circular low-pass).
    """
    xp = bk.xp
    size = lowpass_n
    half = size // 2
    ky = np.arange(size, dtype=np.float64)
    ky[ky > half] -= size
    kx = np.arange(half + 1, dtype=np.float64)
    inside = (ky[:, None] ** 2 + kx[None, :] ** 2) <= half * half
    rad = np.deg2rad(psis_deg)[:, None, None]
    c, s = np.cos(rad), np.sin(rad)
    xs = (c * kx[None, None, :] - s * ky[None, :, None]) * PAD  # Aᵀ k, in padded units
    ys = (s * kx[None, None, :] + c * ky[None, :, None]) * PAD
    flip = xs < 0
    xs, ys = np.where(flip, -xs, xs), np.where(flip, -ys, ys)
    x0, y0 = np.floor(xs), np.floor(ys)
    fx, fy = (xs - x0).astype(np.float32), (ys - y0).astype(np.float32)
    radius = (table.shape[0] - 1) // 2
    width = table.shape[1]
    x0 = np.clip(x0.astype(np.int64), 0, width - 2)
    y0 = np.clip(y0.astype(np.int64) + radius, 0, table.shape[0] - 2)
    flat = xp.reshape(table, (-1,))
    base = bk.asarray(y0 * width + x0)

    def gather(offset: int) -> Array:
        return xp.take(flat, xp.reshape(base + offset, (-1,)), axis=0)

    shape = xs.shape
    v00, v01 = gather(0), gather(1)
    v10, v11 = gather(width), gather(width + 1)
    fx_d = xp.reshape(bk.asarray(fx), (-1,))
    fy_d = xp.reshape(bk.asarray(fy), (-1,))
    top = v00 + (v01 - v00) * xp.astype(fx_d, v00.dtype)
    bottom = v10 + (v11 - v10) * xp.astype(fx_d, v00.dtype)
    values = xp.reshape(top + (bottom - top) * xp.astype(fy_d, v00.dtype), shape)
    values = xp.where(bk.asarray(flip), xp.conj(values), values)
    zero = xp.zeros((), dtype=values.dtype, **({"device": bk.device} if bk.device else {}))
    return xp.where(bk.asarray(np.broadcast_to(inside, shape)), values, zero)


def window_real_space(f_half: np.ndarray, n: int, box: int) -> np.ndarray:
    """The central ``box × box`` window of the size-``n`` inverse of an ``L``-grid transform.

    Same as padding ``f_half`` (``(L, L/2+1)``, RELION-normalised) to ``n``, inverting and
    centring, but evaluated only where needed (a few hundred pixels, not ``n²``).
    """
    size = f_half.shape[0]
    ky = np.arange(size, dtype=np.float64)
    ky[ky > size // 2] -= size
    kx = np.arange(f_half.shape[1], dtype=np.float64)
    weight = np.where(kx == 0, 1.0, 2.0)  # the other half-plane, by Hermitian symmetry
    logical = np.arange(box, dtype=np.float64) - box // 2
    ey = np.exp(2j * np.pi * np.outer(logical, ky) / n).astype(np.complex64)
    ex = np.exp(2j * np.pi * np.outer(kx, logical) / n).astype(np.complex64)
    weighted = (f_half * weight).astype(np.complex64)
    return np.real(ey @ weighted @ ex).astype(np.float32)
