"""How well class averages recover known shapes: rotation/shift-invariant NCC and purity.

Used by the tests and the benchmark on synthetic data (:mod:`.synthetic`), where the true
shapes and labels are known.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy import ndimage

__all__ = ["ClassQuality", "best_ncc", "class_quality", "purity"]


def _normalised(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    values = np.where(mask, image - image[mask].mean(), 0.0)
    norm = np.sqrt((values**2).sum())
    return values / norm if norm > 0 else values


def best_ncc(average: np.ndarray, shape: np.ndarray, radius_px: float, step_deg: float = 3.0,
             max_shift_px: int = 4) -> float:
    """Best normalised cross-correlation over in-plane rotations and shifts within a disc.

    ``average`` and ``shape`` are ``(n, n)``; the correlation is computed inside a disc of
    ``radius_px`` around the centre, shifts up to ``max_shift_px`` (circular, via FFT).
    """
    n = average.shape[0]
    yy, xx = np.mgrid[:n, :n] - n // 2
    mask = yy**2 + xx**2 <= radius_px**2
    a = _normalised(average.astype(np.float64), mask)
    fa = np.conj(np.fft.rfft2(a))
    best = -1.0
    for psi in np.arange(0.0, 360.0, step_deg):
        rotated = ndimage.rotate(shape.astype(np.float64), psi, reshape=False, order=1)
        b = _normalised(rotated, mask)
        cc = np.fft.irfft2(np.fft.rfft2(b) * fa, s=(n, n))
        near = np.roll(np.roll(cc, max_shift_px, 0), max_shift_px, 1)[
            : 2 * max_shift_px + 1, : 2 * max_shift_px + 1]
        best = max(best, float(near.max()))
    return best


@dataclasses.dataclass(frozen=True)
class ClassQuality:
    """NCC of each class with each true shape, and the summary figures."""

    ncc: np.ndarray  # (K, n_shapes)
    distribution: np.ndarray  # (K,)

    @property
    def per_shape(self) -> np.ndarray:
        """For each true shape, the best NCC of any class (with ≥ 1 % of the particles)."""
        used = self.distribution >= 0.01
        return self.ncc[used].max(axis=0) if used.any() else np.zeros(self.ncc.shape[1])

    @property
    def weighted_mean(self) -> float:
        """Mean over classes of their best NCC with any shape, weighted by class distribution."""
        return float(np.sum(self.ncc.max(axis=1) * self.distribution)
                     / max(self.distribution.sum(), 1e-12))


def class_quality(averages: np.ndarray, distribution: np.ndarray, shapes: np.ndarray,
                  radius_px: float) -> ClassQuality:
    """NCC of every class average ``(K, n, n)`` with every true shape ``(S, n, n)``."""
    ncc = np.array([[best_ncc(a, s, radius_px) for s in shapes] for a in averages])
    return ClassQuality(ncc, np.asarray(distribution, np.float64))


def purity(assigned: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of particles in their class's majority true label (``Σ_k max_l count / N``)."""
    total = 0
    for k in np.unique(assigned):
        total += np.bincount(labels[assigned == k]).max()
    return total / len(labels)
