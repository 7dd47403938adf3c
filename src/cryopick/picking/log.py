"""Template-free Laplacian-of-Gaussian picking, as ``relion_autopick --LoG`` computes it.

Per micrograph: normalise (outliers to the mean), flip dark particles to bright, embed a
non-square micrograph in a noise-padded square, one full-size FFT, Fourier-crop to the
working size, filter with a bank of scale-normalised LoG kernels (11 diameters by default),
keep the best response and its diameter per pixel, threshold from the statistics of pixels
whose best diameter lies in the requested range, then greedy peak extraction with
neighbour exclusion. Everything up to the peak search runs on the backend of the input.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from typing import TYPE_CHECKING

import numpy as np

from cryopick.backend import Array, Backend, backend_of
from cryopick.errors import InputError
from cryopick.fourier import inverse, relion_round, shell_radius2
from cryopick.picking.micrograph_ft import cropped_transforms, embed_square, \
    normalise_micrograph
from cryopick.picking.working_size import WorkingSize, first_xmipp_index, working_size

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "WORKFLOW_ONLY",
    "LogPickParams",
    "LogPickResult",
    "log_params_from_config",
    "best_log_response",
    "embed_square",
    "log_diameters",
    "log_filter_bank",
    "micrograph_seed",
    "normalise_micrograph",
    "pick_log",
]

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class LogPickParams:
    """Options of LoG picking; defaults are relion_autopick's command-line defaults."""

    diameter_min_a: float
    diameter_max_a: float
    particles_white: bool = False  # --Log_invert
    lowpass_a: float = -1.0  # --lowpass (Å); the GUI passes 20
    shrink: float = 1.0  # --shrink; the GUI forces 0 for LoG
    threshold_adjust: float = 0.0  # --LoG_adjust_threshold (stddevs)
    threshold_upper: float = 99999.0  # --LoG_upper_threshold (stddevs)
    neighbour_percent: float = 100.0  # --LoG_neighbour
    max_search: int = 5  # --Log_max_search
    outlier_zscore: float = 8.0  # --outlier_removal_zscore
    skip_side: int = 0  # --skip_side (px)
    random_seed: int = 1  # --random_seed
    optimise_size: bool = True  # off with --skip_optimise_scale
    seed_by_name: bool = False  # cryopick: seed padding noise by micrograph name, not run order
    # cryopick: RELION's LoG ignores the noise filters of template picking; these apply them.
    max_stddev_noise: float = -1.0  # drop picks whose local background std is above (≤0: off)
    min_avg_noise: float = -999.0  # drop picks whose local background mean is below (≤-900: off)
    drop_border_picks: bool = False  # drop picks in the outermost row or column of the area
    #                                  picks may lie in: a ramp rising beyond it, not a peak
    auto_noise_mads: float = -1.0  # also drop picks whose local background is an outlier of its
    #                                micrograph: std above / mean below the median by this many
    #                                MADs (contamination, carbon edges; ≤0: off)

    def __post_init__(self) -> None:
        if not (self.diameter_min_a > 0 and self.diameter_max_a > 0):
            raise InputError("--LoG_diam_min and --LoG_diam_max must both be given and > 0 Å "
                             f"(got {self.diameter_min_a}, {self.diameter_max_a})")
        if self.diameter_min_a > self.diameter_max_a:
            raise InputError(f"--LoG_diam_min ({self.diameter_min_a} Å) is larger than "
                             f"--LoG_diam_max ({self.diameter_max_a} Å)")
        if self.max_search < 1:
            raise InputError(f"--Log_max_search must be ≥ 1, got {self.max_search}")


WORKFLOW_ONLY = ("auto_threshold",)  # autopick_log config keys applied by the workflow


def log_params_from_config(section: dict) -> LogPickParams:
    """:class:`LogPickParams` from the workflow's ``autopick_log`` section (an unknown key
    fails; the workflow's own keys, applied after picking, are left out)."""
    return LogPickParams(**{k: v for k, v in section.items() if k not in WORKFLOW_ONLY})


