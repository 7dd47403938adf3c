"""Template-based picking with RELION's probability-ratio figure of merit (§6 of the facts).

Per micrograph: normalise and noise-pad as for LoG (no contrast flip), transform once, local
background mean/std maps under the ring mask, then for every reference and ψ the
cross-correlation with the CTF-modulated, rotated, masked, low-passed template; the FOM
``(exp(-D/2) - 1)/(E - 1)`` with ``D = (-2C + 2·mean·S1)/std + S2`` is maximised over ψ.
Peaks are searched per reference, pruned in clusters, merged over references, pruned again
and freed of too-close neighbours.
"""

from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING

import numpy as np

from cryopick.backend import Array, Backend, backend_of
from cryopick.ctf import ctf_2d
from cryopick.errors import InputError
from cryopick.fourier import forward, fourier_window, inverse, relion_round, shell_radius2
from cryopick.io.loop import Loop
from cryopick.io.star import CtfParams
from cryopick.picking.micrograph_ft import cropped_transforms
from cryopick.picking.noise import background_stats_from_transforms, outlier_limits
from cryopick.picking.peaks import Peaks, peak_search, prune_peak_clusters, \
    remove_close_neighbours
from cryopick.picking.references import TemplateSet
from cryopick.picking.rotation import padded_table, psi_angles, rotate_tables, \
    window_real_space
from cryopick.picking.working_size import WorkingSize, first_xmipp_index, working_size

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["FomMaps", "TemplatePickParams", "TemplatePickResult", "background_limits",
           "background_outlier_limits", "compute_fom_maps", "noise_filter_losses",
           "peak_table", "peaks_from_maps", "pick_background_limits", "picking_limits",
           "prepare_rotations"]


@dataclasses.dataclass(frozen=True)
class TemplatePickParams:
    """Options of template picking; defaults are relion_autopick's command-line defaults."""

    lowpass_a: float = -1.0  # --lowpass (Å); the GUI passes 20
    highpass_a: float = -1.0  # --highpass (Å)
    angular_sampling_deg: float = 10.0  # --ang
    ctf: bool = False  # --ctf
    ctf_intact_first_peak: bool = False  # --ctf_intact_first_peak
    shrink: float = 1.0  # --shrink
    threshold: float = 0.25  # --threshold
    min_distance_a: float = -1.0  # --min_distance (Å; <0: half the reference box)
    max_stddev_noise: float = -1.0  # --max_stddev_noise (≤0: off)
    min_avg_noise: float = -999.0  # --min_avg_noise (≤-900: off)
    skip_side: int = 0  # --skip_side
    outlier_zscore: float = 8.0  # --outlier_removal_zscore
    random_seed: int = 1  # --random_seed
    optimise_size: bool = True  # off with --skip_optimise_scale
    auto_noise_mads: float = -1.0  # cryopick: also drop peaks whose local background std is
    # above, or mean below, this micrograph's median by this many MADs (≤0: off); see
    # background_outlier_limits
    auto_noise_pick_mads: float = -1.0  # cryopick: then tighten the limits to this many MADs
    # about the picks' own backgrounds (≤0: off); see pick_background_limits
    deterministic_fom_scale: bool = False  # cryopick: the expected ratio E without RELION's
    # one noise draw, so that every reference's FOM has the scale of a perfect match

    def __post_init__(self) -> None:
        if self.angular_sampling_deg <= 0:
            raise InputError(f"--ang must be > 0, got {self.angular_sampling_deg}")


@dataclasses.dataclass
class FomMaps:
    """Everything peak search needs, all ``(w, w)`` on the working grid (host arrays)."""

    fom: list[np.ndarray]  # per reference: best FOM over ψ
    psi: list[np.ndarray]  # per reference: ψ of the best FOM (deg)
    expected: list[float]  # per reference: expected probability ratio E
    stddev: np.ndarray  # local background std
    avg: np.ndarray  # local background mean
    size: WorkingSize
    preview: np.ndarray | None = None  # low-passed micrograph at working scale (pictures)


@dataclasses.dataclass
class TemplatePickResult:
    picks: pd.DataFrame
    maps: FomMaps


