"""In-plane rotation of templates in Fourier space, as RELION's 2D projector samples them.

The transform of a template (centred at the origin of an ``n × n`` micrograph-sized box) is
tabulated on a 2×-oversampled frequency grid up to the low-pass radius; rotated copies are
read from it by bilinear interpolation at ``Aᵀk`` (ψ = 0 hits the grid exactly).
"""

from __future__ import annotations

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


def _half_turn_pairs(psis_deg: np.ndarray) -> int:
    """How many leading ψ have their ψ + 180° as the ψ ``n/2`` further on (then the rotated
    transform there is the complex conjugate, a real template's Friedel symmetry): ``n/2``
    for RELION's even samplings, else 0."""
    n = len(psis_deg)
    if n < 2 or n % 2 or not np.allclose(psis_deg[n // 2:] - psis_deg[:n // 2], 180.0,
                                          rtol=0.0, atol=1e-9):
        return 0
    return n // 2


def _positions(psis_deg: np.ndarray, table_shape: tuple[int, int],
               kx_pad: np.ndarray, ky_pad: np.ndarray, outside: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bilinear sampling of ``Aᵀk`` for a few ψ over the whole ``(L, L/2+1)`` grid: the flat
    index of the lower-left table sample (plus the table's size where the point lies in the
    other half-plane and reads the conjugates; twice the size, a zero, outside the disc) and
    the float32 weights along x and y."""
    rad = np.deg2rad(psis_deg)[:, None]
    c, s = np.cos(rad), np.sin(rad)
    xs = c * kx_pad - s * ky_pad  # Aᵀ k, in padded units
    ys = s * kx_pad + c * ky_pad
    flip = xs < 0
    np.abs(xs, out=xs)
    np.negative(ys, out=ys, where=flip)
    x0, y0 = np.floor(xs), np.floor(ys)
    fx, fy = (xs - x0).astype(np.float32), (ys - y0).astype(np.float32)
    rows, width = table_shape
    radius = (rows - 1) // 2
    index = np.clip(y0.astype(np.int64) + radius, 0, rows - 2) * width
    index += np.clip(x0.astype(np.int64), 0, width - 2)
    index[flip] += rows * width
    index[:, outside] = 2 * rows * width
    return index.ravel(), fx.ravel(), fy.ravel()


def rotated_templates(table: Array, psis_deg: np.ndarray, lowpass_n: int, bk: Backend) -> Array:
    """Rotated transforms ``(n_psi, L, L/2+1)`` on the ``L = lowpass_n`` half-complex grid.

    Coefficients beyond the low-pass radius ``L/2`` are zero (a hard circular low-pass).
    """
    return rotate_tables([table], psis_deg, lowpass_n, bk)[0]


def rotate_tables(tables: list[Array], psis_deg: np.ndarray, lowpass_n: int,
                  bk: Backend, chunk: int = 1 << 18) -> list[Array]:
    """:func:`rotated_templates` of several references, sharing the sampling positions.

    Made a few ψ at a time (``chunk`` coefficients: the positions stay in cache and are read
    by every reference), from tables of each interpolation tap and its conjugate, so that one
    gather per tap reads both half-planes and the zeros outside the disc. With RELION's even
    ψ samplings the second half is the conjugate of the first (ψ + 180°).
    """
    xp = bk.xp
    if not tables:
        return []
    rows, width = (int(v) for v in tables[0].shape)
    size, half = lowpass_n, lowpass_n // 2
    n_psi, n_grid = len(psis_deg), lowpass_n * (half + 1)
    ky = np.arange(size, dtype=np.float64)
    ky[ky > half] -= size
    kx = np.arange(half + 1, dtype=np.float64)
    outside = np.flatnonzero(((ky[:, None] ** 2 + kx[None, :] ** 2) > half * half).ravel())
    ky_pad, kx_pad = np.repeat(ky * PAD, half + 1), np.tile(kx * PAD, size)
    taps = []  # per table: its four taps (00, 01, 10, 11), each [values, conjugates, 0]
    for table in tables:
        flat = xp.reshape(table, (-1,))
        zero = xp.zeros(1, dtype=flat.dtype, **bk.device_kw)
        ext = xp.concat([flat, xp.zeros(width + 1, dtype=flat.dtype, **bk.device_kw)])
        taps.append([xp.concat([ext[o:o + rows * width], xp.conj(ext[o:o + rows * width]),
                                zero]) for o in (0, 1, width, width + 1)])
    out = [xp.empty((n_psi, n_grid), dtype=tables[0].dtype, **bk.device_kw) for _ in tables]
    own = _half_turn_pairs(psis_deg) or n_psi
    step = max(1, chunk // n_grid)
    for a in range(0, own, step):
        b = min(own, a + step)
        index, fx, fy = _positions(psis_deg[a:b], (rows, width), kx_pad, ky_pad, outside)
        index, fx, fy = bk.asarray(index), bk.asarray(fx), bk.asarray(fy)
        for (t00, t01, t10, t11), rotated in zip(taps, out):
            v00, v01 = xp.take(t00, index), xp.take(t01, index)
            v10, v11 = xp.take(t10, index), xp.take(t11, index)
            top = v00 + (v01 - v00) * fx
            bottom = v10 + (v11 - v10) * fx
            rotated[a:b, :] = xp.reshape(top + (bottom - top) * fy, (b - a, n_grid))
    if own < n_psi:
        for rotated in out:
            rotated[own:, :] = xp.conj(rotated[:own, :])
    return [xp.reshape(rotated, (n_psi, size, half + 1)) for rotated in out]


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
