"""An automatic picking threshold from the distribution of figures of merit (``threshold: auto``).

Every peak of the FOM maps, found with no threshold, is either noise or a particle (or junk
the noise filters let through). Noise peaks are the many, low-FOM ones and make the
density's highest mode. The threshold is the first real valley of the FOM density above the
noise (see :func:`_valley`). Without a valley, particles that show as a shoulder are the
upper component of a two-Gaussian mixture, cut where it overtakes the noise. Failing both
(particles few or weak), the cut is where one noise peak of the lot is expected above it
under a null fitted to the noise mode's own shape (:func:`_null_cut`): its width is the
mode's upper half width at half maximum (the side the cut lies on), its tail a Gumbel's (the
maximum of many noise values) when the mode is skewed upwards as a Gumbel is, a Gaussian's
when it is symmetric, in between for skews in between. When fewer than ten peaks lie above
that cut, nothing stands out of the noise: the caller's fallback threshold is used instead,
if it gave one (the workflow gives the optimisation pass's), so that a hands-free run does
not end without picks.
What stands out of the noise is not all particles: peaks on empty ice, ice gradients and
the edges of contamination make a tail that falls from the cut, with the particles' mode above
it, too low beside the noise mode to count as one of its modes. So the peaks above any cut
but the fallback are searched for a valley of their own (:func:`_tail_valley`), and the cut
moves up to it when one is found.
The same rule works on any figure of merit with a noise mode (template and LoG picking).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import statistics
from pathlib import Path

import numpy as np
import yaml

from cryopick.errors import InputError, atomic_output

__all__ = ["ThresholdChoice", "choose_threshold", "plot_fom_histogram", "read_threshold",
           "threshold_or_keep", "threshold_pick_files", "write_threshold"]

logger = logging.getLogger(__name__)

GUMBEL_LOWER_RMS = 0.7293  # RMS distance below the mode of a unit Gumbel distribution
GUMBEL_LOWER_MEDIAN = 0.5266  # its median distance below the mode: -ln(-ln(1/(2e)))
# half widths at half maximum of a unit Gumbel's density above and below its mode (the roots
# of x + exp(-x) = 1 + ln 2), and of a unit Gaussian's
GUMBEL_HWHM_UP, GUMBEL_HWHM_LOW = 1.4627, 0.9851
GAUSS_HWHM = 1.1774
MIN_MODE_HEIGHT = 0.02  # a mode counts when its density reaches this × the highest mode's
MIN_ABOVE_NULL = 10  # fewer peaks above the null cut: nothing stands out of the noise
MIN_PEAKS = 10  # fewer peaks: no distribution to read a threshold from
MIN_TAIL_ABOVE = 0.4  # a valley above the cut leaves this share of the peaks above the cut


@dataclasses.dataclass(frozen=True)
class ThresholdChoice:
    """The chosen threshold, how it was found, and the noise it was measured against."""

    threshold: float
    method: str  # "valley", "mixture", "null" or "fallback"
    noise_mode: float
    noise_sd: float
    n_peaks: int

    def describe(self) -> str:
        """One line for logs, notes and the report."""
        how = {"valley": "the valley above the noise mode",
               "mixture": "where a two-Gaussian mixture's upper component overtakes the noise",
               "fallback": f"the fallback: fewer than {MIN_ABOVE_NULL} peaks stand out of the "
                           "noise null",
               "tail valley": "the valley between junk and particles among the peaks that "
                              "stand out of the noise",
               "too few": f"too few peaks for an automatic threshold (fewer than {MIN_PEAKS}): "
                          "the fallback, or every peak kept",
               }.get(self.method, "one noise peak expected above it (noise null)")
        return (f"threshold auto: {self.threshold:.3f} ({how}; {self.n_peaks} peaks, noise mode "
                f"{self.noise_mode:.3f}, null SD {self.noise_sd:.3f})")


def _bandwidth(values: np.ndarray) -> float:
    """Silverman's rule-of-thumb kernel bandwidth of ``values``."""
    spread = min(values.std(), np.subtract(*np.percentile(values, [75, 25])) / 1.34)
    return float(0.9 * max(spread, 1e-6) * len(values) ** -0.2)