def prepare_rotations(templates: TemplateSet, size: WorkingSize, params: TemplatePickParams,
                      bk: Backend) -> list[Array]:
    """Per reference, its rotated transforms ``(n_psi, L, L/2+1)`` on the backend (per run)."""
    tables = padded_table(templates.images, size.n, size.lowpass_n)
    return rotate_tables([bk.asarray(table) for table in tables],
                         psi_angles(params.angular_sampling_deg), size.lowpass_n, bk)


def _highpass(f: Array, n: int, highpass_a: float, pixel_a: float) -> Array:
    """RELION's raised-cosine high-pass on the full transform (shells in units of n)."""
    bk = backend_of(f)
    xp = bk.xp
    shell = relion_round(n * pixel_a / highpass_a)
    r = xp.sqrt(shell_radius2(n, bk))
    ramp = 0.5 - 0.5 * xp.cos(math.pi * (r - (shell - 1)) / 2.0)
    weight = xp.where(r < shell - 1, 0.0, xp.where(r > shell + 1, 1.0, ramp))
    return f * xp.astype(weight, f.dtype)


def compute_fom_maps(image: np.ndarray, pixel_a: float, ctf: CtfParams | None,
                     templates: TemplateSet, rotations: list[Array],
                     params: TemplatePickParams, bk: Backend, seed: int,
                     psi_chunk_pixels: int = 24_000_000) -> FomMaps:
    """FOM, ψ and noise maps of one micrograph ``(ny, nx)`` (host) on backend ``bk``."""
    xp = bk.xp
    ny, nx = image.shape
    size = working_size(nx, ny, pixel_a, params.lowpass_a, params.shrink, params.optimise_size)
    n, lsize, w = size.n, size.lowpass_n, size.w
    rng = np.random.default_rng(seed)
    big = max(lsize, w)
    highpass = None if params.highpass_a <= 0 else \
        (lambda sq: xp.astype(inverse(_highpass(forward(sq), n, params.highpass_a, pixel_a),
                                      (n, n)), xp.float32))
    f_big, f_big2 = cropped_transforms(bk, image, n, big, params.outlier_zscore, False,
                                       int(rng.integers(2**31)), squared=True,
                                       prefilter=highpass)
    f_w = fourier_window(f_big, big, w)
    avg, std = background_stats_from_transforms(f_w, fourier_window(f_big2, big, w), n, w,
                                                templates.box_px, float(templates.radius2_px))
    f_l = fourier_window(f_big, big, lsize)
    del f_big2
    ctf_l = ctf_2d(ctf, lsize, n * pixel_a / lsize, bk, params.ctf_intact_first_peak) \
        if params.ctf else None
    psis = psi_angles(params.angular_sampling_deg)
    foms, best_psis, expected = [], [], []
    for rot in rotations:
        fom, psi, e_ratio = _fom_one_reference(rot, ctf_l, f_l, avg, std, templates, size,
                                               psis, rng, bk, psi_chunk_pixels,
                                               not params.deterministic_fom_scale)
        foms.append(fom)
        best_psis.append(psi)
        expected.append(e_ratio)
    return FomMaps(foms, best_psis, expected, bk.to_numpy(std), bk.to_numpy(avg), size,
                   preview=bk.to_numpy(inverse(f_w, (w, w))))


