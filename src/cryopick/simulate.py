"""Simulated cryo-EM demo data: a Gaussian-blob particle, CTF-filtered noisy micrographs, truth.

The particle is a sum of isotropic 3D Gaussians, so every projection is a sum of 2D Gaussians
computed analytically (no volume rotation). A micrograph is the projections of randomly placed,
randomly oriented copies, multiplied by a per-micrograph CTF in Fourier space (RELION's sign:
particles come out dark), white noise at a low per-pixel SNR, a smooth ice-thickness gradient,
a few dark contamination blobs and, in one micrograph of the set, a carbon edge.
:func:`simulate_project` writes all of it as a RELION 3.1 project with ground truth.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.fft

from cryopick.backend import get_backend
from cryopick.ctf import ctf_2d
from cryopick.euler import euler_matrix
from cryopick.fourier import forward, inverse
from cryopick.io.mrc import write_mrc
from cryopick.io.star import CtfParams, write_coordinates, write_star

__all__ = [
    "PRESETS",
    "Blobs",
    "SimulatedMicrograph",
    "SimulationConfig",
    "euler_matrix",
    "make_blobs",
    "make_density",
    "project_blobs",
    "simulate_micrograph",
    "simulate_project",
]

logger = logging.getLogger(__name__)

MICROGRAPH_DIR = "MotionCorr/job002/Movies"
CTF_STAR = "CtfFind/job003/micrographs_ctf.star"
TRUTH_DIR = "Demo/truth"
DENSITY_MRC = "Demo/density.mrc"


# --- the particle ------------------------------------------------------------------------

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


def make_blobs(diameter_a: float = 170.0, seed: int = 0) -> Blobs:
    """Build an asymmetric particle: an elongated body, a head domain and three arms.

    Parameters
    ----------
    diameter_a : float
        Diameter (Å) of the sphere about the centre of mass that holds every blob to 1σ.
    seed : int
        Seed of the random layout; the same seed gives the same particle.

    Returns
    -------
    Blobs centred on their centre of mass.
    """
    if diameter_a <= 0:
        raise ValueError(f"diameter_a must be > 0, got {diameter_a}")
    rng = np.random.default_rng([seed, 0xB10B])
    # body: blobs filling an elongated ellipsoid (unit-diameter layout, scaled below)
    body = _points_in_ellipsoid(rng, 60, (0.22, 0.26, 0.40))
    # head: a compact domain off the long axis at one end
    head = _points_in_ellipsoid(rng, 16, (0.13, 0.13, 0.13)) + [0.24, -0.06, 0.22]
    # arms: short chains leaving the body in fixed, unrelated directions
    arms = [np.linspace(0.26, 0.40, 3)[:, None] * _unit(d)
            for d in ([1.0, 0.3, -0.4], [-0.6, 0.9, 0.1], [-0.3, -0.8, -0.7])]
    centres = np.concatenate([body, head, *arms])
    sigmas = np.concatenate([rng.uniform(0.045, 0.065, len(body) + len(head)),
                             np.full(9, 0.055)])
    weights = rng.uniform(0.8, 1.2, len(centres))
    centres = centres - np.average(centres, axis=0, weights=weights * sigmas**3)
    # scale positions and widths together so that the 1σ envelope has the asked diameter
    scale = diameter_a / (2.0 * Blobs(centres, sigmas, weights).radius_a)
    return Blobs(centres * scale, sigmas * scale, weights)


def _unit(v: list[float]) -> np.ndarray:
    v = np.asarray(v, dtype=float)
    return v / np.linalg.norm(v)


def _points_in_ellipsoid(rng: np.random.Generator, n: int, semi_axes: tuple) -> np.ndarray:
    """``n`` points uniform inside an ellipsoid with the given (x, y, z) semi-axes."""
    directions = rng.normal(size=(n, 3))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    radii = rng.uniform(0.0, 1.0, n) ** (1.0 / 3.0)
    return directions * radii[:, None] * np.asarray(semi_axes)


def make_density(box_px: int, pixel_size_a: float, seed: int = 0,
                 diameter_a: float = 170.0) -> np.ndarray:
    """Sample the particle of :func:`make_blobs` on a cube, origin at voxel ``box_px // 2``.

    Parameters
    ----------
    box_px : int
        Side of the cube (voxels).
    pixel_size_a : float
        Voxel size (Å).
    seed, diameter_a
        As for :func:`make_blobs`.

    Returns
    -------
    (box_px, box_px, box_px) float32 array indexed (z, y, x).
    """
    if box_px < 2 or pixel_size_a <= 0:
        raise ValueError(f"need box_px >= 2 and pixel_size_a > 0, got {box_px}, {pixel_size_a}")
    blobs = make_blobs(diameter_a, seed)
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


# --- configuration -----------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class SimulationConfig:
    """Everything that defines a simulated data set (sizes in pixels, lengths in Å)."""

    n_micrographs: int
    nx: int
    ny: int
    pixel_size_a: float
    particles_per_micrograph: int
    particle_diameter_a: float = 170.0
    snr: float = 0.05                     # per-pixel signal/noise power inside particles
    n_contaminations: tuple[int, int] = (2, 4)
    contamination_size: tuple[float, float] = (2.0, 4.0)  # diameters, × particle diameter
    contamination_depth: tuple[float, float] = (1.0, 2.0)  # darkening, × noise std
    n_specks: tuple[int, int] = (2, 6)   # small ice specks/aggregates: LoG's false positives
    speck_size: tuple[float, float] = (0.3, 0.8)    # diameters, × particle diameter
    speck_depth: tuple[float, float] = (0.2, 0.8)   # darkening, × noise std
    ice_gradient: float = 0.4            # peak-to-peak of the ice-thickness ramp, × noise std
    defocus_a: tuple[float, float] = (10000.0, 30000.0)
    astigmatism_a: tuple[float, float] = (100.0, 600.0)
    voltage_kv: float = 300.0
    cs_mm: float = 2.7
    amplitude_contrast: float = 0.1
    carbon_edge: bool = True             # one micrograph (the middle one) shows a carbon edge

    def __post_init__(self) -> None:
        """Reject sizes and counts that cannot make a micrograph."""
        for name in ("n_micrographs", "nx", "ny", "particles_per_micrograph"):
            value = getattr(self, name)
            if int(value) != value or value < 0:
                raise ValueError(f"{name} must be a non-negative integer, got {value}")
        for name in ("pixel_size_a", "particle_diameter_a", "snr", "voltage_kv"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        if min(self.nx, self.ny) < 2 * self.margin_px + 1:
            raise ValueError(f"micrograph {self.nx}x{self.ny} px is too small for a "
                             f"{self.particle_diameter_a} Å particle at {self.pixel_size_a} Å/px")

    @property
    def diameter_px(self) -> float:
        """Particle diameter in pixels."""
        return self.particle_diameter_a / self.pixel_size_a

    @property
    def margin_px(self) -> float:
        """Closest a particle centre comes to the micrograph edge."""
        return 0.8 * self.diameter_px


PRESETS: dict[str, SimulationConfig] = {
    # the default config's data: the tutorial's 0.885 Å/px, so its parameters apply unchanged
    "demo": SimulationConfig(n_micrographs=8, nx=2048, ny=2048, pixel_size_a=0.885,
                             particles_per_micrograph=30),
    # benchmark size: a K2 micrograph of the tutorial (3838 × 3710 px), ~100 particles
    "tutorial": SimulationConfig(n_micrographs=24, nx=3838, ny=3710, pixel_size_a=0.885,
                                 particles_per_micrograph=100, n_specks=(10, 20)),
}


# --- one micrograph ----------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class SimulatedMicrograph:
    """A simulated micrograph, its CTF and its particles (truth)."""

    image: np.ndarray          # (ny, nx) float32
    ctf: CtfParams
    positions_px: np.ndarray   # (n, 2) particle centres as (y, x), 0-based pixels
    angles_deg: np.ndarray     # (n, 3) rot, tilt, psi


def simulate_micrograph(config: SimulationConfig, blobs: Blobs, rng: np.random.Generator,
                        carbon: bool = False) -> SimulatedMicrograph:
    """Simulate one micrograph (see the module docstring for what it contains).

    The particles are filtered by the CTF on a square, FFT-friendly canvas (one forward and
    one inverse transform) that is then cropped to ``(ny, nx)``. The noise has std 1; the
    particles are scaled to ``config.snr`` (mean signal power over their discs / noise power).

    Parameters
    ----------
    config : SimulationConfig
        Sizes, particle count, SNR, contamination and CTF ranges.
    blobs : Blobs
        The particle (:func:`make_blobs`).
    rng : numpy.random.Generator
        Source of every random choice (consumed).
    carbon : bool
        Add a carbon film beyond a gently curved edge (no particles on it).

    Returns
    -------
    SimulatedMicrograph with a ``(ny, nx)`` float32 image, its CTF and the truth.
    """
    ny, nx, d_px = config.ny, config.nx, config.diameter_px
    ctf = _random_ctf(config, rng)
    contaminations = _random_contaminations(config, rng)
    carbon_mask = _carbon_mask(ny, nx, rng) if carbon else None
    positions = _place_particles(config, rng, contaminations, carbon_mask)
    angles = _random_angles(rng, len(positions))
    n = _canvas_size(ny, nx)
    particles = _render_particles(blobs, positions, angles, n, config.pixel_size_a)
    filtered = _apply_ctf(particles, ctf, config.pixel_size_a)[:ny, :nx]
    # scale so that the mean signal power over the particle discs is snr × noise power (1)
    disc_area = len(positions) * math.pi * (d_px / 2.0) ** 2
    power = float(np.einsum("ij,ij->", filtered, filtered)) / max(disc_area, 1.0)
    scale = math.sqrt(config.snr / power) if power > 0 else 0.0
    # RELION's CTF is positive at low frequency: subtracting makes the particles dark
    image = _ice_gradient(ny, nx, config.ice_gradient, rng)
    image -= np.float32(scale) * filtered
    _subtract_contaminations(image, contaminations)
    if carbon_mask is not None:
        image += _carbon_film(carbon_mask, ctf, config.pixel_size_a, rng)
    image += rng.standard_normal((ny, nx), dtype=np.float32)
    return SimulatedMicrograph(image.astype(np.float32), ctf, positions, angles)


def _canvas_size(ny: int, nx: int) -> int:
    """Smallest even FFT-friendly square side holding the micrograph."""
    n = scipy.fft.next_fast_len(max(ny, nx), real=True)
    while n % 2:
        n = scipy.fft.next_fast_len(n + 1, real=True)
    return n


def _random_ctf(config: SimulationConfig, rng: np.random.Generator) -> CtfParams:
    """Defocus U ≥ V inside ``config.defocus_a``, astigmatism and its angle at random."""
    astig = rng.uniform(*config.astigmatism_a)
    mean = rng.uniform(config.defocus_a[0] + astig / 2, config.defocus_a[1] - astig / 2)
    return CtfParams(defocus_u_a=round(mean + astig / 2, 2), defocus_v_a=round(mean - astig / 2, 2),
                     defocus_angle_deg=round(rng.uniform(-90.0, 90.0), 2),
                     voltage_kv=config.voltage_kv, cs_mm=config.cs_mm,
                     amplitude_contrast=config.amplitude_contrast)


def _random_angles(rng: np.random.Generator, n: int) -> np.ndarray:
    """(n, 3) rot, tilt, psi: view directions uniform on the sphere, psi uniform."""
    rot = rng.uniform(0.0, 360.0, n)
    tilt = np.degrees(np.arccos(rng.uniform(-1.0, 1.0, n)))
    psi = rng.uniform(0.0, 360.0, n)
    return np.stack([rot, tilt, psi], axis=1)


def _random_contaminations(config: SimulationConfig, rng: np.random.Generator) -> np.ndarray:
    """(k, 7) rows: y, x, radius (px), depth, 2 shape phases and the wobble of each blob.

    Large ice/ethane blobs first, then small specks (ice crystals, aggregates).
    """
    rows = []
    for count, size, depth in ((config.n_contaminations, config.contamination_size,
                                config.contamination_depth),
                               (config.n_specks, config.speck_size, config.speck_depth)):
        k = int(rng.integers(count[0], count[1] + 1))
        radius = rng.uniform(*size, k) * config.diameter_px / 2.0
        rows.append(np.column_stack([
            rng.uniform(0.0, config.ny, k), rng.uniform(0.0, config.nx, k), radius,
            rng.uniform(*depth, k), rng.uniform(0.0, 2.0 * math.pi, (k, 2)),
            rng.uniform(0.05, 0.2, k)]))
    return np.concatenate(rows)


def _place_particles(config: SimulationConfig, rng: np.random.Generator,
                     contaminations: np.ndarray, carbon_mask: np.ndarray | None) -> np.ndarray:
    """Random non-overlapping centres (y, x): ≥ 1.1 diameters apart, off edges, ice and carbon."""
    d_px, margin = config.diameter_px, config.margin_px
    wanted = int(round(config.particles_per_micrograph * rng.uniform(0.9, 1.1)))
    accepted: list[tuple[float, float]] = []
    candidates = rng.uniform((margin, margin), (config.ny - margin, config.nx - margin),
                             size=(max(1000, 200 * wanted), 2))
    for y, x in candidates:
        if len(accepted) == wanted:
            break
        if accepted and np.min(np.hypot(*(np.asarray(accepted) - (y, x)).T)) < 1.1 * d_px:
            continue
        if np.any(np.hypot(contaminations[:, 0] - y, contaminations[:, 1] - x)
                  < (1 + 1.5 * contaminations[:, 6]) * contaminations[:, 2] + 0.6 * d_px):
            continue
        if carbon_mask is not None and carbon_mask[int(y), int(x)] > 1e-3:
            continue
        accepted.append((y, x))
    if len(accepted) < wanted:
        logger.warning("placed %d of %d particles: the micrograph is too crowded",
                       len(accepted), wanted)
    return np.asarray(accepted, dtype=float).reshape(-1, 2)


def _render_particles(blobs: Blobs, positions: np.ndarray, angles: np.ndarray, n: int,
                      pixel_size_a: float) -> np.ndarray:
    """Sum of analytic projections on an ``n × n`` canvas, each in its own window."""
    canvas = np.zeros((n, n), dtype=np.float32)
    half = int(math.ceil((blobs.radius_a + 3.0 * float(blobs.sigmas_a.max())) / pixel_size_a))
    for (y, x), view in zip(positions, angles, strict=True):
        iy, ix = int(round(y)), int(round(x))
        window = project_blobs(blobs, view, 2 * half, pixel_size_a, (y - iy, x - ix))
        y0, x0 = iy - half, ix - half
        # clip the window at the canvas edge (never needed with the default margins)
        sy, sx = max(0, -y0), max(0, -x0)
        ey, ex = min(2 * half, n - y0), min(2 * half, n - x0)
        canvas[y0 + sy:y0 + ey, x0 + sx:x0 + ex] += window[sy:ey, sx:ex]
    return canvas


def _apply_ctf(image: np.ndarray, ctf: CtfParams, pixel_size_a: float) -> np.ndarray:
    """Multiply a square image's transform by RELION's CTF (half-complex grid)."""
    bk = get_backend("numpy")
    n = image.shape[0]
    return inverse(forward(image) * ctf_2d(ctf, n, pixel_size_a, bk, full=False), (n, n))


def _ice_gradient(ny: int, nx: int, peak_to_peak: float, rng: np.random.Generator) -> np.ndarray:
    """Make a tilted plane plus one broad bump: thicker ice on one side (lower mean)."""
    direction = rng.uniform(0.0, 2.0 * math.pi)
    yy = np.linspace(-0.5, 0.5, ny, dtype=np.float32)
    xx = np.linspace(-0.5, 0.5, nx, dtype=np.float32)
    cy, cx = rng.uniform(-0.4, 0.4, 2)
    two_w2 = np.float32(2.0 * rng.uniform(0.2, 0.35) ** 2)
    # separable terms, so the full-size array is touched only three times
    bump_y = np.float32(-0.5 * peak_to_peak) * np.exp(-(yy - np.float32(cy)) ** 2 / two_w2)
    out = np.multiply.outer(bump_y, np.exp(-(xx - np.float32(cx)) ** 2 / two_w2))
    out += (np.float32(0.7 * peak_to_peak * math.sin(direction)) * yy)[:, None]
    out += np.float32(0.7 * peak_to_peak * math.cos(direction)) * xx
    return out


def _subtract_contaminations(image: np.ndarray, contaminations: np.ndarray) -> None:
    """Darken ``image`` in place by ice/ethane blobs: irregular soft discs, bright thin fringe."""
    ny, nx = image.shape
    for y, x, radius, depth, phase2, phase3, wobble in contaminations:
        reach = int(math.ceil(1.5 * radius))
        y0, y1 = max(0, int(y) - reach), min(ny, int(y) + reach)
        x0, x1 = max(0, int(x) - reach), min(nx, int(x) + reach)
        if y0 >= y1 or x0 >= x1:
            continue
        dy = np.arange(y0, y1, dtype=np.float32)[:, None] - np.float32(y)
        dx = np.arange(x0, x1, dtype=np.float32)[None, :] - np.float32(x)
        theta = np.arctan2(dy, dx)
        edge = radius * (1 + wobble * np.cos(2 * theta + phase2)
                         + 0.5 * wobble * np.cos(3 * theta + phase3))
        inside = np.hypot(dy, dx) - edge  # < 0 inside, in px
        width = max(2.0, 0.04 * radius)
        profile = depth / (1.0 + np.exp(np.clip(inside / width, -30, 30)))
        fringe = 0.3 * depth * np.exp(-((inside - 1.5 * width) / width) ** 2)
        image[y0:y1, x0:x1] -= (profile - fringe).astype(np.float32)


def _carbon_mask(ny: int, nx: int, rng: np.random.Generator) -> np.ndarray:
    """Soft mask (0..1) of a carbon film beyond a gently curved line across the micrograph."""
    angle = rng.uniform(0.0, 2.0 * math.pi)
    normal = np.array([math.sin(angle), math.cos(angle)], dtype=np.float32)
    # the line passes ~30% of the way in from one side, so carbon covers about a quarter
    centre = np.array([ny, nx], dtype=np.float32) * (0.5 + 0.22 * normal)
    yy = np.arange(ny, dtype=np.float32)[:, None] - centre[0]
    xx = np.arange(nx, dtype=np.float32)[None, :] - centre[1]
    along = -normal[1] * yy + normal[0] * xx
    curvature = np.float32(rng.uniform(-1.0, 1.0) * 0.3 / max(ny, nx))
    distance = normal[0] * yy + normal[1] * xx + curvature * along**2
    return (1.0 / (1.0 + np.exp(-np.clip(distance / 6.0, -30, 30)))).astype(np.float32)


def _carbon_film(mask: np.ndarray, ctf: CtfParams, pixel_size_a: float,
                 rng: np.random.Generator) -> np.ndarray:
    """Carbon: darker mean and CTF-modulated texture (Thon rings), inside ``mask``."""
    ny, nx = mask.shape
    n = _canvas_size(ny, nx)
    texture = np.zeros((n, n), dtype=np.float32)
    texture[:ny, :nx] = rng.standard_normal((ny, nx), dtype=np.float32) * mask
    texture = _apply_ctf(texture, ctf, pixel_size_a)[:ny, :nx]
    texture *= np.float32(0.8)
    return texture - np.float32(0.25) * mask


# --- the project -------------------------------------------------------------------------

def simulate_project(project_dir: str | os.PathLike[str], preset: str = "demo", *,
                     seed: int = 1, n_micrographs: int | None = None, nx: int | None = None,
                     ny: int | None = None, pixel_size_a: float | None = None,
                     particles_per_micrograph: int | None = None,
                     particle_diameter_a: float | None = None,
                     snr: float | None = None) -> Path:
    """Write a simulated RELION 3.1 project; options left ``None`` take the preset's values.

    Writes, under ``project_dir``: ``MotionCorr/job002/Movies/micNNN.mrc`` (float32),
    ``CtfFind/job003/micrographs_ctf.star`` (optics + micrographs with CTF; written last),
    ``Demo/truth/micNNN_truth.star`` (rlnCoordinateX/Y in 0-based pixels and the Euler angles
    of every particle) and ``Demo/density.mrc`` (the particle, voxel 4× the pixel size). The
    same arguments give byte-identical files. Micrograph i has its own random stream, so it
    does not depend on the number of micrographs, except that the middle one (index
    ``n_micrographs // 2``) has the carbon edge.

    Parameters
    ----------
    project_dir : path
        The project directory (created if needed).
    preset : {"demo", "tutorial"}
        Base configuration, see :data:`PRESETS`.
    seed : int
        Seed of the particle's shape and of every random choice.
    n_micrographs, nx, ny, pixel_size_a, particles_per_micrograph, particle_diameter_a, snr
        Overrides of the preset's :class:`SimulationConfig` fields.

    Returns
    -------
    Path of the micrograph STAR file.
    """
    overrides = {"n_micrographs": n_micrographs, "nx": nx, "ny": ny, "snr": snr,
                 "pixel_size_a": pixel_size_a, "particle_diameter_a": particle_diameter_a,
                 "particles_per_micrograph": particles_per_micrograph}
    config = _resolve_config(preset, overrides)
    if int(seed) != seed:
        raise ValueError(f"seed must be an integer, got {seed}")
    seed, project = int(seed), Path(project_dir)
    blobs = make_blobs(config.particle_diameter_a, seed)
    _write_density(project / DENSITY_MRC, config, seed)
    rows = [_write_micrograph(project, config, blobs, seed, index)
            for index in range(config.n_micrographs)]
    star = project / CTF_STAR
    write_star(star, {"optics": _optics_table(config), "micrographs": pd.DataFrame(rows)})
    logger.info("wrote %s (%d micrographs)", star, config.n_micrographs)
    return star


def _resolve_config(preset: str, overrides: dict[str, object]) -> SimulationConfig:
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    chosen = {name: value for name, value in overrides.items() if value is not None}
    return dataclasses.replace(PRESETS[preset], **chosen)


def _write_micrograph(project: Path, config: SimulationConfig, blobs: Blobs, seed: int,
                      index: int) -> dict[str, object]:
    """Simulate and write micrograph ``index`` and its truth; return its STAR row."""
    started = time.perf_counter()
    # one stream per micrograph, so that micrograph i is the same in any size of data set
    rng = np.random.default_rng([seed, 1, index])
    carbon = config.carbon_edge and index == config.n_micrographs // 2
    mic = simulate_micrograph(config, blobs, rng, carbon=carbon)
    stem = f"mic{index + 1:03d}"
    name = f"{MICROGRAPH_DIR}/{stem}.mrc"
    write_mrc(project / name, mic.image, config.pixel_size_a)
    _write_truth(project / TRUTH_DIR / f"{stem}_truth.star", mic)
    logger.info("simulated %s: %d particles%s (%.2f s)", name, len(mic.positions_px),
                ", carbon edge" if carbon else "", time.perf_counter() - started)
    return _micrograph_row(name, mic.ctf, rng)


def _write_density(path: Path, config: SimulationConfig, seed: int) -> None:
    voxel_a = 4.0 * config.pixel_size_a
    box = 2 * int(math.ceil(0.65 * config.particle_diameter_a / voxel_a))
    density = make_density(box, voxel_a, seed, config.particle_diameter_a)
    write_mrc(path, density, voxel_a)


def _write_truth(path: Path, mic: SimulatedMicrograph) -> None:
    y, x = mic.positions_px.T
    rot, tilt, psi = mic.angles_deg.T
    write_coordinates(path, pd.DataFrame({
        "rlnCoordinateX": x, "rlnCoordinateY": y,
        "rlnAngleRot": rot, "rlnAngleTilt": tilt, "rlnAnglePsi": psi}))


def _micrograph_row(name: str, ctf: CtfParams, rng: np.random.Generator) -> dict[str, object]:
    ctf_image = name.replace("MotionCorr/job002", "CtfFind/job003").replace(".mrc", ".ctf:mrc")
    return {"rlnMicrographName": name, "rlnOpticsGroup": 1, "rlnCtfImage": ctf_image,
            "rlnDefocusU": ctf.defocus_u_a, "rlnDefocusV": ctf.defocus_v_a,
            "rlnCtfAstigmatism": round(ctf.defocus_u_a - ctf.defocus_v_a, 2),
            "rlnDefocusAngle": ctf.defocus_angle_deg,
            "rlnCtfFigureOfMerit": round(rng.uniform(0.1, 0.3), 6),
            "rlnCtfMaxResolution": round(rng.uniform(3.0, 5.0), 6)}


def _optics_table(config: SimulationConfig) -> pd.DataFrame:
    return pd.DataFrame([{
        "rlnOpticsGroupName": "opticsGroup1", "rlnOpticsGroup": 1,
        "rlnMicrographOriginalPixelSize": config.pixel_size_a,
        "rlnVoltage": config.voltage_kv, "rlnSphericalAberration": config.cs_mm,
        "rlnAmplitudeContrast": config.amplitude_contrast,
        "rlnMicrographPixelSize": config.pixel_size_a}])