@dataclasses.dataclass
class LogPickResult:
    """Picks of one micrograph and what a picture of it needs."""

    picks: pd.DataFrame  # rlnCoordinateX/Y (px), rlnAutopickFigureOfMerit, class, psi
    preview: np.ndarray  # (h, w) low-passed micrograph at the working scale, dark as stored
    scale: float  # working px per micrograph px
    size: WorkingSize


def log_diameters(dmin_a: float, dmax_a: float, max_search: int) -> list[float]:
    """Diameters scanned, in RELION's order: dmin/i (i = max..2), dmin, mid, dmax, dmax·i."""
    small = [float(relion_round(dmin_a / i)) for i in range(max_search, 1, -1)]
    middle = [float(dmin_a), (dmin_a + dmax_a) / 2.0, float(dmax_a)]
    large = [float(relion_round(dmax_a * i)) for i in range(2, max_search + 1)]
    return small + middle + large


def micrograph_seed(random_seed: int, index: int, name: str, by_name: bool) -> int:
    """Seed of a micrograph's padding noise: RELION's ``seed + run index``, or by name."""
    if by_name:
        digest = hashlib.sha256(name.encode()).digest()
        return (random_seed + int.from_bytes(digest[:4], "little")) % (2**32)
    return random_seed + index


def log_filter_bank(f_cropped: Array, n: int, w: int, diameters_a: list[float],
                    pixel_size_a: float) -> Array:
    """LoG responses ``(len(diameters), w, w)`` of a Fourier-cropped micrograph transform.

    ``H(k) = (r²/q²)·exp(-r²/(2q²))`` with ``r`` in frequency units of the ``n``-sized
    transform (cropping keeps the indices) and ``q = n·p/(2d)``: a scale-normalised LoG that
    peaks at spatial frequency ``1/(√2·d)``.
    """
    from cryopick.backend import backend_of

    bk = backend_of(f_cropped)
    xp = bk.xp
    r2 = shell_radius2(w, bk)
    q = [n * pixel_size_a / (2.0 * d) for d in diameters_a]
    q2 = bk.asarray(np.asarray(q, dtype=np.float32) ** 2)[:, None, None]
    filters = (r2[None, ...] / q2) * xp.exp(-r2[None, ...] / (2.0 * q2))
    filtered = f_cropped[None, ...] * xp.astype(filters, f_cropped.dtype)
    return xp.astype(inverse(filtered, (w, w)), xp.float32)


def best_log_response(responses: Array, diameters_a: list[float]) -> tuple[Array, Array]:
    """Per pixel the largest response over diameters and that diameter (first wins ties)."""
    from cryopick.backend import backend_of

    bk = backend_of(responses)
    xp = bk.xp
    index = xp.argmax(responses, axis=0)
    best = xp.max(responses, axis=0)
    sizes = bk.asarray(np.asarray(diameters_a, dtype=np.float32))
    best_size = xp.reshape(xp.take(sizes, xp.reshape(index, (-1,)), axis=0), best.shape)
    return best, best_size


def _noise_filters_on(params: LogPickParams) -> bool:
    """Whether any of cryopick's LoG background filters applies."""
    return params.max_stddev_noise > 0 or params.min_avg_noise > -900 or \
        params.auto_noise_mads > 0


def _cropped_transform(image: np.ndarray, n: int, w: int, pixel_size_a: float,
                       params: LogPickParams, bk: Backend, seed: int,
                       shrunk: tuple[int, int]) -> tuple[Array, Array | None]:
    """The normalised, flipped, padded micrograph's transform cropped to ``w``, and where
    picks are allowed under cryopick's noise filters (None: filters off)."""
    filters = _noise_filters_on(params)
    f_crop, f_crop2 = cropped_transforms(bk, image, n, w, params.outlier_zscore,
                                         not params.particles_white, seed, squared=filters)
    if not filters:
        return f_crop, None
    return f_crop, _noise_filter(n, f_crop, f_crop2, w, pixel_size_a, params,
                                 _border_mask(bk, w, shrunk[0], shrunk[1], 0))