def _fom_one_reference(rot: Array, ctf_l: Array | None, f_l: Array, avg: Array, std: Array,
                       templates: TemplateSet, size: WorkingSize, psis: np.ndarray,
                       rng: np.random.Generator, bk: Backend,
                       chunk_pixels: int, noisy_e: bool = True
                       ) -> tuple[np.ndarray, np.ndarray, float]:
    """Best FOM and its ψ over all rotations of one reference."""
    xp = bk.xp
    n, lsize, w = size.n, size.lowpass_n, size.w
    first = rot[0, ...] * ctf_l if ctf_l is not None else rot[0, ...]
    s1, s2, e_ratio = _template_sums(bk.to_numpy(first), n, templates, rng, noisy_e)
    norm = float(n) * float(n) / templates.n_inside
    # FOM = (exp(-D/2) - 1)/(E - 1) with -D/2 = C·n²/N_in/std + (S1·(-mean)/std - S2/2): for
    # std > 0 and E > 1 it rises with the correlation C, so the best ψ is the one with the
    # largest C, and the exponential is taken once per pixel instead of once per ψ.
    best_cc = xp.full((w, w), -3.0e38, dtype=xp.float32, **bk.device_kw)
    best_psi = xp.zeros((w, w), dtype=xp.float32, **bk.device_kw)
    chunk = max(1, chunk_pixels // (w * w))
    increasing = e_ratio > 1.0
    # conj(A·CTF)·F = conj(A·conj(CTF·F)): one product per coefficient and ψ (the CTF is
    # real), conjugated in place
    g = xp.conj(f_l * ctf_l if ctf_l is not None else f_l)[None, ...]
    host = bk.name == "numpy"
    for start in range(0, len(psis), chunk):
        product = rot[start:min(start + chunk, len(psis)), ...] * g
        if host:  # a running maximum, ψ by ψ (a fifth of a strided argmax), scaled after
            np.conj(product, out=product)
            cc = bk.irfft2(fourier_window(product, lsize, w), (w, w))
            if not increasing:
                np.negative(cc, out=cc)
            for k in range(cc.shape[0]):
                better = np.greater(cc[k], best_cc)
                np.fmax(best_cc, cc[k], out=best_cc)  # a NaN never wins, as below
                np.copyto(best_psi, np.float32(psis[start + k]), where=better)
            continue
        cc = inverse(fourier_window(xp.conj(product), lsize, w), (w, w))
        cc = cc if increasing else -cc  # E < 1 (a degenerate reference): FOM falls with C
        index = xp.argmax(cc, axis=0)  # the first ψ of equal maxima, as the loop above
        value = xp.max(cc, axis=0)
        chunk_psi = bk.asarray(psis[start:start + chunk].astype(np.float32))
        better = value > best_cc
        best_cc = xp.where(better, value, best_cc)
        psi_of_max = xp.reshape(xp.take(chunk_psi, xp.reshape(index, (-1,)), axis=0), (w, w))
        best_psi = xp.where(better, psi_of_max, best_psi)
    if host:  # inverse()'s scale, after the maximum: the same values (rounding is monotone)
        best_cc *= np.float32(w * w)
    best_cc = best_cc if increasing else -best_cc
    diff2 = (-2.0 * norm * xp.astype(best_cc, xp.float64) + 2.0 * s1 * avg) / std + s2
    fom = xp.astype((xp.exp(-diff2 / 2.0) - 1.0) / (e_ratio - 1.0), xp.float32)
    return bk.to_numpy(fom), bk.to_numpy(best_psi), e_ratio


def _template_sums(first: np.ndarray, n: int, templates: TemplateSet,
                   rng: np.random.Generator, noisy: bool = True) -> tuple[float, float, float]:
    """S1, S2 and the expected probability ratio E of the ψ = 0 (CTF-modulated) template.

    RELION draws one noise image into E (``noisy``); for a weak reference E − 1 is then
    mostly that draw, near 0 or far from it by chance, and the reference's FOMs, divided by
    E − 1, come out on a scale of their own. Without the draw E is the ratio of a noise-free
    perfect match (the draw is still made, so the generator's stream is the same).
    """
    box = templates.box_px
    real = window_real_space(first, n, box).astype(np.float64)
    logical = np.arange(box) - box // 2
    disc = (logical[:, None] ** 2 + logical[None, :] ** 2) < templates.radius2_px
    values = real[disc]
    n1 = disc.sum() + 1.0
    noise = rng.standard_normal(values.size) * (1.0 if noisy else 0.0)
    e_ratio = math.exp(float(np.sum(values * values + 2.0 * values * noise)) / (2.0 * n1))
    return float(values.sum() / n1), float((values * values).sum() / n1), e_ratio


def background_outlier_limits(maps: FomMaps, nx_s: int, ny_s: int,
                              params: TemplatePickParams) -> tuple[float, float]:
    """``(max_stddev, min_avg)`` the peak search applies: RELION's flags, tightened by
    ``auto_noise_mads``.

    The local background (the box outside the particle circle) of a particle looks like the
    micrograph's typical background; on a contamination or carbon edge its std is far above
    the micrograph's median and its mean far below. Medians and MADs over the micrograph
    area of the maps make the limits mean the same on every data set (the maps are in units
    of the micrograph's own std, which contamination and ice gradients inflate).
    """
    w = maps.stddev.shape[0]
    rows = slice(w // 2 - ny_s // 2, w // 2 - ny_s // 2 + ny_s)
    cols = slice(w // 2 - nx_s // 2, w // 2 - nx_s // 2 + nx_s)
    return outlier_limits(maps.stddev[rows, cols], maps.avg[rows, cols], params.auto_noise_mads,
                          params.max_stddev_noise, params.min_avg_noise)


def background_limits(maps: FomMaps, nx: int, ny: int, params: TemplatePickParams
                      ) -> tuple[float, float]:
    """:func:`background_outlier_limits` of a ``nx × ny`` micrograph's maps."""
    return background_outlier_limits(maps, *_shrunk(maps, nx, ny), params)


# fewer picks than this on a micrograph: its picks say too little about its ice
MIN_REFERENCE_PICKS = 12


def pick_background_limits(maps: FomMaps, nx: int, ny: int, pixel_a: float,
                           templates: TemplateSet, params: TemplatePickParams,
                           limits: tuple[float, float]) -> tuple[float, float]:
    """``limits`` tightened to the backgrounds of the picks they keep: a std more than
    ``auto_noise_pick_mads`` MADs above the picks' median, or a mean as far below it.

    The micrograph's area is a poor reference where junk covers much of it: a carbon film
    over a quarter of the area, or a large contamination blob, widens the area's MADs until
    their own backgrounds are no longer outliers. The picks that pass the area's limits lie
    mostly on ice around particles, so their backgrounds are what ice looks like on this
    micrograph, neighbours included. Off (``limits`` unchanged) when
    ``auto_noise_pick_mads ≤ 0`` or fewer than :data:`MIN_REFERENCE_PICKS` picks pass.
    """
    if params.auto_noise_pick_mads <= 0:
        return limits
    picks, _ = _final_peaks(maps, nx, ny, pixel_a, templates, params, limits)
    if len(picks.x) < MIN_REFERENCE_PICKS:
        return limits
    rows, cols = _grid_indices(maps, nx, ny, picks)
    return outlier_limits(maps.stddev[rows, cols], maps.avg[rows, cols],
                          params.auto_noise_pick_mads, *limits)


def picking_limits(maps: FomMaps, nx: int, ny: int, pixel_a: float, templates: TemplateSet,
                   params: TemplatePickParams, area_limits: tuple[float, float] | None = None
                   ) -> tuple[float, float]:
    """The background limits the peak search applies: RELION's flags, tightened to the
    micrograph's area (:func:`background_limits`, or ``area_limits`` when already known),
    then to its picks (:func:`pick_background_limits`)."""
    if area_limits is None:
        area_limits = background_limits(maps, nx, ny, params)
    return pick_background_limits(maps, nx, ny, pixel_a, templates, params, area_limits)


def _grid_indices(maps: FomMaps, nx: int, ny: int, peaks: Peaks) -> tuple[np.ndarray, np.ndarray]:
    """Working-grid indices (rows, cols) of ``peaks`` (as :func:`peak_search` indexes)."""
    nx_s, ny_s = _shrunk(maps, nx, ny)
    w = maps.stddev.shape[0]
    return peaks.y + w // 2 + first_xmipp_index(ny_s), peaks.x + w // 2 + first_xmipp_index(nx_s)


def peaks_from_maps(maps: FomMaps, nx: int, ny: int, pixel_a: float, templates: TemplateSet,
                    params: TemplatePickParams, limits: tuple[float, float] | None = None
                    ) -> pd.DataFrame:
    """:func:`peak_table` as a pandas DataFrame."""
    return peak_table(maps, nx, ny, pixel_a, templates, params, limits).to_frame()


def peak_table(maps: FomMaps, nx: int, ny: int, pixel_a: float, templates: TemplateSet,
               params: TemplatePickParams, limits: tuple[float, float] | None = None) -> Loop:
    """Peak search, cluster pruning and neighbour removal on FOM maps → RELION pick table
    (a pandas-free :class:`~cryopick.io.loop.Loop`: template picking needs no pandas, whose
    import costs ~0.2 s per process).

    ``limits``: :func:`background_limits` of these maps and ``params`` when already
    known (a threshold sweep over one micrograph's maps: they do not depend on the threshold,
    and their medians cost more than a peak search). The picks' own limits
    (:func:`pick_background_limits`) follow the threshold, and are found here.
    """
    limits = picking_limits(maps, nx, ny, pixel_a, templates, params, limits)
    final, scale = _final_peaks(maps, nx, ny, pixel_a, templates, params, limits)
    return Loop({
        "rlnCoordinateX": final.x / scale,
        "rlnCoordinateY": final.y / scale,
        "rlnClassNumber": final.ref + 1,
        "rlnAutopickFigureOfMerit": final.fom,
        "rlnAnglePsi": final.psi,
    })


def noise_filter_losses(maps: FomMaps, nx: int, ny: int, pixel_a: float,
                        templates: TemplateSet, params: TemplatePickParams) -> dict[str, int]:
    """Picks each background filter removes: of the picks found without either filter, how
    many lie where the local background std is above the limit (``stddev``) and where its
    mean is below the limit (``avg``); a pick may count for both. Limits as the peak search
    applies them (RELION's flags tightened by ``auto_noise_mads`` and
    ``auto_noise_pick_mads``); 0 for a filter that is off.
    """
    max_std, min_avg = picking_limits(maps, nx, ny, pixel_a, templates, params)
    if max_std <= 0 and min_avg <= -900:
        return {"stddev": 0, "avg": 0}
    unfiltered, _ = _final_peaks(maps, nx, ny, pixel_a, templates, params, (-1.0, -999.0))
    rows, cols = _grid_indices(maps, nx, ny, unfiltered)
    std_lost = int((maps.stddev[rows, cols] > max_std).sum()) if max_std > 0 else 0
    avg_lost = int((maps.avg[rows, cols] < min_avg).sum()) if min_avg > -900 else 0
    return {"stddev": std_lost, "avg": avg_lost}


def _shrunk(maps: FomMaps, nx: int, ny: int) -> tuple[int, int]:
    """The micrograph's size on the working grid ``(nx_s, ny_s)``."""
    scale32 = np.float32(maps.size.w) / np.float32(maps.size.n)
    return int(np.float32(nx) * scale32), int(np.float32(ny) * scale32)


def _final_peaks(maps: FomMaps, nx: int, ny: int, pixel_a: float, templates: TemplateSet,
                 params: TemplatePickParams, limits: tuple[float, float]) -> tuple[Peaks, float]:
    """The picks on the working grid with background limits ``(max_std, min_avg)``, and the
    working scale."""
    size = maps.size
    scale = float(np.float32(size.w) / np.float32(size.n))
    nx_s, ny_s = _shrunk(maps, nx, ny)
    skip = max(1, int((params.skip_side + templates.box_px / 2) * scale))
    min_distance_a = params.min_distance_a if params.min_distance_a >= 0 else \
        templates.box_px * pixel_a / 2
    min_distance_px = relion_round(min_distance_a / pixel_a)
    max_std, min_avg = limits
    per_ref = []
    for ref, (fom, psi) in enumerate(zip(maps.fom, maps.psi)):
        found = peak_search(fom, psi, ref, params.threshold, nx_s, ny_s, skip,
                            unscaled=size.w == size.n, stddev=maps.stddev,
                            max_stddev=max_std, avg=maps.avg, min_avg=min_avg)
        per_ref.append(prune_peak_clusters(found, min_distance_px, templates.radius2_px, scale))
    merged = prune_peak_clusters(Peaks.concat(per_ref), min_distance_px, templates.radius2_px,
                                 scale)
    return remove_close_neighbours(merged, min_distance_px, scale), scale
