"""Simulated particles: 3D Gaussian-blob models of several shapes and their analytic projections.

A particle is a sum of isotropic 3D Gaussians, so every projection is a sum of 2D Gaussians
computed analytically (no volume rotation). Shapes cover what real data sets hold: an
asymmetric multi-domain particle (the demo's), an elongated rod, a dumbbell, a C7 double ring
whose top views are rotationally symmetric, and a hollow shell (apoferritin-like: every view a
ring). Every shape is scaled so that its 1σ envelope fits the asked diameter.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from cryopick.euler import euler_matrix

__all__ = ["SHAPES", "Blobs", "make_blobs", "make_density", "project_blobs"]


@dataclasses.dataclass(frozen=True)
class Blobs:
    """Isotropic 3D Gaussians: centres ``(n, 3)`` as (x, y, z) in Å, widths in Å, weights."""

    centres_a: np.ndarray
    sigmas_a: np.ndarray
    weights: np.ndarray

    @property
    def radius_a(self) -> float:
        """Radius (Å) of the sphere about the origin holding every blob to 1σ."""
        return float(np.max(np.linalg.norm(self.centres_a, axis=1) + self.sigmas_a))


def _unit(v: list[float]) -> np.ndarray:
    v = np.asarray(v, dtype=float)
    return v / np.linalg.norm(v)


def _points_in_ellipsoid(rng: np.random.Generator, n: int, semi_axes: tuple) -> np.ndarray:
    """``n`` points uniform inside an ellipsoid with the given (x, y, z) semi-axes."""
    directions = rng.normal(size=(n, 3))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    radii = rng.uniform(0.0, 1.0, n) ** (1.0 / 3.0)
    return directions * radii[:, None] * np.asarray(semi_axes)


def _asymmetric(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """An elongated body, a head domain and three arms (the demo's particle)."""
    # body: blobs filling an elongated ellipsoid (unit-diameter layout, scaled by the caller)
    body = _points_in_ellipsoid(rng, 60, (0.22, 0.26, 0.40))
    # head: a compact domain off the long axis at one end
    head = _points_in_ellipsoid(rng, 16, (0.13, 0.13, 0.13)) + [0.24, -0.06, 0.22]
    # arms: short chains leaving the body in fixed, unrelated directions
    arms = [np.linspace(0.26, 0.40, 3)[:, None] * _unit(d)
            for d in ([1.0, 0.3, -0.4], [-0.6, 0.9, 0.1], [-0.3, -0.8, -0.7])]
    centres = np.concatenate([body, head, *arms])
    sigmas = np.concatenate([rng.uniform(0.045, 0.065, len(body) + len(head)),
                             np.full(9, 0.055)])
    return centres, sigmas


def _elongated(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A rod about three times longer than wide, a knob at one end and a side domain."""
    rod = _points_in_ellipsoid(rng, 50, (0.11, 0.13, 0.40))
    knob = _points_in_ellipsoid(rng, 10, (0.09, 0.09, 0.07)) + [0.06, 0.0, 0.38]
    side = _points_in_ellipsoid(rng, 10, (0.08, 0.08, 0.10)) + [0.16, 0.05, -0.10]
    centres = np.concatenate([rod, knob, side])
    return centres, rng.uniform(0.04, 0.055, len(centres))


def _dumbbell(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Two globular domains of unequal size joined by a thin neck."""
    big = _points_in_ellipsoid(rng, 40, (0.20, 0.20, 0.18)) + [0.0, 0.0, -0.16]
    small = _points_in_ellipsoid(rng, 20, (0.13, 0.14, 0.12)) + [0.04, 0.0, 0.24]
    neck = np.linspace(0.0, 0.12, 3)[:, None] * _unit([0.1, 0.0, 1.0])
    centres = np.concatenate([big, small, neck])
    return centres, rng.uniform(0.045, 0.06, len(centres))


def _ring(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Two stacked C7 rings of three-blob subunits around a hollow channel (symmetric top view)."""
    subunit = _points_in_ellipsoid(rng, 3, (0.05, 0.05, 0.06)) + [0.30, 0.0, 0.0]
    subunit = np.concatenate([subunit, [[0.40, 0.04, 0.02]]])
    centres = []
    for layer_z, twist in ((-0.13, 0.0), (0.13, math.pi / 14)):
        for k in range(7):
            a = twist + 2.0 * math.pi * k / 7
            c, s = math.cos(a), math.sin(a)
            rotated = subunit @ np.array([[c, s, 0.0], [-s, c, 0.0], [0.0, 0.0, 1.0]])
            centres.append(rotated + [0.0, 0.0, layer_z])
    centres = np.concatenate(centres)
    return centres, np.full(len(centres), 0.06)


def _shell(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A hollow sphere of 24 subunits (apoferritin-like): every view is a ring."""
    k = np.arange(24) + 0.5
    polar = np.arccos(1.0 - 2.0 * k / 24)
    azimuth = math.pi * (1.0 + math.sqrt(5.0)) * k + rng.uniform(0.0, 2.0 * math.pi)
    sphere = np.stack([np.sin(polar) * np.cos(azimuth), np.sin(polar) * np.sin(azimuth),
                       np.cos(polar)], axis=1)
    # each subunit two blobs: one on the shell, one slightly inside (a thick wall)
    centres = np.concatenate([0.36 * sphere, 0.27 * sphere])
    return centres, np.full(len(centres), 0.075)


SHAPES = {"asymmetric": _asymmetric, "elongated": _elongated, "dumbbell": _dumbbell,
          "ring": _ring, "shell": _shell}


def make_blobs(diameter_a: float = 170.0, seed: int = 0, shape: str = "asymmetric") -> Blobs:
    """Build a particle of one of :data:`SHAPES`, centred on its centre of mass.

    Parameters
    ----------
    diameter_a : float
        Diameter (Å) of the sphere about the centre of mass that holds every blob to 1σ.
    seed : int
        Seed of the random layout; the same seed and shape give the same particle.
    shape : str
        ``asymmetric`` (an elongated body, a head and three arms), ``elongated`` (a rod about
        3× longer than wide), ``dumbbell``, ``ring`` (C7 double ring) or ``shell`` (hollow).

    Returns
    -------
    Blobs centred on their centre of mass.
    """
    if diameter_a <= 0:
        raise ValueError(f"diameter_a must be > 0, got {diameter_a}")
    if shape not in SHAPES:
        raise ValueError(f"unknown particle shape {shape!r}; choose one of {', '.join(SHAPES)}")
    # the demo's particle keeps its stream; other shapes get their own
    key = [seed, 0xB10B] if shape == "asymmetric" else [seed, 0xB10B, list(SHAPES).index(shape)]
    rng = np.random.default_rng(key)
    centres, sigmas = SHAPES[shape](rng)
    weights = rng.uniform(0.8, 1.2, len(centres))
    if shape in ("ring", "shell"):
        weights = np.ones(len(centres))  # exact symmetry
    centres = centres - np.average(centres, axis=0, weights=weights * sigmas**3)
    # scale positions and widths together so that the 1σ envelope has the asked diameter
    scale = diameter_a / (2.0 * Blobs(centres, sigmas, weights).radius_a)
    return Blobs(centres * scale, sigmas * scale, weights)


def make_density(box_px: int, pixel_size_a: float, seed: int = 0,
                 diameter_a: float = 170.0, shape: str = "asymmetric") -> np.ndarray:
    """Sample the particle of :func:`make_blobs` on a cube, origin at voxel ``box_px // 2``.

    Parameters
    ----------
    box_px : int
        Side of the cube (voxels).
    pixel_size_a : float
        Voxel size (Å).
    seed, diameter_a, shape
        As for :func:`make_blobs`.

    Returns
    -------
    (box_px, box_px, box_px) float32 array indexed (z, y, x).
    """
    if box_px < 2 or pixel_size_a <= 0:
        raise ValueError(f"need box_px >= 2 and pixel_size_a > 0, got {box_px}, {pixel_size_a}")
    blobs = make_blobs(diameter_a, seed, shape)
    axis_a = (np.arange(box_px) - box_px // 2) * pixel_size_a
    # separable Gaussians: g[b, axis, i] for x, y, z; the sum over blobs is one contraction
    g = np.exp(-(axis_a[None, None, :] - blobs.centres_a[:, :, None]) ** 2
               / (2.0 * blobs.sigmas_a[:, None, None] ** 2))
    volume = np.einsum("b,bz,by,bx->zyx", blobs.weights, g[:, 2], g[:, 1], g[:, 0],
                       optimize=True)
    return volume.astype(np.float32)


def project_blobs(blobs: Blobs, angles_deg: np.ndarray | tuple[float, float, float],
                  box_px: int, pixel_size_a: float,
                  shift_px: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    """Analytic projections (line integrals along z, in Å × density) of the rotated blobs.

    Matches ``relion_project`` of :func:`make_density` (which sums voxels, i.e. is this
    divided by the voxel size).

    Parameters
    ----------
    blobs : Blobs
        The particle, e.g. from :func:`make_blobs`.
    angles_deg : (3,) or (n, 3) array of (rot, tilt, psi)
        RELION's Euler angles (degrees, ZYZ); a blob at ``c`` projects to (x, y) of ``A @ c``.
    box_px : int
        Side of the output images; the particle centre is pixel ``box_px // 2`` + ``shift_px``.
    pixel_size_a : float
        Pixel size of the images (Å).
    shift_px : (dy, dx)
        Offset of the particle centre from the box centre, in pixels (may be fractional).

    Returns
    -------
    (box_px, box_px) float32 image (rows = y, columns = x), or (n, box_px, box_px) for n angles.
    """
    angles = np.asarray(angles_deg, dtype=float)
    if angles.ndim == 2:
        return np.stack([project_blobs(blobs, a, box_px, pixel_size_a, shift_px) for a in angles])
    if angles.shape != (3,):
        raise ValueError(f"angles_deg must be (3,) or (n, 3), got shape {angles.shape}")
    rotated = blobs.centres_a @ euler_matrix(*angles).T
    # a 3D Gaussian integrates along z to a 2D Gaussian of the same width, times √(2π)σ
    amplitude = blobs.weights * math.sqrt(2.0 * math.pi) * blobs.sigmas_a
    offsets_a = (np.arange(box_px) - box_px // 2)[None, :] * pixel_size_a
    two_s2 = 2.0 * blobs.sigmas_a[:, None] ** 2
    gy = np.exp(-(offsets_a - shift_px[0] * pixel_size_a - rotated[:, 1:2]) ** 2 / two_s2)
    gx = np.exp(-(offsets_a - shift_px[1] * pixel_size_a - rotated[:, 0:1]) ** 2 / two_s2)
    # the sum over blobs of separable Gaussians is one matrix product
    return ((gy * amplitude[:, None]).T @ gx).astype(np.float32)
