"""Initial model of a 2D classification without references (relion-facts §4.2).

Every particle gets a random class and in-plane angle (seeded by the random seed and its
index, so the result does not depend on batches or MPI ranks); the CTF-weighted sums of each
class, rotated into place, give CTF-corrected averages of random subsets in random
orientations, low-passed to ``ini_high``. The initial noise spectrum of each group is its
particles' mean power spectrum minus that of the average image.
"""

from __future__ import annotations

import numpy as np

from cryopick.backend import Backend
from cryopick.classification.kernels import (
    abs2,
    coefficient_list,
    ctf_list,
    images_to_list,
    mask_images,
    scatter_rows,
    soft_edge,
    to_real_pairs,
)
from cryopick.classification.model import Model, ParticleState
from cryopick.classification.mstep import IterationSums, reconstruct_classes, reference_tau2
from cryopick.classification.parallel import Reducer
from cryopick.classification.params import Class2DParams
from cryopick.classification.particles import ImageSource, ParticleSet
from cryopick.classification.reconstruct import buckets_to_reference, padded_layout
from cryopick.classification.sampling import current_size, initial_highres_a
from cryopick.fourier import relion_round, relion_round_array

__all__ = ["initial_model", "initial_particle_state", "random_class_and_psi"]

# random angles are binned to 5° for the initial back-rotation: the initial references hold
# only shells below ROUND(0.07·n)/2, where a 2.5° error moves a point by < 4.4 % of its radius
_INIT_PSI_BINS = 72


def random_class_and_psi(seed: int, indices: np.ndarray, n_classes: int
                         ) -> tuple[np.ndarray, np.ndarray]:
    """Uniformly random class and ψ (degrees) per particle, from ``(seed, particle index)``."""
    classes = np.empty(len(indices), np.int64)
    psis = np.empty(len(indices))
    for j, index in enumerate(indices):
        rng = np.random.default_rng([max(seed, 0), int(index), 11])
        classes[j] = rng.integers(n_classes)
        psis[j] = rng.uniform(0.0, 360.0)
    return classes, psis


def initial_particle_state(particles: ParticleSet) -> ParticleState:
    """Per-particle start values: offsets and norm corrections from the input when present."""
    state = ParticleState.empty(particles.n)
    state.offset_px[:, 1] = particles.column("rlnOriginXAngst", 0.0) / particles.pixel_a
    state.offset_px[:, 0] = particles.column("rlnOriginYAngst", 0.0) / particles.pixel_a
    state.norm_correction = particles.column("rlnNormCorrection", 1.0)
    return state


def _batch_sums(particles: ParticleSet, source: ImageSource, params: Class2DParams,
                indices: np.ndarray, m_init: int, bk: Backend) -> dict[str, object]:
    """Average image, power per shell and the random-class buckets of one batch."""
    xp = bk.xp
    n = particles.box_px
    coeffs = coefficient_list(n)
    images = bk.asarray(source.read(indices))
    if params.zero_mask:
        edge = bk.asarray(soft_edge(n, params.particle_diameter_a / (2 * particles.pixel_a),
                                    params.mask_edge_px))
        background = xp.sum(images * edge, axis=(1, 2))[:, None, None] / xp.sum(edge)
        images = mask_images(images, edge, background)
    f = images_to_list(images, coeffs, len(coeffs.flat))
    onehot = np.zeros((len(coeffs.flat), coeffs.n_shells), np.float32)
    onehot[np.arange(len(coeffs.flat)), coeffs.shell] = 1.0 / coeffs.shell_counts[coeffs.shell]
    power = bk.to_numpy(xp.matmul(abs2(f), bk.asarray(onehot))).astype(np.float64)
    classes, psis = random_class_and_psi(params.random_seed, indices, params.n_classes)
    bins = relion_round_array(psis / (360.0 / _INIT_PSI_BINS)).astype(np.int64) % _INIT_PSI_BINS
    ctf = _ctf(particles, params, indices, m_init, bk)
    rows = xp.concat([to_real_pairs(ctf * f[:, :m_init]), ctf**2], axis=1)
    buckets = scatter_rows(bk.asarray(classes * _INIT_PSI_BINS + bins), rows,
                           params.n_classes * _INIT_PSI_BINS)
    return {"sum": bk.to_numpy(xp.sum(images, axis=0)).astype(np.float64), "power": power,
            "buckets": buckets, "classes": classes}


def _ctf(particles: ParticleSet, params: Class2DParams, indices: np.ndarray, m: int,
         bk: Backend):
    if not params.ctf:
        return bk.xp.ones((len(indices), m), dtype=bk.xp.float32,
                          **bk.device_kw)
    values = {key: v[indices] for key, v in particles.ctf.items()}
    return ctf_list(**values, coeffs=coefficient_list(particles.box_px), m=m,
                    pixel_a=particles.pixel_a, bk=bk,
                    intact_first_peak=params.ctf_intact_first_peak)