def _noise_filter(n: int, f_square: Array, f_square2: Array, w: int, pixel_size_a: float,
                  params: LogPickParams, inside: Array) -> Array:
    """Where picks are allowed under cryopick's LoG noise filters.

    ``f_square`` and ``f_square2`` are the cropped transforms of the normalised, padded
    ``n × n`` micrograph and of its square. Local background statistics of the normalised
    micrograph (as stored: dark particles negative) in a ring from the largest radius to
    1.5× it, the same maps as RELION's
    template picker uses for ``--max_stddev_noise`` and ``--min_avg_noise``; with
    ``auto_noise_mads`` the limits are tightened to the outliers of the micrograph's own
    maps over its area (``inside``), as template picking does.
    """
    from cryopick.picking.noise import background_stats_from_transforms, outlier_limits

    bk = backend_of(f_square)
    radius = relion_round(params.diameter_max_a / (2.0 * pixel_size_a))
    box = 2 * relion_round(1.5 * radius)
    mean, std = background_stats_from_transforms(f_square, f_square2, n, w, box,
                                                 float(radius * radius))
    if not params.particles_white:  # the micrograph was flipped: undo it for the mean
        mean = -mean
    max_std, min_avg = params.max_stddev_noise, params.min_avg_noise
    if params.auto_noise_mads > 0:
        area = bk.to_numpy(inside)
        max_std, min_avg = outlier_limits(bk.to_numpy(std)[area], bk.to_numpy(mean)[area],
                                          params.auto_noise_mads, max_std, min_avg)
    ok = None
    if max_std > 0:
        ok = std <= max_std
    if min_avg > -900:
        ok = (mean >= min_avg) if ok is None else ok & (mean >= min_avg)
    return ok


def _border_mask(bk: Backend, w: int, nx_s: int, ny_s: int, skip: int) -> Array:
    """True inside the (shrunk) micrograph area minus ``skip`` working px on every side."""
    xp = bk.xp
    dev = bk.device_kw
    logical = xp.arange(w, **dev) - w // 2
    row0, col0 = first_xmipp_index(ny_s), first_xmipp_index(nx_s)
    row_ok = (logical >= row0 + skip) & (logical <= row0 + ny_s - 1 - skip)
    col_ok = (logical >= col0 + skip) & (logical <= col0 + nx_s - 1 - skip)
    return row_ok[:, None] & col_ok[None, :]


def _greedy_peaks(best: np.ndarray, size: np.ndarray, upper: float, scale: float,
                  dmin_a: float, fudge: float, pixel_size_a: float) -> list[tuple[int, int]]:
    """RELION's greedy extraction: highest pixel first (row-major on ties); exclude a disc.

    A peak at or above ``upper`` is not emitted but still clears its neighbourhood.
    """
    h, w = best.shape
    flat = best.ravel()
    candidates = np.flatnonzero(flat > 0)
    order = candidates[np.argsort(-flat[candidates], kind="stable")]
    cleared = np.zeros(best.shape, dtype=bool)
    picks: list[tuple[int, int]] = []
    for index in order:
        i, j = divmod(int(index), w)
        if cleared[i, j]:
            continue
        if flat[index] < upper:
            picks.append((i, j))
        radius = relion_round(scale * (float(size[i, j]) + dmin_a) * fudge / (2.0 * pixel_size_a))
        i0, i1 = max(0, i - radius), min(h, i + radius + 1)
        j0, j1 = max(0, j - radius), min(w, j + radius + 1)
        di = (np.arange(i0, i1) - i)[:, None]
        dj = (np.arange(j0, j1) - j)[None, :]
        cleared[i0:i1, j0:j1] |= (di * di + dj * dj) < radius * radius
        cleared[i, j] = True
    return picks


