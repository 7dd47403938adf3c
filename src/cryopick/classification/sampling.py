"""Sampling of the hidden variables (in-plane angle, translation) and the image-size schedule.

RELION's 2D sampling (relion-facts §4.5, §4.10, §4.13): ``n_ψ = CEIL(360/step)`` coarse
angles, a disc of coarse translations, adaptive oversampling (order 1: each coarse sample has
2 ψ × 2×2 translation children at ±step/4), a random perturbation of the whole grid that
changes every iteration, and the image sizes used by the two passes of the E-step.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from cryopick.fourier import relion_round

__all__ = [
    "Sampling",
    "coarse_size",
    "current_size",
    "initial_highres_a",
    "make_sampling",
    "next_perturbation",
    "subset_size",
]


@dataclasses.dataclass(frozen=True)
class Sampling:
    """The ψ and translation grids of one iteration (degrees, pixels as (y, x)).

    Fine sample ``(ψ_f, t_f)`` of coarse ``(ψ_c, t_c)`` has ``ψ_f = ψ_c·n_psi_child + a`` and
    ``t_f = t_c·n_trans_child + b`` (``a < n_psi_child``, ``b < n_trans_child``).
    """

    psi_coarse_deg: np.ndarray  # (Ψc,)
    psi_fine_deg: np.ndarray  # (Ψc·n_psi_child,)
    trans_coarse_px: np.ndarray  # (Tc, 2)
    trans_fine_px: np.ndarray  # (Tc·n_trans_child, 2)
    n_psi_child: int
    n_trans_child: int
    psi_step_deg: float  # coarse step actually used (360/n_ψ)
    offset_step_px: float


def psi_grid(step_deg: float) -> tuple[int, float]:
    """Number of coarse ψ samples ``CEIL(360/step)`` and the step actually used."""
    count = max(1, math.ceil(360.0 / step_deg - 1e-9))
    return count, 360.0 / count


def translation_grid(range_px: float, step_px: float) -> np.ndarray:
    """``(T, 2)`` (y, x) points ``(iy, ix)·step`` with ``|i| ≤ CEIL(range/step)`` inside the disc."""
    if range_px <= 0 or step_px <= 0:
        return np.zeros((1, 2))
    m = math.ceil(range_px / step_px - 1e-9)
    points = [(iy * step_px, ix * step_px) for iy in range(-m, m + 1) for ix in range(-m, m + 1)
              if (ix * step_px) ** 2 + (iy * step_px) ** 2 <= range_px**2 + 0.001]
    return np.asarray(points, dtype=np.float64)


def make_sampling(psi_step_deg: float, offset_range_px: float, offset_step_px: float,
                  oversampling: int, perturb: float) -> Sampling:
    """The coarse and fine grids of an iteration, shifted by ``perturb`` (RELION's ρ) steps.

    With ``oversampling = 1`` the children are ``ψ ± step/4`` and ``t ± step/4`` per axis;
    oversampled ψ above 180° are wrapped to ψ − 360 before the perturbation is added.
    """
    n_psi, step = psi_grid(psi_step_deg)
    psi_c = np.arange(n_psi) * step
    trans_c = translation_grid(offset_range_px, offset_step_px)
    if oversampling == 0:
        psi_f, trans_f, n_pc, n_tc = psi_c.copy(), trans_c.copy(), 1, 1
    else:
        psi_f = (psi_c[:, None] + np.array([-step / 4, step / 4])[None, :]).ravel()
        quarter = offset_step_px / 4 if offset_range_px > 0 else 0.0
        corners = np.array([[-1, -1], [-1, 1], [1, -1], [1, 1]], np.float64) * quarter
        trans_f = (trans_c[:, None, :] + corners[None, :, :]).reshape(-1, 2)
        n_pc, n_tc = 2, 4
    psi_f = np.where(psi_f > 180.0, psi_f - 360.0, psi_f)
    psi_c = np.where(psi_c > 180.0, psi_c - 360.0, psi_c)
    dpsi, dt = perturb * step, perturb * offset_step_px
    return Sampling(psi_c + dpsi, psi_f + dpsi, trans_c + dt, trans_f + dt, n_pc, n_tc, step,
                    offset_step_px)


def next_perturbation(previous: float, factor: float, seed: int, iteration: int) -> float:
    """RELION's ρ update: ``ρ += U(0.5f, f)``, wrapped into ``[−f, f]`` (seeded by seed + iter)."""
    if factor <= 0:
        return 0.0
    rng = np.random.default_rng([max(seed, 0), iteration, 7])
    value = previous + rng.uniform(0.5 * factor, factor)
    if value > factor:
        value -= 2.0 * factor
    return float(value)


def initial_highres_a(box_px: int, pixel_a: float) -> float:
    """``ini_high = n·p / ROUND(0.07·n)`` Å: the resolution of the initial references."""
    return box_px * pixel_a / max(1, relion_round(0.07 * box_px))


def current_size(resolution_shell: int, box_px: int, incr_size: int) -> int:
    """``min(n, 2·(r_c + incr_size))``: the image size of the next E-step and M-step."""
    return int(min(box_px, 2 * (resolution_shell + incr_size)))


def coarse_size(current: int, box_px: int, pixel_a: float, psi_step_deg: float,
                diameter_a: float, strict_highres_a: float) -> int:
    """Image size of the coarse pass (``--strict_highres_exp`` limits both passes).

    ``2·CEIL(n·p / (π·diameter·step/360 / 1.5))``, at most ``current``.
    """
    if strict_highres_a > 0:
        return int(min(current, 2 * relion_round(box_px * pixel_a / strict_highres_a)))
    distance_a = psi_step_deg / 360.0 * math.pi * diameter_a
    resolution_a = distance_a / 1.5
    return int(min(current, 2 * math.ceil(box_px * pixel_a / resolution_a)))


def subset_size(iteration: int, n_classes: int, n_particles: int, fast_subsets: bool) -> int:
    """Particles used in ``iteration`` (``--fast_subsets``: 100K, 300K, max(300K, 0.3N), all)."""
    if not fast_subsets:
        return n_particles
    if iteration <= 5:
        size = 100 * n_classes
    elif iteration <= 10:
        size = 300 * n_classes
    elif iteration <= 15:
        size = max(300 * n_classes, int(0.3 * n_particles))
    else:
        size = n_particles
    return min(size, n_particles)
