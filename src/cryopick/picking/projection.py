"""2D references from a 3D map: projections along HEALPix directions (``--ref map.mrc``).

Directions are the centres of the HEALPix pixels of the given order (12·4^order of them,
RELION's ``--healpix_order``), reduced by a Cn symmetry; each projection is the central slice
of the map's 2×-padded Fourier transform (trilinear interpolation), in RELION's ZYZ Euler
convention.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

from cryopick.euler import euler_matrix
from cryopick.errors import InputError

__all__ = ["euler_matrix", "healpix_directions", "project_volume", "references_from_volume"]


def healpix_directions(order: int) -> np.ndarray:
    """``(12·4^order, 2)`` array of (rot, tilt) in degrees: HEALPix ring-scheme pixel centres."""
    if order < 0:
        raise InputError(f"--healpix_order must be ≥ 0, got {order}")
    nside = 2**order
    out = []
    for ring in range(1, 4 * nside):  # rings from the north pole down
        if ring < nside:  # polar cap
            z = 1.0 - ring * ring / (3.0 * nside * nside)
            count, shift = 4 * ring, 0.5
        elif ring <= 3 * nside:  # equatorial belt
            z = 4.0 / 3.0 - 2.0 * ring / (3.0 * nside)
            count, shift = 4 * nside, 0.5 * ((ring - nside + 1) % 2)
        else:  # south cap
            k = 4 * nside - ring
            z = -1.0 + k * k / (3.0 * nside * nside)
            count, shift = 4 * k, 0.5
        tilt = math.degrees(math.acos(max(-1.0, min(1.0, z))))
        out += [(360.0 * (j + shift) / count, tilt) for j in range(count)]
    return np.array(out)


def project_volume(volume: np.ndarray, rot_deg: float, tilt_deg: float) -> np.ndarray:
    """Projection ``P(x, y) = ∫ V(Aᵀ(x, y, z)) dz`` of a cubic ``(z, y, x)`` map, ψ = 0."""
    n = volume.shape[0]
    pad = 2 * n
    padded = np.zeros((pad,) * 3, np.float32)
    lo = pad // 2 - n // 2
    padded[lo:lo + n, lo:lo + n, lo:lo + n] = volume
    ft = np.fft.fftshift(np.fft.fftn(np.fft.ifftshift(padded)))
    k = np.arange(pad) - pad // 2
    ky, kx = np.meshgrid(k, k, indexing="ij")
    a = euler_matrix(rot_deg, tilt_deg, 0.0)
    # frequency (kx, ky, 0) of the projection samples the map's transform at Aᵀ k
    sx = a[0, 0] * kx + a[1, 0] * ky
    sy = a[0, 1] * kx + a[1, 1] * ky
    sz = a[0, 2] * kx + a[1, 2] * ky
    coords = np.stack([sz, sy, sx]) + pad // 2
    real = ndimage.map_coordinates(ft.real, coords, order=1, mode="constant")
    imag = ndimage.map_coordinates(ft.imag, coords, order=1, mode="constant")
    image = np.fft.fftshift(np.real(np.fft.ifft2(np.fft.ifftshift(real + 1j * imag))))
    return image[lo:lo + n, lo:lo + n].astype(np.float32)


def references_from_volume(volume: np.ndarray, healpix_order: int, symmetry: str = "C1"
                           ) -> np.ndarray:
    """Projections ``(n_dir, n, n)`` of ``volume`` along the directions of a HEALPix order."""
    if volume.ndim != 3 or len(set(volume.shape)) != 1:
        raise InputError(f"3D reference must be a cubic map, got shape {volume.shape}")
    sym = symmetry.upper()
    if not (sym.startswith("C") and sym[1:].isdigit() and int(sym[1:]) >= 1):
        raise InputError(f"--sym {symmetry}: only cyclic symmetries (C1, C2, …) are supported")
    fold = int(sym[1:])
    directions = [d for d in healpix_directions(healpix_order) if d[0] < 360.0 / fold]
    return np.stack([project_volume(volume, rot, tilt) for rot, tilt in directions])