def _lowpass(refs: np.ndarray, radius_shells: float) -> np.ndarray:
    """Raised-cosine low-pass: keep r < ρ, zero r > ρ + 2, ``0.5 − 0.5·cos(π(ρ+2−r)/2)`` between."""
    n = refs.shape[-1]
    ky = np.fft.fftfreq(n, 1.0 / n)
    kx = np.arange(n // 2 + 1)
    r = np.sqrt(ky[:, None] ** 2 + kx[None, :] ** 2)
    outer = radius_shells + 2.0
    factor = np.where(r < radius_shells, 1.0,
                      np.where(r > outer, 0.0, 0.5 - 0.5 * np.cos(np.pi * (outer - r) / 2.0)))
    f = np.fft.rfft2(np.fft.ifftshift(refs, axes=(-2, -1))) * factor
    return np.fft.fftshift(np.fft.irfft2(f, s=(n, n)), axes=(-2, -1)).astype(np.float32)


def _initial_sigma2(power: np.ndarray, counts: np.ndarray, average: np.ndarray,
                    n: int) -> np.ndarray:
    """σ²_g(r) = mean particle power/2 − average-image power/2; negatives → previous positive."""
    coeffs = coefficient_list(n)
    f = np.fft.rfft2(np.fft.ifftshift(average)) / (n * n)
    avg_power = np.bincount(coeffs.shell, np.abs(f.ravel()[coeffs.flat]) ** 2,
                            minlength=coeffs.n_shells) / coeffs.shell_counts
    sigma2 = power / (2.0 * np.maximum(counts, 1)[:, None]) - avg_power[None, :] / 2.0
    for row in sigma2:
        positive = np.flatnonzero(row > 0)
        for r in range(len(row)):
            if row[r] <= 0:
                earlier = positive[positive < r]
                later = positive[positive > r]
                row[r] = row[earlier[-1]] if earlier.size else (row[later[0]] if later.size
                                                                 else 1e-6)
    return sigma2


def initial_model(particles: ParticleSet, source: ImageSource, params: Class2DParams,
                  batches: list[np.ndarray], reducer: Reducer, bk: Backend) -> Model:
    """Random initial references and initial noise spectra (iteration 0).

    ``batches`` are this rank's particle index batches; sums are reduced over ranks.
    """
    n, pixel, k = particles.box_px, particles.pixel_a, params.n_classes
    coeffs = coefficient_list(n)
    ini_high = initial_highres_a(n, pixel)
    # RELION sizes the initial back-projector by ini_high: ROUND(n·p/ini_high) = ROUND(0.07·n)
    # pixels (4 for a 64 px box), so the random-subset averages hold only |k| < 2 (relion
    # MlOptimiser::calculateSumOfPowerSpectraAndAverageImage, getPixelFromResolution(1/ini_high))
    init_size = min(n, relion_round(n * pixel / ini_high))
    m_init = coeffs.count(init_size)
    n_groups = len(particles.group_names)
    total = {"sum": np.zeros((n, n)), "power": np.zeros((n_groups, coeffs.n_shells)),
             "weight": np.zeros(k)}
    buckets = None
    for indices in batches:
        part = _batch_sums(particles, source, params, indices, m_init, bk)
        total["sum"] += part["sum"]
        np.add.at(total["power"], particles.group[indices], part["power"])
        total["weight"] += np.bincount(part["classes"], minlength=k)
        buckets = part["buckets"] if buckets is None else buckets + part["buckets"]
    psis = (np.arange(_INIT_PSI_BINS) * 360.0 / _INIT_PSI_BINS)
    if buckets is None:
        mp = padded_layout(n)[0].count(2 * init_size)
        num, den = np.zeros((k, mp), np.complex128), np.zeros((k, mp))
    else:
        num, den = buckets_to_reference(buckets, k, psis, n, init_size)
    total.update(num=num, den=den)
    total = reducer.sum(total)
    sums = IterationSums(total["num"], total["den"], total["weight"], np.zeros((k, 2)), 0.0,
                         np.zeros((n_groups, coeffs.n_shells)), np.zeros(n_groups),
                         np.zeros(n_groups), np.zeros(n_groups))
    refs = reconstruct_classes(sums, np.zeros((k, coeffs.n_shells)), params, coeffs,
                               init_size, regularise=False)
    refs = _lowpass(refs, n * pixel / ini_high - 1.0)
    counts = np.bincount(particles.group, minlength=n_groups).astype(np.float64)
    sigma2 = _initial_sigma2(total["power"], counts, total["sum"] / particles.n, n)
    return _model_zero(refs, sigma2, params, particles, ini_high, coeffs)


def _model_zero(refs: np.ndarray, sigma2: np.ndarray, params: Class2DParams,
                particles: ParticleSet, ini_high: float, coeffs) -> Model:
    n, pixel, k = particles.box_px, particles.pixel_a, params.n_classes
    tau2 = reference_tau2(refs, coeffs)
    mean_sigma2 = np.average(sigma2, axis=0,
                             weights=np.bincount(particles.group, minlength=len(sigma2)))
    ssnr = particles.n / k / np.maximum(mean_sigma2, 1e-30)[None, :] * params.tau2_fudge * tau2
    r0 = relion_round(n * pixel / ini_high)
    return Model(
        refs=refs, unmasked_refs=refs.copy(), pdf_class=np.full(k, 1.0 / k),
        prior_offset_px=np.zeros((k, 2)), sigma_offset_px=params.sigma_offset_a / pixel,
        sigma2=sigma2, scale=np.ones(len(sigma2)), avg_norm=1.0,
        current_size=current_size(r0, n, params.incr_size), resolution_shell=r0,
        tau2=params.tau2_fudge * tau2, ssnr=ssnr, ref_sigma2=np.zeros_like(tau2),
        completeness=np.zeros_like(tau2), resolution_a=np.full(k, ini_high), iteration=0)