def pick_log(image: np.ndarray, pixel_size_a: float, params: LogPickParams, bk: Backend,
             seed: int) -> LogPickResult:
    """LoG-pick one micrograph ``(ny, nx)`` (host array); the compute runs on ``bk``."""
    ny, nx = image.shape
    size = working_size(nx, ny, pixel_size_a, params.lowpass_a, params.shrink,
                        params.optimise_size)
    n, w = size.n, size.w
    scale32 = np.float32(w) / np.float32(n)
    scale = float(scale32)
    nx_s, ny_s = int(np.float32(nx) * scale32), int(np.float32(ny) * scale32)
    xp = bk.xp
    dmin, dmax = params.diameter_min_a, params.diameter_max_a
    diameters = log_diameters(dmin, dmax, params.max_search)

    # 1. normalise, flip dark particles, pad to a square, one FFT, crop to the working size
    f_crop, noise_ok = _cropped_transform(image, n, w, pixel_size_a, params, bk, seed,
                                          (nx_s, ny_s))

    # 2. LoG bank, best response and its diameter per pixel
    best, best_size = best_log_response(
        log_filter_bank(f_crop, n, w, diameters, pixel_size_a), diameters)

    # 3. zero the borders (and padding), then the diameter filter
    skip = max(params.skip_side, int(0.5 * dmin / pixel_size_a))
    inside = _border_mask(bk, w, nx_s, ny_s, int(skip * scale))
    zero = xp.zeros((), dtype=xp.float32, **bk.device_kw)
    best = xp.where(inside, best, zero)
    ok = (best_size <= dmax) & (best_size >= dmin)
    best = xp.where(ok, best, zero)

    # 4. threshold from the statistics of in-range pixels
    threshold, upper = _thresholds(bk, best, ok, params)
    best = xp.where(best < threshold, zero, best)
    if noise_ok is not None:
        best = xp.where(noise_ok, best, zero)

    # 5. greedy peaks on the host (a W×W map, a few hundred peaks)
    best_h, size_h = bk.to_numpy(best), bk.to_numpy(best_size)
    peaks = _greedy_peaks(best_h, size_h, upper, scale, dmin,
                          params.neighbour_percent / 100.0, pixel_size_a)
    if params.drop_border_picks:  # a peak in the outermost row or column: a ramp, dropped
        inner = bk.to_numpy(_border_mask(bk, w, nx_s, ny_s, int(skip * scale) + 1))
        peaks = [(i, j) for i, j in peaks if inner[i, j]]
    picks = _picks_table(best_h, peaks, w, nx_s, ny_s, scale)

    # 6. the low-passed micrograph at working scale, for pictures (contrast as stored)
    preview = inverse(f_crop, (w, w))
    r0, c0 = w // 2 + first_xmipp_index(ny_s), w // 2 + first_xmipp_index(nx_s)
    preview = bk.to_numpy(preview[r0:r0 + ny_s, c0:c0 + nx_s])
    if not params.particles_white:
        preview = -preview
    return LogPickResult(picks=picks, preview=preview, scale=scale, size=size)


def _thresholds(bk: Backend, best: Array, ok: Array, params: LogPickParams
                ) -> tuple[float, float]:
    """RELION's lower and upper thresholds: the mean of the in-range pixels' best responses
    plus ``threshold_adjust`` and ``threshold_upper`` standard deviations."""
    xp = bk.xp
    n_ok = float(xp.sum(xp.astype(ok, xp.float64)))
    if n_ok == 0:
        raise InputError("no pixel has its best LoG response within the diameter range")
    best64 = xp.astype(best, xp.float64)
    mean = float(xp.sum(xp.where(ok, best64, 0.0))) / n_ok
    var = float(xp.sum(xp.where(ok, best64 * best64, 0.0))) / n_ok - mean * mean
    sd = max(var, 0.0) ** 0.5
    return mean + params.threshold_adjust * sd, mean + params.threshold_upper * sd


def _picks_table(best: np.ndarray, peaks: list, w: int, nx_s: int, ny_s: int, scale: float
                 ) -> pd.DataFrame:
    """The picks of the working-size peaks ``(row, col)``, in micrograph pixels."""
    import pandas as pd  # here: the template picker imports this module and needs no pandas

    rows = np.array([p[0] for p in peaks], dtype=np.int64)
    cols = np.array([p[1] for p in peaks], dtype=np.int64)
    return pd.DataFrame({
        "rlnCoordinateX": (cols - w // 2 + nx_s // 2) / scale,  # RELION divides by a float32 scale
        "rlnCoordinateY": (rows - w // 2 + ny_s // 2) / scale,  # RELION divides by a float32 scale
        "rlnAutopickFigureOfMerit": best[rows, cols].astype(np.float64) if len(rows)
        else np.zeros(0),
        "rlnClassNumber": np.zeros(len(rows), dtype=np.int64),
        "rlnAnglePsi": np.zeros(len(rows), dtype=np.float64),
    })
