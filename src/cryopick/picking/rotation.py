"""In-plane rotation of templates in Fourier space, as RELION's 2D projector samples them.

The transform of a template (centred at the origin of an ``n × n`` micrograph-sized box) is
tabulated on a 2×-oversampled frequency grid up to the low-pass radius; rotated copies are
read from it by bilinear interpolation at ``Aᵀk`` (ψ = 0 hits the grid exactly).
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np

from cryopick.backend import Array, Backend

__all__ = ["padded_table", "prepare_window", "psi_angles", "rotate_tables", "rotated_templates",
           "window_real_space"]

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
    normalisation (divided by ``n²``). A stack ``(k, box, box)`` gives ``k`` tables.
    """
    box = template.shape[-1]
    logical = np.arange(box, dtype=np.float64) - box // 2
    radius = lowpass_n
    ky = np.arange(-radius - 1, radius + 2, dtype=np.float64) / PAD
    kx = np.arange(0, radius + 2, dtype=np.float64) / PAD
    ey = np.exp(-2j * np.pi * np.outer(ky, logical) / n)
    ex = np.exp(-2j * np.pi * np.outer(logical, kx) / n)
    return (ey @ template.astype(np.float64) @ ex / (n * n)).astype(np.complex64)


@dataclasses.dataclass(frozen=True)
class _Sampling:
    """Where every rotated coefficient inside the low-pass disc reads the padded table."""

    shape: tuple[int, int, int]  # (n_psi, L, L/2+1)
    source: np.ndarray  # per coefficient of ``shape``: its index among the sampled ones, or
    #                     one past the last (a zero) outside the disc
    corner: np.ndarray  # flat table index of the lower-left interpolation sample
    fx: np.ndarray  # float32 interpolation weights along x and y
    fy: np.ndarray
    flip: np.ndarray  # read from the other half-plane (take the conjugate)
    width: int  # table row length


def _sampling(table_shape: tuple[int, int], psis_deg: np.ndarray, lowpass_n: int) -> _Sampling:
    """Bilinear sampling positions ``Aᵀk`` of every ψ; the same for all references."""
    size = lowpass_n
    half = size // 2
    ky = np.arange(size, dtype=np.float64)
    ky[ky > half] -= size
    kx = np.arange(half + 1, dtype=np.float64)
    disc = np.flatnonzero((ky[:, None] ** 2 + kx[None, :] ** 2) <= half * half)
    ky_in, kx_in = ky[disc // (half + 1)], kx[disc % (half + 1)]
    rad = np.deg2rad(psis_deg)[:, None]
    c, s = np.cos(rad), np.sin(rad)
    xs = (c * kx_in - s * ky_in) * PAD  # Aᵀ k, in padded units
    ys = (s * kx_in + c * ky_in) * PAD
    flip = xs < 0
    xs, ys = np.abs(xs), np.where(flip, -ys, ys)
    x0, y0 = np.floor(xs), np.floor(ys)
    fx, fy = (xs - x0).astype(np.float32), (ys - y0).astype(np.float32)
    radius = (table_shape[0] - 1) // 2
    width = table_shape[1]
    x0 = np.clip(x0.astype(np.int64), 0, width - 2)
    y0 = np.clip(y0.astype(np.int64) + radius, 0, table_shape[0] - 2)
    n_grid = size * (half + 1)
    source = np.full((len(psis_deg), n_grid), xs.size, np.int64)
    source[:, disc] = np.arange(xs.size).reshape(xs.shape)
    return _Sampling((len(psis_deg), size, half + 1), source.ravel(), (y0 * width + x0).ravel(),
                     fx.ravel(), fy.ravel(), flip.ravel(), width)


def rotated_templates(table: Array, psis_deg: np.ndarray, lowpass_n: int, bk: Backend) -> Array:
    """Rotated transforms ``(n_psi, L, L/2+1)`` on the ``L = lowpass_n`` half-complex grid.

    Coefficients beyond the low-pass radius ``L/2`` are zero (a hard circular low-pass).
    """
    return rotate_tables([table], psis_deg, lowpass_n, bk)[0]


def rotate_tables(tables: list[Array], psis_deg: np.ndarray, lowpass_n: int,
                  bk: Backend) -> list[Array]:
    """:func:`rotated_templates` of several references, sharing the sampling positions."""
    xp = bk.xp
    if not tables:
        return []
    where = _sampling(tuple(tables[0].shape), psis_deg, lowpass_n)
    corner = bk.asarray(where.corner, dtype=xp.int64)
    source = bk.asarray(where.source, dtype=xp.int64)
    flip = bk.asarray(where.flip, dtype=xp.bool)
    out = []
    for table in tables:
        flat = xp.reshape(table, (-1,))
        fx = bk.asarray(where.fx, dtype=flat.dtype)
        fy = bk.asarray(where.fy, dtype=flat.dtype)

        def gather(offset: int) -> Array:
            return xp.take(flat, corner + offset, axis=0)

        v00, v01 = gather(0), gather(1)
        v10, v11 = gather(where.width), gather(where.width + 1)
        top = v00 + (v01 - v00) * fx
        bottom = v10 + (v11 - v10) * fx
        values = top + (bottom - top) * fy
        values = xp.where(flip, xp.conj(values), values)
        zero = xp.zeros(1, dtype=flat.dtype, **bk.device_kw)
        rotated = xp.take(xp.concat([values, zero]), source, axis=0)  # zero outside the disc
        out.append(xp.reshape(rotated, where.shape))
    return out


def window_real_space(f_half: np.ndarray, n: int, box: int) -> np.ndarray:
    """The central ``box × box`` window of the size-``n`` inverse of an ``L``-grid transform.

    Same as padding ``f_half`` (``(L, L/2+1)``, RELION-normalised) to ``n``, inverting and
    centring, but evaluated only where needed (a few hundred pixels, not ``n²``).
    """
    ey, ex, weight = _window_phases(f_half.shape[0], f_half.shape[1], n, box)
    weighted = (f_half * weight).astype(np.complex64)
    return np.real(ey @ weighted @ ex).astype(np.float32)


def prepare_window(lowpass_n: int, n: int, box: int) -> None:
    """Make :func:`window_real_space`'s phase matrices now (cached for this process and the
    workers it forks)."""
    _window_phases(lowpass_n, lowpass_n // 2 + 1, n, box)


@functools.lru_cache(maxsize=4)
def _window_phases(size: int, n_kx: int, n: int, box: int
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The phase matrices of :func:`window_real_space` (the same for every micrograph of a
    run; computing their exponentials took longer than the products)."""
    ky = np.arange(size, dtype=np.float64)
    ky[ky > size // 2] -= size
    kx = np.arange(n_kx, dtype=np.float64)
    weight = np.where(kx == 0, 1.0, 2.0)  # the other half-plane, by Hermitian symmetry
    logical = np.arange(box, dtype=np.float64) - box // 2
    ey = np.exp(2j * np.pi * np.outer(logical, ky) / n).astype(np.complex64)
    ex = np.exp(2j * np.pi * np.outer(kx, logical) / n).astype(np.complex64)
    return ey, ex, weight
