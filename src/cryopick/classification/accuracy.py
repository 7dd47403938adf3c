"""RELION's estimate of how accurately particles align to each class (relion-facts §4.12).

``rlnAccuracyRotations`` and ``rlnAccuracyTranslationsAngst`` come from a sample of particles
(the first ten of the iteration's processing order): for each class, the projection of the
class at a particle's current ψ is compared with the projection at ψ + δ, and separately
with itself shifted by δ pixels along x or y; δ grows on a fixed schedule until the
difference, CTF-modulated and weighed by the particle group's noise power, reaches
ln(100) (a likelihood ratio of 1 : 100). The class's accuracy is the mean δ over the sample.
Classes holding under 1 % of the particles get 999, as in RELION.

The sample and the x-or-y choice follow RELION's C library random numbers (glibc ``rand``
seeded with ``srand``), which this module reproduces, so the same run gives the same sample.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np

from cryopick.backend import Backend
from cryopick.classification.kernels import (
    CoefficientList,
    ctf_list,
    projection_table,
    rotated_projections,
)
from cryopick.classification.sampling import subset_size

__all__ = ["N_TRIALS", "class_accuracies", "glibc_rand", "particle_order", "rotation_errors",
           "translation_errors", "x_not_y"]

N_TRIALS = 10
LOG_P = 4.60517  # −ln(0.01)
EMPTY = 999.0


def glibc_rand(seed: int) -> Iterator[int]:
    """The numbers glibc's ``rand()`` returns after ``srand(seed)`` (its additive generator)."""
    word = seed & 0xFFFFFFFF
    word = word - 2**32 if word >= 2**31 else word
    word = word or 1
    state = [word]
    for _ in range(30):  # a Lehmer sequence (×16807 mod 2³¹−1) in signed 32-bit arithmetic
        hi, lo = int(word / 127773), word - int(word / 127773) * 127773
        word = 16807 * lo - 2836 * hi
        if word < 0:
            word += 2147483647
        state.append(word)
    state += state[:3]
    for i in range(34, 344):
        state.append((state[i - 31] + state[i - 3]) & 0xFFFFFFFF)
    ring, i = state[-34:], 0  # r[i] = r[i−31] + r[i−3] (mod 2³²), returned as r[i] >> 1
    while True:
        value = (ring[(i + 3) % 34] + ring[(i + 31) % 34]) & 0xFFFFFFFF
        ring[i] = value
        i = (i + 1) % 34
        yield value >> 1


def _shuffle(order: list[int], seed: int) -> list[int]:
    """libstdc++'s ``std::random_shuffle`` after ``srand(seed)``: swap i with rand() % (i+1)."""
    rand = glibc_rand(seed)
    order = list(order)
    for i in range(1, len(order)):
        j = next(rand) % (i + 1)
        order[i], order[j] = order[j], order[i]
    return order


def particle_order(n: int, seed: int, iteration: int, n_classes: int, fast_subsets: bool,
                   optics_group: np.ndarray | None = None, first_iteration: int = 1
                   ) -> np.ndarray:
    """RELION's particle processing order in ``iteration``.

    RELION shuffles the order (libstdc++ ``random_shuffle`` after ``srand(seed + iter)``) in
    the first iteration a process runs and again in every iteration that uses a subset,
    each time from the order before, then sorts it stably by optics group. A classification
    here behaves as one uninterrupted RELION process (``first_iteration`` 1), so resuming it
    changes nothing; a continued relion_refine starts a new process (``first_iteration`` =
    the continued iteration + 1). A seed ≤ 0 keeps the file order (RELION skips the shuffle).
    """
    order = list(range(n))
    if seed <= 0:
        return np.asarray(order)
    for it in range(first_iteration, iteration + 1):
        if it == first_iteration or subset_size(it, n_classes, n, fast_subsets) < n:
            order = _shuffle(order, seed + it)
            if optics_group is not None:
                order = sorted(order, key=lambda i: optics_group[i])
    return np.asarray(order)


def x_not_y(seed: int, image_id: int) -> bool:
    """RELION's choice of shifting along x (else y): ``rnd_unif() < 0.5`` after its srand."""
    value = next(glibc_rand(seed + image_id))
    return bool(np.float32(value) / np.float32(2147483647) < np.float32(0.5))


def _schedule(steps: list[tuple[float, float]], limit: float) -> list[float]:
    """Errors tried in turn: each adds the step of the first bound it is below; the first
    value past ``limit`` ends the search (and is the result if reached)."""
    values, error = [], 0.0
    while error <= limit:
        error += next(step for bound, step in steps if error < bound)
        values.append(error)
    return values


ANGLES = _schedule([(0.2, 0.05), (1.0, 0.1), (2.0, 0.2), (5.0, 0.5), (10.0, 1.0), (20.0, 2.0),
                    (math.inf, 5.0)], 30.0)
SHIFTS = _schedule([(1.0, 0.1), (2.0, 0.2), (5.0, 0.5), (10.0, 1.0), (math.inf, 2.0)], 10.0)


def _first_past(snr: np.ndarray, values: list[float]) -> np.ndarray:
    """Per row of ``snr`` (…, len(values)−1): the first value whose SNR exceeds ln(100)."""
    past = snr > LOG_P
    found = past.any(axis=-1)
    index = np.where(found, np.argmax(past, axis=-1), len(values) - 1)
    return np.asarray(values)[index]


