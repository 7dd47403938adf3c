"""One simulated micrograph: CTF-filtered particles, noise, ice, contamination, carbon, truth.

A micrograph is the projections of randomly placed, randomly oriented particles, multiplied by
a per-micrograph CTF in Fourier space (RELION's sign: particles come out dark; or its modulus
for phase-flipped images, or none), white noise at a low per-pixel SNR, a smooth ice-thickness
gradient, dark contamination blobs and specks and, on some micrographs, a carbon edge. Options
of :class:`~cryopick.simulate.config.SimulationConfig` beyond the demo's (a second species,
crowding, empty-ice areas) draw random numbers only when set, so the demo stays the same.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Sequence

import numpy as np
import scipy.fft
from scipy import ndimage

from cryopick.backend import get_backend
from cryopick.ctf import ctf_2d
from cryopick.fourier import forward, inverse
from cryopick.io.star import CtfParams
from cryopick.simulate.config import SimulationConfig
from cryopick.simulate.junk import CarbonEdge, carbon_mask, contamination_profile
from cryopick.simulate.particles import Blobs, project_blobs

__all__ = ["SimulatedMicrograph", "simulate_micrograph"]

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class SimulatedMicrograph:
    """A simulated micrograph, its CTF, its particles (truth) and where its junk lies."""

    image: np.ndarray          # (ny, nx) float32
    ctf: CtfParams
    positions_px: np.ndarray   # (n, 2) particle centres as (y, x), 0-based pixels
    angles_deg: np.ndarray     # (n, 3) rot, tilt, psi
    species: np.ndarray | None = None        # (n,) 0-based species of each particle
    contaminations: np.ndarray | None = None  # (k, 7): y, x, radius, depth, phases, wobble
    n_large: int = 0                          # the first n_large rows are large blobs
    carbon: CarbonEdge | None = None
    empty: np.ndarray | None = None           # (ny, nx) bool: empty-ice areas, if any


def simulate_micrograph(config: SimulationConfig, blobs: Blobs | Sequence[Blobs],
                        rng: np.random.Generator, carbon: bool = False) -> SimulatedMicrograph:
    """Simulate one micrograph (see the module docstring for what it contains).

    The particles are filtered by the CTF on a square, FFT-friendly canvas (one forward and
    one inverse transform) that is then cropped to ``(ny, nx)``. The noise has std 1; the
    particles are scaled to ``config.snr`` (mean signal power over their discs / noise power).

    Parameters
    ----------
    config : SimulationConfig
        Sizes, particle count, SNR, contamination and CTF ranges.
    blobs : Blobs or sequence of Blobs
        The particle (:func:`~cryopick.simulate.particles.make_blobs`); one per species when
        ``config.second_species`` is set.
    rng : numpy.random.Generator
        Source of every random choice (consumed).
    carbon : bool
        Add a carbon film beyond a gently curved edge (no particles on it).

    Returns
    -------
    SimulatedMicrograph with a ``(ny, nx)`` float32 image, its CTF and the truth.
    """
    species_blobs = [blobs] if isinstance(blobs, Blobs) else list(blobs)
    if len(species_blobs) != len(config.diameters_a):
        raise ValueError(f"need {len(config.diameters_a)} particle models, got {len(species_blobs)}")
    ny, nx = config.ny, config.nx
    ctf = _random_ctf(config, rng)
    contaminations, n_large = _random_contaminations(config, rng)
    edge = CarbonEdge.random(rng) if carbon else None
    carbon_soft = carbon_mask(ny, nx, edge) if edge is not None else None
    empty = _empty_areas(config, rng) if config.empty_fraction > 0 else None
    positions, species = _place_particles(config, rng, contaminations, carbon_soft, empty)
    angles = _random_angles(rng, len(positions))
    n = _canvas_size(ny, nx)
    particles = _render_particles(species_blobs, species, positions, angles, n,
                                  config.pixel_size_a)
    filtered = _apply_ctf(particles, ctf, config.pixel_size_a, config.ctf_mode)[:ny, :nx]
    # scale so that the mean signal power over the particle discs is snr × noise power (1)
    disc_area = _disc_area(config, species)
    power = float(np.einsum("ij,ij->", filtered, filtered)) / max(disc_area, 1.0)
    scale = math.sqrt(config.snr / power) if power > 0 else 0.0
    # RELION's CTF is positive at low frequency: subtracting makes the particles dark
    image = _ice_gradient(ny, nx, config.ice_gradient, rng)
    image -= np.float32(scale) * filtered
    _subtract_contaminations(image, contaminations)
    if carbon_soft is not None:
        image += _carbon_film(carbon_soft, ctf, config, rng)
    image += rng.standard_normal((ny, nx), dtype=np.float32)
    return SimulatedMicrograph(image.astype(np.float32), ctf, positions, angles,
                               species=species, contaminations=contaminations,
                               n_large=n_large, carbon=edge, empty=empty)


def _disc_area(config: SimulationConfig, species: np.ndarray) -> float:
    """Summed area (px²) of the particles' discs."""
    if config.second_species is None:
        return len(species) * math.pi * (config.diameter_px / 2.0) ** 2
    radii_px = np.asarray(config.diameters_a)[species] / config.pixel_size_a / 2.0
    return float(np.sum(math.pi * radii_px**2))


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


