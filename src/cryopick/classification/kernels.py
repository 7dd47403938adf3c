"""Device kernels of 2D classification: Fourier coefficient lists, CTFs, shifts, masks, rotations.

Images are transformed with RELION's conventions (forward FFT divided by n², image centre
``n//2`` moved to the origin first) and kept as *coefficient lists*: the independent
half-plane coefficients (``kx ≥ 0``, and ``ky ≥ 0`` on the ``kx = 0`` column) of shell
``ROUND(|k|) ≤ n/2``, sorted by shell, so that the coefficients up to any image size ``s`` are
a prefix of the list (:meth:`CoefficientList.count_window`). Every kernel here takes and returns
arrays of one backend (NumPy, CuPy or the strict stand-in) through ``bk.xp``; geometry
(indices, interpolation weights) is computed on the host and moved once.
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np

from cryopick.backend import Array, Backend, backend_of
from cryopick.ctf import astigmatism, electron_wavelength_a, finish_ctf

__all__ = [
    "CoefficientList",
    "abs2",
    "center_of_mass",
    "coefficient_list",
    "ctf_list",
    "gridding_correction",
    "images_to_list",
    "list_to_half_grid",
    "list_to_images",
    "make_complex",
    "mask_images",
    "projection_table",
    "rotated_projections",
    "scatter_rows",
    "shift_images_integer",
    "shift_phases",
    "soft_edge",
    "sparse_product",
    "to_real_pairs",
]


@dataclasses.dataclass(frozen=True, eq=False)
class CoefficientList:
    """Independent half-plane Fourier coefficients of an ``n × n`` image, sorted by shell.

    ``flat`` indexes the flattened ``(n, n//2+1)`` half-complex grid, ``ky``/``kx`` are integer
    frequencies (``ky`` signed), ``shell = ROUND(√(kx²+ky²))``. Entry 0 is the origin.
    """

    n: int
    flat: np.ndarray
    ky: np.ndarray
    kx: np.ndarray
    shell: np.ndarray

    def count(self, size: int) -> int:
        """Number of coefficients in shells ``≤ size//2`` (a disc: the padded M-step grid)."""
        return int(np.searchsorted(self.shell, size // 2, side="right"))

    def count_window(self, size: int) -> int:
        """Number of coefficients of an image windowed to ``size`` (E-step, M-step sums).

        RELION windows the transform to ``size × (size/2+1)``, whose rows run from
        ``ky = −size/2+1`` to ``size/2``: of shell ``size/2`` the points at ``ky = −size/2``
        are missing (they sort last in their shell), so they enter neither the sums of that
        shell nor the power beyond it.
        """
        h = size // 2
        missing = int(np.count_nonzero((self.shell == h) & (self.ky == -h))) if size < self.n \
            else 0
        return self.count(size) - missing

    @property
    def n_shells(self) -> int:
        return self.n // 2 + 1

    @functools.cached_property
    def shell_counts(self) -> np.ndarray:
        """``(n//2+1,)`` number of list coefficients in each shell (RELION's N_pix(r))."""
        return np.bincount(self.shell, minlength=self.n_shells).astype(np.float64)


@functools.lru_cache(maxsize=8)
def coefficient_list(n: int) -> CoefficientList:
    """The coefficient list of an ``n × n`` image (cached per ``n``)."""
    ky = np.arange(n)
    ky = np.where(ky > n // 2, ky - n, ky)
    kx = np.arange(n // 2 + 1)
    kyy, kxx = np.meshgrid(ky, kx, indexing="ij")
    shell = np.floor(np.sqrt(kyy**2 + kxx**2) + 0.5).astype(np.int64)
    keep = (shell <= n // 2) & ~((kxx == 0) & (kyy < 0))
    flat = np.flatnonzero(keep.ravel())
    # within a shell r, the points at ky = −r last (see CoefficientList.count_window)
    edge = (kyy == -shell).ravel()[flat]
    order = np.lexsort((flat, edge, shell.ravel()[flat]))
    flat = flat[order]
    return CoefficientList(n, flat, kyy.ravel()[flat].astype(np.float64),
                           kxx.ravel()[flat].astype(np.float64), shell.ravel()[flat])


def images_to_list(images: Array, coeffs: CoefficientList, m: int) -> Array:
    """``(B, n, n)`` real images → ``(B, m)`` complex64 coefficients (RELION-normalised, centred)."""
    bk = backend_of(images)
    xp = bk.xp
    n = coeffs.n
    centred = xp.roll(images, shift=(-(n // 2), -(n // 2)), axis=(-2, -1))
    f = bk.rfft2(centred) / float(n * n)
    flat = xp.reshape(f, (images.shape[0], n * (n // 2 + 1)))
    return xp.astype(xp.take(flat, bk.asarray(coeffs.flat[:m]), axis=1), xp.complex64)


@functools.lru_cache(maxsize=16)
def _half_grid_map(n: int, m: int) -> tuple[np.ndarray, np.ndarray]:
    """For each half-grid cell: its position in the list (m = absent) and a conjugate flag."""
    coeffs = coefficient_list(n)
    index = np.full(n * (n // 2 + 1), m, dtype=np.int64)
    index[coeffs.flat[:m]] = np.arange(m)
    conj = np.zeros(n * (n // 2 + 1), dtype=bool)
    # the kx = 0, ky < 0 half-column is the conjugate of ky > 0
    for pos in range(m):
        if coeffs.kx[pos] == 0 and 0 < coeffs.ky[pos] < n - coeffs.ky[pos]:
            mirror = (n - int(coeffs.ky[pos])) * (n // 2 + 1)
            index[mirror] = pos
            conj[mirror] = True
    return index, conj


def list_to_half_grid(values: Array, n: int) -> Array:
    """``(..., m)`` list values → ``(..., n, n//2+1)`` half-complex grid, Hermitian on kx = 0."""
    bk = backend_of(values)
    xp = bk.xp
    m = values.shape[-1]
    index, conj = _half_grid_map(n, m)
    lead = values.shape[:-1]
    padded = xp.concat([values, xp.zeros(lead + (1,), dtype=values.dtype, **bk.device_kw)], axis=-1)
    grid = xp.take(padded, bk.asarray(index), axis=padded.ndim - 1)
    if xp.isdtype(values.dtype, "complex floating"):
        grid = xp.where(bk.asarray(conj), xp.conj(grid), grid)
    return xp.reshape(grid, lead + (n, n // 2 + 1))


def list_to_images(values: Array, n: int) -> Array:
    """``(B, m)`` complex coefficients → ``(B, n, n)`` real float32 images (centre ``n//2``)."""
    bk = backend_of(values)
    xp = bk.xp
    grid = list_to_half_grid(values, n)
    image = bk.irfft2(grid, (n, n)) * float(n * n)
    return xp.astype(xp.roll(image, shift=(n // 2, n // 2), axis=(-2, -1)), xp.float32)


def to_real_pairs(z: Array) -> Array:
    """Complex ``(..., m)`` → real ``(..., 2m)`` = [Re, Im], so that ``Re(a·conj(b))`` is a dot."""
    xp = backend_of(z).xp
    return xp.concat([xp.real(z), xp.imag(z)], axis=-1)


def ctf_list(defocus_u_a: np.ndarray, defocus_v_a: np.ndarray, angle_deg: np.ndarray,
             voltage_kv: np.ndarray, cs_mm: np.ndarray, q0: np.ndarray, phase_deg: np.ndarray,
             bfactor_a2: np.ndarray, scale: np.ndarray, coeffs: CoefficientList, m: int,
             pixel_a: float, bk: Backend, intact_first_peak: bool = False) -> Array:
    """RELION's CTF (``ctf_2d``) of ``B`` particles at the first ``m`` list coefficients.

    All parameter arrays are ``(B,)`` host arrays in RELION's units (Å, degrees, kV, mm);
    returns ``(B, m)`` float32 on ``bk``. The formula of :func:`cryopick.ctf.ctf_2d`, with its
    pieces (:mod:`cryopick.ctf`), per particle.
    """
    xp = bk.xp
    col = lambda a: bk.asarray(np.asarray(a, np.float64)[:, None])
    lam = electron_wavelength_a(np.asarray(voltage_kv, np.float64))
    q0 = np.asarray(q0, np.float64)
    k1 = col(np.pi / 2.0 * np.asarray(cs_mm, np.float64) * 1e7 * lam**3)
    k2 = col(np.pi * lam)
    k3 = col(np.arctan(q0 / np.sqrt(1.0 - q0 * q0)) + np.deg2rad(phase_deg))
    k4 = col(-np.asarray(bfactor_a2, np.float64) / 4.0)
    angle = np.deg2rad(np.asarray(angle_deg, np.float64))
    c, s = np.cos(angle), np.sin(angle)
    a11, a12, a22 = map(col, astigmatism(c, s, np.asarray(defocus_u_a, np.float64),
                                         np.asarray(defocus_v_a, np.float64)))
    u = bk.asarray(coeffs.kx[None, :m] / (coeffs.n * pixel_a))
    v = bk.asarray(coeffs.ky[None, :m] / (coeffs.n * pixel_a))
    u2 = u * u + v * v
    gamma = k2 * (a11 * u * u + 2.0 * a12 * u * v + a22 * v * v) + k1 * u2 * u2 - k3
    return finish_ctf(-xp.sin(gamma) * xp.exp(k4 * u2) * col(scale), gamma, intact_first_peak)


def shift_phases(shifts_px: np.ndarray, coeffs: CoefficientList, m: int, bk: Backend) -> Array:
    """``(T, m)`` complex64 phase ramps: multiplying by row t shifts an image by ``shifts_px[t]``.

    ``shifts_px`` is ``(T, 2)`` (y, x) in pixels; RELION's convention ``I'(r) = I(r − s)``,
    i.e. ``F'(k) = F(k)·exp(−2πi k·s/n)``.
    """
    arg = -2.0 * np.pi * (np.outer(shifts_px[:, 0], coeffs.ky[:m])
                          + np.outer(shifts_px[:, 1], coeffs.kx[:m])) / coeffs.n
    return bk.asarray((np.cos(arg) + 1j * np.sin(arg)).astype(np.complex64))


def soft_edge(n: int, radius_px: float, width_px: float) -> np.ndarray:
    """``(n, n)`` RELION raised-cosine weight: 0 inside ``radius``, 1 beyond ``radius + width``.

    ``c = 0.5 + 0.5·cos(π(R + W − r)/W)`` on the edge; ``r`` from the centre pixel ``n//2``.
    """
    yy, xx = np.mgrid[:n, :n] - n // 2
    r = np.sqrt(yy**2 + xx**2)
    c = 0.5 + 0.5 * np.cos(np.pi * (radius_px + width_px - r) / width_px)
    return np.where(r < radius_px, 0.0, np.where(r > radius_px + width_px, 1.0, c)
                    ).astype(np.float32)


def mask_images(images: Array, edge: Array, background: Array) -> Array:
    """Soft circular masking: ``v·(1 − c) + b·c`` with ``c`` from :func:`soft_edge`.

    ``background`` is ``(B, 1, 1)`` (a value per image, e.g. its mean outside the mask) or
    ``(B, n, n)`` (noise images).
    """
    return images * (1.0 - edge) + background * edge


def shift_images_integer(images: Array, shifts_px: Array) -> Array:
    """Shift ``(B, n, n)`` images by integer ``(B, 2)`` (y, x): ``I'(r) = I(r − s)``, zero fill."""
    bk = backend_of(images)
    xp = bk.xp
    b, n = images.shape[0], images.shape[-1]
    grid = xp.arange(n, dtype=xp.int64, **bk.device_kw)
    src_y = grid[None, :] - shifts_px[:, 0:1]  # (B, n)
    src_x = grid[None, :] - shifts_px[:, 1:2]
    valid = ((src_y >= 0) & (src_y < n))[:, :, None] & ((src_x >= 0) & (src_x < n))[:, None, :]
    flat_index = xp.clip(src_y, 0, n - 1)[:, :, None] * n + xp.clip(src_x, 0, n - 1)[:, None, :]
    picked = xp.take_along_axis(xp.reshape(images, (b, n * n)),
                                xp.reshape(flat_index, (b, n * n)), axis=1)
    zero = xp.zeros((), dtype=images.dtype, **bk.device_kw)
    return xp.where(valid, xp.reshape(picked, (b, n, n)), zero)


def center_of_mass(image: np.ndarray) -> tuple[float, float]:
    """Centre of mass ``(y, x)`` of the positive pixels, in logical coordinates (centre n//2)."""
    n_y, n_x = image.shape
    weights = np.where(image > 0, image, 0.0).astype(np.float64)
    total = weights.sum()
    if total <= 0:
        return 0.0, 0.0
    y = np.arange(n_y) - n_y // 2
    x = np.arange(n_x) - n_x // 2
    return float((weights.sum(axis=1) * y).sum() / total), \
        float((weights.sum(axis=0) * x).sum() / total)


def gridding_correction(n: int) -> np.ndarray:
    """``(n, n)`` ``sinc²(π r / 2n)``: the attenuation of bilinear interpolation on the 2× grid."""
    yy, xx = np.mgrid[:n, :n] - n // 2
    arg = np.pi * np.sqrt(yy**2 + xx**2) / (2 * n)
    safe = np.where(arg > 0, arg, 1.0)
    return np.where(arg > 0, np.sin(safe) / safe, 1.0) ** 2


def projection_table(refs: Array) -> Array:
    """Full-plane transforms ``(K, 2n, 2n)`` of references on RELION's 2×-padded grid.

    Each ``(n, n)`` reference is divided by ``sinc²(π r / 2n)`` (gridding correction for the
    bilinear interpolation that follows), zero-padded to ``2n`` around its centre and
    transformed; the value at padded index ``2k`` equals the size-``n`` transform at ``k``.
    """
    bk = backend_of(refs)
    xp = bk.xp
    k, n = refs.shape[0], refs.shape[-1]
    corrected = refs / bk.asarray(gridding_correction(n).astype(np.float32))
    padded = xp.zeros((k, 2 * n, 2 * n), dtype=xp.float32, **bk.device_kw)
    padded[:, n // 2: n // 2 + n, n // 2: n // 2 + n] = corrected
    padded = xp.roll(padded, shift=(-n, -n), axis=(-2, -1))
    full = bk.fft_axis(bk.fft_axis(xp.astype(padded, xp.complex64), -1), -2)
    return xp.astype(full / float(n * n), xp.complex64)


def bilinear_geometry(fy: np.ndarray, fx: np.ndarray, size: int
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Flat indices ``(4, ...)`` into a wrapped ``size × size`` grid and bilinear weights."""
    y0, x0 = np.floor(fy), np.floor(fx)
    wy, wx = fy - y0, fx - x0
    y0 = y0.astype(np.int64) % size
    x0 = x0.astype(np.int64) % size
    y1, x1 = (y0 + 1) % size, (x0 + 1) % size
    index = np.stack([y0 * size + x0, y0 * size + x1, y1 * size + x0, y1 * size + x1])
    weight = np.stack([(1 - wy) * (1 - wx), (1 - wy) * wx, wy * (1 - wx), wy * wx])
    return index, weight.astype(np.float32)


def sample_bilinear(table: Array, index: np.ndarray, weight: np.ndarray) -> Array:
    """Bilinear samples of ``(K, S, S)`` grids at host geometry ``(4, ...)`` → ``(K, ...)``."""
    bk = backend_of(table)
    xp = bk.xp
    k = table.shape[0]
    flat = xp.reshape(table, (k, table.shape[-2] * table.shape[-1]))
    shape = index.shape[1:]
    total = None
    for corner in range(4):
        picked = xp.take(flat, bk.asarray(index[corner].ravel()), axis=1)
        term = picked * bk.asarray(weight[corner].ravel())
        total = term if total is None else total + term
    return xp.reshape(total, (k,) + shape)


def rotated_projections(table: Array, psis_deg: np.ndarray, coeffs: CoefficientList,
                        m: int) -> Array:
    """``(K, Ψ, m)`` complex64 reference projections ``P_kψ(f) = F_k(Aᵀ f)`` at list coefficients.

    ``A = [[cos ψ, sin ψ], [−sin ψ, cos ψ]]`` on ``(x, y)`` (RELION's in-plane rotation):
    ``Aᵀ f = (c·kx − s·ky, s·kx + c·ky)``, read from the 2×-padded table (``2·`` those).
    """
    size = table.shape[-1]
    rad = np.deg2rad(np.asarray(psis_deg, np.float64))[:, None]
    c, s = np.cos(rad), np.sin(rad)
    kx, ky = coeffs.kx[None, :m], coeffs.ky[None, :m]
    index, weight = bilinear_geometry(2.0 * (s * kx + c * ky), 2.0 * (c * kx - s * ky), size)
    return sample_bilinear(table, index, weight)


def scatter_rows(index: Array, rows: Array, n_out: int) -> Array:
    """Sum rows into buckets: ``out[b] = Σ_{j: index[j] = b} rows[j]``, ``(n_out, W)`` float32.

    The Array API has no scatter-add: this is a one-hot :func:`sparse_product`.
    """
    bk = backend_of(rows)
    j = rows.shape[0]
    ones = bk.xp.ones(j, dtype=bk.xp.float32, **bk.device_kw)
    return sparse_product(index, bk.xp.arange(j, **bk.device_kw), ones, (n_out, j), rows)


def sparse_product(rows: Array, cols: Array, values: Array, shape: tuple[int, int],
                   dense: Array) -> Array:
    """``S @ dense`` for the sparse ``S`` of ``shape`` with entries ``S[rows, cols] += values``.

    ``rows``/``cols``/``values`` are host arrays or arrays of ``dense``'s backend; ``dense``
    ``(shape[1], W)`` and the ``(shape[0], W)`` float32 result live on the backend. As in
    :func:`scatter_rows`, SciPy or cupyx sparse matrices are used; the strict test backend
    gets the matrix densely.
    """
    bk = backend_of(dense)
    xp = bk.xp
    if bk.name == "numpy":
        import scipy.sparse

        matrix = scipy.sparse.csr_matrix(
            (np.asarray(values, np.float32), (np.asarray(rows), np.asarray(cols))), shape=shape)
        return np.asarray(matrix @ dense, dtype=np.float32)
    if bk.name == "cupy":
        import cupy
        import cupyx.scipy.sparse

        matrix = cupyx.scipy.sparse.coo_matrix(
            (cupy.asarray(values, dtype=cupy.float32),
             (cupy.asarray(rows, dtype=cupy.int32), cupy.asarray(cols, dtype=cupy.int32))),
            shape=shape).tocsr()
        return cupy.asarray(matrix @ dense, dtype=cupy.float32)
    host = [a if isinstance(a, np.ndarray) else bk.to_numpy(a) for a in (rows, cols, values)]
    matrix = np.zeros(shape, np.float32)
    np.add.at(matrix, (host[0], host[1]), host[2].astype(np.float32))
    return xp.matmul(bk.asarray(matrix), xp.astype(dense, xp.float32))


def make_complex(re: Array, im: Array) -> Array:
    """``re + i·im`` as complex64 (the Array API has no ``complex(re, im)`` constructor)."""
    xp = backend_of(re).xp
    return xp.astype(re, xp.complex64) + xp.astype(im, xp.complex64) * 1j


def abs2(z: Array) -> Array:
    """``|z|²`` of a complex array, float32."""
    xp = backend_of(z).xp
    return xp.real(z) ** 2 + xp.imag(z) ** 2