def _weights(ctf: np.ndarray | None, sigma2: np.ndarray, coeffs: CoefficientList, m: int,
             size: int) -> np.ndarray:
    """``(m,)`` CTF²/(2σ²) per coefficient of the window; 0 at the origin and where RELION's
    projector leaves the point empty (beyond radius size/2, inside shell size/2)."""
    kx, ky = coeffs.kx[:m], coeffs.ky[:m]
    inside = (kx * kx + ky * ky <= (size // 2) ** 2) & (np.arange(m) > 0)
    ctf2 = 1.0 if ctf is None else np.asarray(ctf, np.float64) ** 2
    return np.where(inside, ctf2 / (2.0 * sigma2[coeffs.shell[:m]]), 0.0)


def _limited_table(refs: np.ndarray, size: int, bk: Backend):
    """The projection table of ``refs`` holding only radii ≤ size/2 (2×-padded units: ≤ size),
    as RELION's projector for an E-step at ``size``."""
    table = projection_table(bk.asarray(refs.astype(np.float32)))
    n2 = table.shape[-1]
    k = np.fft.fftfreq(n2, 1.0 / n2)
    keep = (k[:, None] ** 2 + k[None, :] ** 2) <= size * size
    return table * bk.asarray(keep.astype(np.float32))


def rotation_errors(table, psi_deg: float, weights, coeffs: CoefficientList, m: int,
                    bk: Backend) -> np.ndarray:
    """``(K,)`` the angular error (degrees) at which each class's projection at ψ differs
    from the one at ψ + error by ln(100) (RELION's schedule of errors, at most 30.1)."""
    xp = bk.xp
    psis = psi_deg + np.asarray([0.0] + ANGLES[:-1])
    proj = rotated_projections(table, psis, coeffs, m)  # (K, 1+E, m)
    diff = proj[:, 1:, :] - proj[:, :1, :]
    power = xp.real(diff) ** 2 + xp.imag(diff) ** 2
    snr = xp.sum(xp.astype(power, xp.float64) * weights, axis=-1)
    return _first_past(bk.to_numpy(snr), ANGLES)


def translation_errors(proj, weights, coeffs: CoefficientList, m: int, along_x: bool,
                       bk: Backend) -> np.ndarray:
    """``(K,)`` the shift (pixels) along x or y at which each class's projection ``proj``
    ``(K, m)`` differs from itself shifted by ln(100) (at most 10.1)."""
    xp = bk.xp
    k_axis = (coeffs.kx if along_x else coeffs.ky)[:m]
    shifts = np.asarray(SHIFTS[:-1])
    phase = 2.0 * np.pi * shifts[:, None] * k_axis[None, :] / coeffs.n
    factor = bk.asarray(2.0 * (1.0 - np.cos(phase)), dtype=xp.float64)  # |1 − e^{iθ}|²
    power = xp.astype(xp.real(proj) ** 2 + xp.imag(proj) ** 2, xp.float64) * weights
    snr = xp.matmul(power, xp.permute_dims(factor, (1, 0)))  # (K, E)
    return _first_past(bk.to_numpy(snr), SHIFTS)


def class_accuracies(refs: np.ndarray, pdf_class: np.ndarray, sigma2: np.ndarray,
                     sample: np.ndarray, psi_deg: np.ndarray, group: np.ndarray,
                     ctf: dict[str, np.ndarray] | None, coeffs: CoefficientList, size: int,
                     pixel_a: float, seed: int, bk: Backend,
                     intact_first_peak: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Per class: ``(accuracy of ψ in degrees, accuracy of offsets in Å)``.

    ``refs`` (K, n, n) are the references the E-step aligns to, ``sigma2`` (G, n//2+1) the
    noise power they are aligned with, ``sample`` the particle indices to use (RELION: the
    first ten of the processing order, :func:`particle_order`), ``psi_deg``/``group`` per
    particle, ``ctf`` the particles' CTF parameters (None: no CTF) and ``size`` the image
    size of the E-step.
    """
    m = coeffs.count_window(size)
    table = _limited_table(refs, size, bk)
    rot = np.zeros(len(refs))
    trans = np.zeros(len(refs))
    for i in sample:
        ctf_row = None if ctf is None else bk.to_numpy(ctf_list(
            **{key: value[[i]] for key, value in ctf.items()}, coeffs=coeffs, m=m,
            pixel_a=pixel_a, bk=bk, intact_first_peak=intact_first_peak))[0]
        weights = bk.asarray(_weights(ctf_row, sigma2[group[i]], coeffs, m, size),
                             dtype=bk.xp.float64)
        rot += rotation_errors(table, float(psi_deg[i]), weights, coeffs, m, bk)
        proj = rotated_projections(table, np.asarray([float(psi_deg[i])]), coeffs, m)[:, 0, :]
        along_x = x_not_y(seed, int(i))
        trans += translation_errors(proj, weights, coeffs, m, along_x, bk) * pixel_a
    empty = np.asarray(pdf_class) < 0.01
    count = max(len(sample), 1)
    return np.where(empty, EMPTY, rot / count), np.where(empty, EMPTY, trans / count)