def _density(values: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Gaussian kernel density (Silverman's bandwidth) of ``values`` on ``grid``."""
    bandwidth = _bandwidth(values)
    z = (grid[:, None] - values[None, :]) / bandwidth
    return np.exp(-0.5 * z * z).sum(axis=1) / (len(values) * bandwidth * np.sqrt(2 * np.pi))


def _valley(foms: np.ndarray, grid: np.ndarray, density: np.ndarray,
            modes: np.ndarray) -> int | None:
    """Grid index of the first real valley between two modes of the density, or None.

    Modes are paired in order, left mode first, then right mode (a weak particle population
    can show as several small modes).
    A valley is real when the density drops by 20 % from both neighbouring modes, at least
    10 % of the peaks lie below it (noise peaks are many: a bump of outliers is not the noise)
    and at least ``max(10, 1 %)`` above it (a bump of the noise's own tail is not particles).
    """
    for left, right in ((a, b) for i, a in enumerate(modes) for b in modes[i + 1:]):
        valley = left + int(np.argmin(density[left:right + 1]))
        below = int(np.sum(foms < grid[valley]))
        real = density[valley] <= 0.8 * min(density[left], density[right]) and \
            below >= 0.1 * len(foms) and len(foms) - below >= max(10, 0.01 * len(foms))
        if real:
            return valley
    return None


def _inner_maxima(density: np.ndarray) -> np.ndarray:
    """Grid indices of the density's local maxima, its ends left out."""
    inner = (density[1:-1] > density[:-2]) & (density[1:-1] >= density[2:])
    return np.flatnonzero(inner) + 1


def _tail_valley(foms: np.ndarray, cut: float, drop: float = 0.8) -> float | None:
    """The first real valley of the density of the peaks at or above ``cut``, or None.

    The density is the peaks' own (Silverman's bandwidth of those peaks), on a grid from the
    cut to their 99.5th percentile; the cut's end counts as a maximum where the density falls
    from it (a tail of junk). A valley is real when the density drops by 20 % from both
    neighbouring maxima, with at least ``MIN_ABOVE_NULL`` peaks below it and at least
    ``max(MIN_ABOVE_NULL, MIN_TAIL_ABOVE ×`` the peaks above the cut``)`` above it: most of
    what stands out of the noise is particles, and a bump of a few strong outliers is not.
    """
    tail = foms[foms >= cut]
    if len(tail) < 2 * MIN_ABOVE_NULL:
        return None
    grid = np.linspace(cut, float(np.percentile(tail, 99.5)), 256)
    density = _density(tail, grid)
    maxima = ([0] if density[0] >= density[1] else []) + list(_inner_maxima(density))
    for i, left in enumerate(maxima):
        for right in maxima[i + 1:]:
            valley = left + int(np.argmin(density[left:right + 1]))
            below = int(np.sum(tail < grid[valley]))
            if density[valley] <= drop * min(density[left], density[right]) and \
                    below >= MIN_ABOVE_NULL and \
                    len(tail) - below >= max(MIN_ABOVE_NULL, MIN_TAIL_ABOVE * len(tail)):
                return float(grid[valley])
    return None


def _mixture_cut(foms: np.ndarray, noise_mode: float, noise_sd: float,
                 n_iter: int = 200) -> float | None:
    """Where a two-Gaussian mixture's upper component overtakes the noise, or None.

    For particles that show as a shoulder, not a mode: the components start at the noise
    mode and at the upper quartile; the upper one must hold ≥ 3 % of the peaks and lie ≥ 2
    noise SDs above the noise, and at least twice as many peaks must lie above the cut as
    the Gumbel null (see the module docstring) expects of noise alone: a skewed noise
    distribution fits two Gaussians too.
    """
    upper = foms[foms >= np.percentile(foms, 75)]
    mu = np.array([noise_mode, upper.mean()])
    sd = np.array([max(noise_sd, 1e-6), max(upper.std(), noise_sd, 1e-6)])
    weight = np.array([0.75, 0.25])
    for _ in range(n_iter):  # EM
        dens = weight / sd * np.exp(-0.5 * ((foms[:, None] - mu) / sd) ** 2)
        resp = dens / np.maximum(dens.sum(axis=1, keepdims=True), 1e-300)
        weight = resp.mean(axis=0)
        mu = (resp * foms[:, None]).sum(axis=0) / np.maximum(resp.sum(axis=0), 1e-12)
        sd = np.sqrt((resp * (foms[:, None] - mu) ** 2).sum(axis=0)
                     / np.maximum(resp.sum(axis=0), 1e-12)).clip(min=1e-6)
    if weight[1] < 0.03 or mu[1] - mu[0] < 2 * sd[0]:
        return None
    x = np.linspace(mu[0], mu[1], 1024)
    dens = weight / sd * np.exp(-0.5 * ((x[:, None] - mu) / sd) ** 2)
    above = np.flatnonzero(dens[:, 1] >= dens[:, 0])
    if not len(above):
        return None
    cut = float(x[above[0]])
    width = noise_sd / GUMBEL_LOWER_RMS
    n_noise = math.e * np.sum(foms <= noise_mode)  # a Gumbel holds 1/e of its mass below the mode
    expected = n_noise * -np.expm1(-np.exp(-(cut - noise_mode) / width))
    return cut if np.sum(foms >= cut) >= max(10.0, 2.0 * expected) else None


def _lower_side_sd(foms: np.ndarray, noise_mode: float) -> float:
    """The noise's spread for the mixture's check, measured on the noise mode's lower side
    (which holds no particles), as the RMS distance below the mode of a Gumbel distribution of
    that width.

    The width comes from the median distance below the mode, not the RMS: a few peaks far
    below the noise (on carbon edges or contamination, whose FOM is strongly negative) would
    widen an RMS.
    """
    below = noise_mode - foms[foms <= noise_mode]
    if len(below) < 2:
        return float(foms.std())
    return float(GUMBEL_LOWER_RMS * np.median(below) / GUMBEL_LOWER_MEDIAN)


def _half_widths(grid: np.ndarray, density: np.ndarray, mode: int,
                 bandwidth: float) -> tuple[float, float]:
    """The density's half widths at half maximum below and above grid index ``mode``, less
    the kernel's share (widths add in quadrature), each at least a quarter of its raw value."""
    half = 0.5 * density[mode]
    below = np.flatnonzero(density[:mode] <= half)
    above = np.flatnonzero(density[mode:] <= half)
    low = grid[mode] - (grid[below[-1]] if len(below) else grid[0])
    high = (grid[mode + above[0]] if len(above) else grid[-1]) - grid[mode]
    kernel = GAUSS_HWHM * bandwidth
    low, high = (float(np.sqrt(max(w * w - kernel * kernel, (0.25 * w) ** 2)))
                 for w in (low, high))
    return low, high


def _null_cut(noise_mode: float, low: float, high: float, n_peaks: int) -> tuple[float, float]:
    """``(cut, null SD)``: where one of ``n_peaks`` noise peaks is expected above the cut.

    The null's width comes from the upper half width ``high``; its tail is a Gaussian's when
    the noise mode is symmetric (``high / low`` ≤ 1), a Gumbel's when it is skewed upwards as
    a Gumbel is (ratio ≥ 1.485), the cut interpolated linearly in between. The null SD
    returned is the Gaussian's.
    """
    sd = high / GAUSS_HWHM
    gauss = noise_mode + sd * statistics.NormalDist().inv_cdf(1.0 - 1.0 / n_peaks)
    gumbel = noise_mode + high / GUMBEL_HWHM_UP * math.log(n_peaks)
    skew = high / max(low, 1e-12)
    weight = min(1.0, max(0.0, (skew - 1.0) / (GUMBEL_HWHM_UP / GUMBEL_HWHM_LOW - 1.0)))
    return float((1.0 - weight) * gauss + weight * gumbel), float(sd)


def choose_threshold(foms: np.ndarray, fallback: float | None = None) -> ThresholdChoice:
    """The automatic threshold of a set of peak figures of merit (see the module docstring);
    ``fallback`` is used when nothing stands out of the noise null (None: the null cut)."""
    foms = np.asarray(foms, dtype=np.float64)
    foms = foms[np.isfinite(foms)]
    if len(foms) < MIN_PEAKS:
        raise InputError(f"an automatic threshold needs ≥ {MIN_PEAKS} peaks, got {len(foms)}")
    # the density on the bulk of the peaks: a few extreme FOMs (contamination, carbon edges)
    # would otherwise stretch the grid past the noise and particle modes
    low, high = np.percentile(foms, [0.5, 99.5])
    grid = np.linspace(low, high, 512)
    bulk = foms[(foms >= low) & (foms <= high)]
    density = _density(bulk, grid)
    modes = _inner_maxima(density)
    modes = modes[density[modes] >= MIN_MODE_HEIGHT * density.max()]
    if len(modes) == 0:
        modes = np.array([int(np.argmax(density))])
    valley = _valley(foms, grid, density, modes)
    # the noise mode: the highest mode below the valley (or of all, without one)
    noise_modes = modes[modes < valley] if valley is not None else modes
    mode_index = int(noise_modes[int(np.argmax(density[noise_modes]))])
    noise_mode = float(grid[mode_index])
    null_cut, noise_sd = _null_cut(noise_mode, *_half_widths(
        grid, density, mode_index, _bandwidth(bulk)), len(foms))
    mixture = None if valley is not None else \
        _mixture_cut(foms, noise_mode, _lower_side_sd(foms, noise_mode))
    if valley is not None:
        choice = ThresholdChoice(float(grid[valley]), "valley", noise_mode, noise_sd, len(foms))
    elif mixture is not None:
        choice = ThresholdChoice(mixture, "mixture", noise_mode, noise_sd, len(foms))
    elif fallback is not None and np.sum(foms >= null_cut) < MIN_ABOVE_NULL:
        logger.warning("the noise null's cut %.3f keeps %d of %d peaks: using the fallback "
                       "threshold %g", null_cut, int(np.sum(foms >= null_cut)), len(foms),
                       fallback)
        choice = ThresholdChoice(float(fallback), "fallback", noise_mode, noise_sd, len(foms))
    else:
        choice = ThresholdChoice(null_cut, "null", noise_mode, noise_sd, len(foms))
    above_junk = None if choice.method == "fallback" else _tail_valley(foms, choice.threshold)
    if above_junk is not None:
        choice = dataclasses.replace(choice, threshold=above_junk, method="tail valley")
    logger.info("%s", choice.describe())
    return choice


def threshold_or_keep(foms: np.ndarray, fallback: float | None = None) -> ThresholdChoice:
    """:func:`choose_threshold`, or with fewer than ``MIN_PEAKS`` finite peaks (a tiny or
    empty subset) no automatic cut: ``fallback``, or the lowest peak (every peak kept), so
    that a hands-free run goes on and says why (method ``too few``)."""
    values = np.asarray(foms, dtype=np.float64)
    values = values[np.isfinite(values)]
    if len(values) >= MIN_PEAKS:
        return choose_threshold(values, fallback)
    keep_all = float(values.min()) if len(values) else 0.0
    choice = ThresholdChoice(float(fallback) if fallback is not None else keep_all, "too few",
                             float("nan"), float("nan"), len(values))
    logger.warning("%s", choice.describe())
    return choice


def write_threshold(path: str | os.PathLike[str], choice: ThresholdChoice) -> None:
    """The choice as a small YAML file (read by the pass that uses it)."""
    with atomic_output(path) as tmp:
        tmp.write_text(yaml.safe_dump({**dataclasses.asdict(choice),
                                       "description": choice.describe()}, sort_keys=False))


def read_threshold(path: str | os.PathLike[str]) -> ThresholdChoice:
    """Read a choice written by :func:`write_threshold`."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: automatic threshold not found (run the optimisation pass)")
    values = yaml.safe_load(path.read_text()) or {}
    try:
        return ThresholdChoice(**{f.name: values[f.name]
                                  for f in dataclasses.fields(ThresholdChoice)})
    except (KeyError, TypeError) as err:
        raise InputError(f"{path}: not an automatic-threshold file ({err})") from err


def plot_fom_histogram(foms: np.ndarray, choice: ThresholdChoice, title: str,
                       out_png: str | os.PathLike[str]) -> None:
    """Histogram of the peak FOMs with the noise null and the chosen cut."""
    import matplotlib.pyplot as plt

    from cryopick.figures import save_figure  # (it selects the Agg backend first)

    fig, ax = plt.subplots(figsize=(7, 4), dpi=110)
    ax.hist(foms, bins=80, color="0.6")
    ax.axvline(choice.threshold, color="tab:red", linewidth=2,
               label=f"cut {choice.threshold:.3f} ({choice.method})")
    if np.isfinite(choice.noise_mode):
        ax.axvline(choice.noise_mode, color="tab:blue", linestyle="--",
                   label=f"noise mode {choice.noise_mode:.3f} (null SD {choice.noise_sd:.3f})")
    kept = int(np.sum(np.asarray(foms) >= choice.threshold))
    ax.set_xlabel("rlnAutopickFigureOfMerit of every peak (no threshold)")
    ax.set_ylabel("peaks")
    ax.set_title(f"{title}: {kept} of {len(foms)} peaks kept", fontsize=9)
    ax.legend(fontsize=8)
    save_figure(fig, out_png)


def threshold_pick_files(paths: list[Path], choice: ThresholdChoice) -> tuple[int, int]:
    """Keep only the picks at or above the chosen threshold in each coordinate file (rewritten
    in place, atomically); returns (picks kept, picks before)."""
    from cryopick.io.star import read_coordinates, write_coordinates

    kept = before = 0
    for path in paths:
        picks = read_coordinates(path)
        keep = picks[picks["rlnAutopickFigureOfMerit"].to_numpy(float) >= choice.threshold]
        before, kept = before + len(picks), kept + len(keep)
        if len(keep) < len(picks):
            write_coordinates(path, keep.reset_index(drop=True))
    logger.info("kept %d of %d picks at or above %.3f", kept, before, choice.threshold)
    return kept, before
