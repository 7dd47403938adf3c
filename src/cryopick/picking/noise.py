"""Local background statistics under a ring mask (RELION's stddev/avg noise maps).

For every position, the mean and standard deviation of the normalised micrograph over the
pixels of a particle box that lie outside the particle circle (Roseman-style local
normalisation). Computed by FFT correlation on the Fourier-cropped grid, so the maps come
out at the working size and line up with the picking maps.
"""

from __future__ import annotations

import functools

import numpy as np

from cryopick.backend import Array, backend_of
from cryopick.fourier import forward_cropped, fourier_window, forward, inverse

__all__ = ["background_ring_mask", "background_stats_from_transforms", "local_background_stats",
           "outlier_limits", "prepare_ring_mask"]


def background_ring_mask(n: int, box_px: int, radius2_px: float) -> np.ndarray:
    """``(n, n)`` float32 mask, wrapped around the origin: pixels of a ``box_px`` box with
    ``i² + j² ≥ radius2_px`` (logical indices ``-box/2 … box/2-1``), i.e. the background ring.
    """
    if box_px > n:
        raise ValueError(f"particle box {box_px} px is larger than the micrograph ({n} px)")
    logical = np.arange(box_px) - box_px // 2
    ring = (logical[:, None] ** 2 + logical[None, :] ** 2) >= radius2_px
    mask = np.zeros((n, n), np.float32)
    rows = logical % n
    mask[np.ix_(rows, rows)] = ring
    return mask


@functools.lru_cache(maxsize=4)
def _mask_transform(n: int, w: int, box_px: int, radius2_px: float) -> tuple[np.ndarray, int]:
    """Cropped transform of the ring mask and its pixel count (host; cached per run)."""
    mask = background_ring_mask(n, box_px, radius2_px)
    f = forward_cropped(mask, w) if w < n else fourier_window(forward(mask), n, w)
    return np.asarray(f), int(mask.sum())


def prepare_ring_mask(n: int, w: int, box_px: int, radius2_px: float) -> None:
    """Transform the ring mask now (cached for this process and the workers it forks)."""
    _mask_transform(n, w, box_px, float(radius2_px))


def local_background_stats(square: Array, f_square: Array, w: int, box_px: int,
                           radius2_px: float) -> tuple[Array, Array]:
    """Local background mean and std maps ``(w, w)`` of a normalised ``(n, n)`` micrograph.

    ``f_square`` is the micrograph's transform already cropped to ``w`` (as computed for
    picking, see :func:`cryopick.fourier.forward_cropped`). The value at working pixel ``q``
    refers to micrograph pixel ``q / (w/n)``. Where the variance is ≤ 1e-10 the std is 1.
    """
    n = square.shape[-1]
    f_sq2 = forward_cropped(square * square, w) if w < n else \
        fourier_window(forward(square * square), n, w)
    return background_stats_from_transforms(f_square, f_sq2, n, w, box_px, radius2_px)


def background_stats_from_transforms(f_square: Array, f_square2: Array, n: int, w: int,
                                     box_px: int, radius2_px: float) -> tuple[Array, Array]:
    """:func:`local_background_stats` from the cropped transforms of the ``n × n``
    micrograph (``f_square``) and of its square (``f_square2``), both cropped to ``w``."""
    bk = backend_of(f_square)
    xp = bk.xp
    f_mask_h, n_bg = _mask_transform(n, w, box_px, float(radius2_px))
    f_mask = xp.conj(bk.asarray(f_mask_h))
    norm = float(n) * float(n) / n_bg
    mean = inverse(f_square * f_mask, (w, w)) * norm
    mean_sq = inverse(f_square2 * f_mask, (w, w)) * norm
    var = mean_sq - mean * mean
    one = xp.ones((), dtype=var.dtype, **bk.device_kw)
    std = xp.where(var > 1e-10, xp.sqrt(xp.where(var > 1e-10, var, one)), one)
    return xp.astype(mean, xp.float32), xp.astype(std, xp.float32)


def outlier_limits(stddev: np.ndarray, avg: np.ndarray, mads: float, max_stddev: float,
                   min_avg: float) -> tuple[float, float]:
    """``(max_stddev, min_avg)`` tightened to the micrograph's own background: a std more
    than ``mads`` MADs above its median, or a mean more than ``mads`` MADs below it, is an
    outlier (contamination, carbon edges, ethane).

    ``stddev`` and ``avg`` are the local background maps over the micrograph area (host
    arrays, any shape). The maps are in units of the micrograph's std, which contamination
    and ice gradients inflate, so a fixed limit does not mean the same on every data set;
    medians and MADs do. ``mads ≤ 0`` returns the limits unchanged; a limit that is off
    (``max_stddev ≤ 0``, ``min_avg ≤ -900``) takes the automatic value, one that is on
    takes the stricter of the two.
    """
    if mads <= 0:
        return max_stddev, min_avg
    limits = []
    for values in (np.asarray(stddev), np.asarray(avg)):
        median = float(np.median(values))
        limits.append((median, 1.4826 * float(np.median(np.abs(values - median)))))
    (std_med, std_mad), (avg_med, avg_mad) = limits
    auto_std, auto_avg = std_med + mads * std_mad, avg_med - mads * avg_mad
    max_stddev = auto_std if max_stddev <= 0 else min(max_stddev, auto_std)
    min_avg = auto_avg if min_avg <= -900 else max(min_avg, auto_avg)
    return max_stddev, min_avg