def _random_contaminations(config: SimulationConfig,
                           rng: np.random.Generator) -> tuple[np.ndarray, int]:
    """(k, 7) rows: y, x, radius (px), depth, 2 shape phases and the wobble of each blob.

    Large ice/ethane blobs first (their count is returned too), then small specks (ice
    crystals, aggregates).
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
    return np.concatenate(rows), len(rows[0])


def _empty_areas(config: SimulationConfig, rng: np.random.Generator) -> np.ndarray:
    """Boolean (ny, nx) mask of irregular empty-ice patches covering ``empty_fraction``."""
    coarse = rng.standard_normal((6, 6))
    field = ndimage.zoom(coarse, (config.ny / 6.0, config.nx / 6.0), order=3, mode="nearest")
    field = field[:config.ny, :config.nx]
    return field < np.quantile(field, config.empty_fraction)


def _place_particles(config: SimulationConfig, rng: np.random.Generator,
                     contaminations: np.ndarray, carbon_soft: np.ndarray | None,
                     empty: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Random non-overlapping centres (y, x) off edges, junk, carbon and empty ice; species.

    Two centres are at least ``min_separation`` × the mean diameter of the pair apart.
    """
    margin = config.margin_px
    d_px = np.asarray(config.diameters_a) / config.pixel_size_a
    wanted = int(round(config.particles_per_micrograph * rng.uniform(0.9, 1.1)))
    candidates = rng.uniform((margin, margin), (config.ny - margin, config.nx - margin),
                             size=(max(1000, 200 * wanted), 2))
    kinds = np.zeros(len(candidates), dtype=np.int64)
    if config.second_species is not None:
        kinds = (rng.uniform(size=len(candidates)) < config.second_species.fraction).astype(int)
    accepted: list[tuple[float, float]] = []
    accepted_d: list[float] = []
    accepted_kind: list[int] = []
    for (y, x), kind in zip(candidates, kinds, strict=True):
        if len(accepted) == wanted:
            break
        d = d_px[kind]
        if accepted and np.min(np.hypot(*(np.asarray(accepted) - (y, x)).T)
                               - config.min_separation * 0.5 * (np.asarray(accepted_d) + d)) < 0:
            continue
        if np.any(np.hypot(contaminations[:, 0] - y, contaminations[:, 1] - x)
                  < (1 + 1.5 * contaminations[:, 6]) * contaminations[:, 2] + 0.6 * d):
            continue
        if carbon_soft is not None and carbon_soft[int(y), int(x)] > 1e-3:
            continue
        if empty is not None and empty[int(y), int(x)]:
            continue
        accepted.append((y, x))
        accepted_d.append(d)
        accepted_kind.append(int(kind))
    if len(accepted) < wanted:
        logger.warning("placed %d of %d particles: the micrograph is too crowded",
                       len(accepted), wanted)
    return (np.asarray(accepted, dtype=float).reshape(-1, 2),
            np.asarray(accepted_kind, dtype=np.int64))


def _render_particles(blobs: list[Blobs], species: np.ndarray, positions: np.ndarray,
                      angles: np.ndarray, n: int, pixel_size_a: float) -> np.ndarray:
    """Sum of analytic projections on an ``n × n`` canvas, each in its own window."""
    canvas = np.zeros((n, n), dtype=np.float32)
    for kind, model in enumerate(blobs):
        half = int(math.ceil((model.radius_a + 3.0 * float(model.sigmas_a.max())) / pixel_size_a))
        chosen = species == kind
        for (y, x), view in zip(positions[chosen], angles[chosen], strict=True):
            iy, ix = int(round(y)), int(round(x))
            window = project_blobs(model, view, 2 * half, pixel_size_a, (y - iy, x - ix))
            y0, x0 = iy - half, ix - half
            # clip the window at the canvas edge (never needed with the default margins)
            sy, sx = max(0, -y0), max(0, -x0)
            ey, ex = min(2 * half, n - y0), min(2 * half, n - x0)
            canvas[y0 + sy:y0 + ey, x0 + sx:x0 + ex] += window[sy:ey, sx:ex]
    return canvas


def _apply_ctf(image: np.ndarray, ctf: CtfParams, pixel_size_a: float,
               mode: str = "applied") -> np.ndarray:
    """Multiply a square image's transform by RELION's CTF, its modulus, or nothing."""
    if mode == "none":
        return image
    bk = get_backend("numpy")
    n = image.shape[0]
    transfer = ctf_2d(ctf, n, pixel_size_a, bk, full=False)
    if mode == "flipped":
        transfer = np.abs(transfer)
    return inverse(forward(image) * transfer, (n, n))


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
    for row in contaminations:
        window = contamination_profile(row, ny, nx)
        if window is not None:
            (y0, y1, x0, x1), profile = window
            image[y0:y1, x0:x1] -= profile


def _carbon_film(mask: np.ndarray, ctf: CtfParams, config: SimulationConfig,
                 rng: np.random.Generator) -> np.ndarray:
    """Carbon: darker mean and CTF-modulated texture (Thon rings), inside ``mask``."""
    ny, nx = mask.shape
    n = _canvas_size(ny, nx)
    texture = np.zeros((n, n), dtype=np.float32)
    texture[:ny, :nx] = rng.standard_normal((ny, nx), dtype=np.float32) * mask
    texture = _apply_ctf(texture, ctf, config.pixel_size_a, config.ctf_mode)[:ny, :nx]
    texture *= np.float32(0.8)
    return texture - np.float32(0.25) * mask
