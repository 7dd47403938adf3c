"""Choosing 2D class averages as picking templates (RELION's Select job, without the clicks).

Classes are taken from a list, or chosen automatically. Junk is dropped by what the class
itself shows, whatever its size or share of the particles (:mod:`cryopick.classification.class_features`:
noise, density at the mask edge, off-centre mass, featureless discs and blobs), and by what
the classification says about it (too few particles, poor estimated resolution, particles that
align poorly: a low mean ``rlnMaxValueProbDistribution`` against the best class's); when no
class reaches the resolution limit, or only classes holding fewer particles than the views
below it, those views are judged by their image alone (a classification low-resolution as a
whole: images without CTF, large particles).
The rest are ranked by share × mean Pmax / resolution, each discounted by its likeness to the
views kept so far (``diversity``: × (1 − best rotational cross-correlation with them) to the
power ``diversity``), and kept greedily while they are distinct views (that correlation below
a limit); a kept class far denser than the typical view (specks of contamination or ice) and then
views much fainter than the strongest one left are dropped, as their FOMs would not compare. Chosen
averages are re-centred on their centre of mass as RELION's ``--recenter`` does and written
as ``class_averages.star`` + ``class_averages.mrcs``.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import ndimage

from cryopick.classification.class_features import ClassGeometry, FeatureLimits, class_features, \
    junk_reason
from cryopick.classification.kernels import center_of_mass
from cryopick.errors import InputError
from cryopick.io.mrc import read_image_stack, read_mrc_header_pixel_size, write_mrc
from cryopick.io.star import read_star, write_star

__all__ = ["COLLAPSED", "ClassChoice", "NoTemplateError", "SelectionCriteria",
           "below_resolution_limit", "choose_classes", "class_pmax", "read_class_averages",
           "recenter", "rotational_similarity", "write_templates"]

logger = logging.getLogger(__name__)

# a class that took (nearly) every particle: all kinds averaged together, not a view
COLLAPSED = "collapsed classification (one class holds most particles)"


@dataclasses.dataclass(frozen=True)
class SelectionCriteria:
    """How classes are judged when chosen automatically."""

    n_templates: int = 4
    min_distribution: float = 0.01  # drop classes holding less than this fraction
    max_resolution_a: float = 30.0  # drop classes worse than this (see resolution_limit_a)
    max_similarity: float = 0.85  # a new template must correlate less with every kept one
    diversity: float = 0.0  # rank candidates by score × (1 − best similarity to the views
    #                         kept so far) ** diversity: a second species' views before more
    #                         views of the first (0: by score alone)
    min_pmax_fraction: float = 0.25  # drop if mean Pmax < this × the best kept class's
    max_class_share: float = 0.8  # with 3 or more classes, one holding this share of the
    #                               particles is a collapsed classification, not a view
    min_contrast_fraction: float = 0.5  # drop a view whose RMS over the particle disc is
    #                                     below this × the strongest kept view's: faint,
    #                                     mostly empty ice (its FOMs would dwarf the others')
    species_similarity: float = 0.4  # ... unless its best rotational similarity to the other
    #                                  kept views is below this: a lighter species' view, whose
    #                                  particles the other templates would miss (0: no exception)
    max_contrast_ratio: float = 4.0  # drop, first, a view whose RMS over the particle disc is
    #                                  above this × the typical view's (the share-weighted
    #                                  median of the kept views'): denser than any view of the
    #                                  particle, contamination or ice (at low SNR the strongest);
    #                                  a lighter species' view is within 1/this of the strongest
    limits: FeatureLimits = FeatureLimits()


@dataclasses.dataclass
class ClassChoice:
    """Per class: its number, score, verdict and the reason."""

    table: pd.DataFrame  # rlnClassNumber, distribution, resolution, features, chosen, reason


class NoTemplateError(InputError):
    """No class average passed the automatic template criteria (the verdicts are attached)."""

    def __init__(self, choice: ClassChoice) -> None:
        """Keep the per-class verdicts for the fallback and the report."""
        super().__init__("no class average passed the template criteria")
        self.choice = choice


def read_class_averages(model_star: str | os.PathLike[str]) -> tuple[pd.DataFrame, np.ndarray,
                                                                     float]:
    """``data_model_classes`` (with rlnClassNumber added), the averages and their pixel size."""
    path = Path(model_star)
    blocks = read_star(path)
    if "model_classes" not in blocks:
        raise InputError(f"{path}: no data_model_classes block (is this a _model.star?)")
    table = blocks["model_classes"].copy()
    for label in ("rlnReferenceImage", "rlnClassDistribution", "rlnEstimatedResolution"):
        if label not in table:
            raise InputError(f"{path}: data_model_classes lacks {label}")
    table["rlnClassNumber"] = np.arange(1, len(table) + 1)
    images, pixel = [], 0.0
    for entry in table["rlnReferenceImage"].astype(str):
        index, _, name = entry.rpartition("@")
        stack = read_image_stack(name)
        images.append(stack[int(index) - 1 if index else 0])
        pixel = pixel or read_mrc_header_pixel_size(name)
    return table, np.stack(images).astype(np.float32), pixel


def recenter(image: np.ndarray) -> np.ndarray:
    """Translate by minus the centre of mass, bilinear and wrapped around (RELION's --recenter)."""
    cy, cx = center_of_mass(image)
    return ndimage.shift(image, (-cy, -cx), order=1, mode="grid-wrap").astype(np.float32)


def _anisotropic_part(image: np.ndarray) -> np.ndarray:
    """The image minus its rotational average, normalised: what distinguishes views."""
    n = image.shape[0]
    y, x = np.mgrid[:n, :n] - n // 2
    radius = np.rint(np.hypot(y, x)).astype(int)
    profile = np.bincount(radius.ravel(), image.ravel()) / np.maximum(
        np.bincount(radius.ravel()), 1)
    rest = image - profile[radius]
    return rest / (np.linalg.norm(rest) or 1.0)


def rotational_similarity(a: np.ndarray, b: np.ndarray, step_deg: float = 5.0,
                          max_shift_px: int = 2) -> float:
    """How alike two class averages are as views: the best normalised correlation of their
    non-rotationally-symmetric parts over in-plane rotations and small shifts (1 = same view).
    """
    fa = np.conj(np.fft.rfft2(_anisotropic_part(a)))
    near = np.zeros(a.shape, dtype=bool)
    near[: max_shift_px + 1, : max_shift_px + 1] = True
    near = near | np.roll(np.roll(near[::-1, ::-1], 1, 0), 1, 1) | \
        np.roll(near[::-1, :], 1, 0) | np.roll(near[:, ::-1], 1, 1)
    best = -1.0
    for angle in np.arange(0.0, 360.0, step_deg):
        rotated = _anisotropic_part(ndimage.rotate(b, angle, reshape=False, order=1))
        cc = np.fft.irfft2(fa * np.fft.rfft2(rotated), s=a.shape)
        best = max(best, float(cc[near].max()))
    return best


def _features(table: pd.DataFrame, images: np.ndarray, geometry: ClassGeometry,
              pmax: pd.Series | None) -> pd.DataFrame:
    """Per class: share, resolution, mean Pmax, the image features (class_features)."""
    out = table[["rlnClassNumber", "rlnClassDistribution", "rlnEstimatedResolution"]].copy()
    feats = pd.DataFrame([class_features(image, geometry) for image in images], index=out.index)
    out = pd.concat([out, feats], axis=1)
    out["pmax"] = np.nan if pmax is None else \
        out["rlnClassNumber"].map(pmax).astype(float).to_numpy()
    weight = out["pmax"].fillna(1.0).clip(lower=1e-3)
    out["score"] = out["rlnClassDistribution"] * weight / \
        out["rlnEstimatedResolution"].clip(lower=1e-3)
    out["chosen"] = False
    out["relaxed"] = False  # kept below the resolution limit (most views are below it)
    out["reason"] = ""
    return out


def class_pmax(data_star: str | os.PathLike[str]) -> pd.Series:
    """Mean ``rlnMaxValueProbDistribution`` per ``rlnClassNumber`` of a Class2D data.star."""
    path = Path(data_star)
    particles = read_star(path).get("particles")
    if particles is None or not {"rlnClassNumber", "rlnMaxValueProbDistribution"} <= \
            set(particles.columns):
        raise InputError(f"{path}: needs data_particles with rlnClassNumber and "
                         "rlnMaxValueProbDistribution")
    return particles.groupby("rlnClassNumber")["rlnMaxValueProbDistribution"].mean()


def resolution_limit_a(criteria: SelectionCriteria, geometry: ClassGeometry) -> float:
    """The worst class resolution kept: ``max_resolution_a``, never finer than 2× Nyquist of
    the class averages, and never finer than an eighth of the particle diameter.

    A class average shows a view's shape once it resolves a few details across the particle:
    what matters is resolution against the particle's size. A 300 Å particle's views read
    clearly at 35–40 Å, where a fixed 30 Å would reject them all; for particles up to 240 Å
    the fixed value decides, as before.
    """
    diameter_a = 2.0 * geometry.particle_radius_px * geometry.pixel_a
    return max(criteria.max_resolution_a, 4.0 * geometry.pixel_a, diameter_a / 8.0)


def below_resolution_limit(resolution_a: np.ndarray, limit_a: float, box: int,
                           pixel_a: float) -> np.ndarray:
    """Which classes resolve less than ``limit_a``, judged in Fourier shells.

    A class's estimated resolution is a shell of its ``box``-px average (``box·pixel/s`` Å,
    the first shell whose SSNR drops below 1), so it moves in steps: 36.6, 30.5, 26.1 Å… for
    64 px at 2.86 Å/px. The limit is applied at the shell nearest to it: a class must resolve
    that shell. A class at 30.5 Å then passes a 30 Å limit (its estimate cannot say 30), and
    one at 34 Å (48 px at 3.54 Å/px: the shell below 28.3 Å) does not.
    """
    extent = box * pixel_a
    limit_shell = round(extent / limit_a)
    shell = np.rint(extent / np.clip(np.asarray(resolution_a, dtype=float), 1e-3, None))
    return shell < max(limit_shell, 1)


def _mark_junk(feats: pd.DataFrame, criteria: SelectionCriteria,
               geometry: ClassGeometry, box: int) -> None:
    """Give every junk class its reason, in order of how plain the reason is."""
    worst = resolution_limit_a(criteria, geometry)
    share = feats["rlnClassDistribution"]
    low = below_resolution_limit(feats["rlnEstimatedResolution"].to_numpy(float), worst, box,
                                 geometry.pixel_a)
    rules = {
        COLLAPSED: (share >= criteria.max_class_share) & (len(feats) >= 3),
        "few particles": feats["rlnClassDistribution"] < criteria.min_distribution,
        "low resolution": pd.Series(low, index=feats.index),
    }
    for reason, bad in rules.items():
        feats.loc[bad & (feats["reason"] == ""), "reason"] = reason
    for index in feats.index[feats["reason"] == ""]:
        feats.loc[index, "reason"] = junk_reason(feats.loc[index].to_dict(), criteria.limits)
    # views below the limit that hold more particles than the classes reaching it: a
    # classification low-resolution as a whole (images without CTF, large particles, few
    # particles), where at most a small class's estimate happens to reach the limit; those
    # views are judged by what they show, not by a limit the classification does not meet
    views = [i for i in feats.index[feats["reason"] == "low resolution"]
             if junk_reason(feats.loc[i].to_dict(), criteria.limits) == ""]
    if share[views].sum() > share[feats["reason"] == ""].sum():
        feats.loc[views, ["reason", "relaxed"]] = ["", True]
    _drop_poor_alignment(feats, criteria)


def _drop_poor_alignment(feats: pd.DataFrame, criteria: SelectionCriteria) -> None:
    """Candidates whose mean Pmax is under ``min_pmax_fraction`` × the best candidate's."""
    candidates = feats["reason"] == ""
    if candidates.any() and feats.loc[candidates, "pmax"].notna().any():
        best = feats.loc[candidates, "pmax"].max()
        poor = candidates & (feats["pmax"] < criteria.min_pmax_fraction * best)
        feats.loc[poor, "reason"] = "aligns poorly (low Pmax)"


def choose_classes(table: pd.DataFrame, images: np.ndarray, criteria: SelectionCriteria,
                   geometry: ClassGeometry, classes: list[int] | None = None,
                   pmax: pd.Series | None = None) -> ClassChoice:
    """Pick template classes: the listed ones, or automatically (see module docstring).

    Listed classes are kept whatever they look like (the verdict of the automatic check is
    still written beside them); a listed class that does not exist or holds no particles is
    an error. Raises :class:`NoTemplateError` when no class passes automatically.
    """
    feats = _features(table, images, geometry, pmax)
    if classes:
        return _listed(feats, classes, criteria, geometry, images.shape[-1])
    _mark_junk(feats, criteria, geometry, images.shape[-1])
    kept: list[int] = []
    candidates = list(feats[feats["reason"] == ""].sort_values("score", ascending=False).index)
    sims: dict[int, list[float]] = {index: [] for index in candidates}
    while candidates:
        index = max(candidates, key=lambda i: _marginal_score(feats, i, sims[i], criteria))
        candidates.remove(index)
        if len(kept) == criteria.n_templates:
            feats.loc[index, "reason"] = "enough templates"
            continue
        if sims[index] and max(sims[index]) >= criteria.max_similarity:
            twin = feats.loc[kept[int(np.argmax(sims[index]))], "rlnClassNumber"]
            feats.loc[index, "reason"] = f"same view as class {twin}"
            continue
        kept.append(index)
        if len(kept) < criteria.n_templates:
            for other in candidates:
                sims[other].append(rotational_similarity(images[index], images[other]))
        feats.loc[index, ["chosen", "reason"]] = [True, "distinct view" + (
            " (below the resolution limit, as most views are)" if feats.loc[index, "relaxed"]
            else "")]
    if not kept:
        raise NoTemplateError(ClassChoice(feats))
    _drop_contrast_outliers(feats, images, kept, criteria, geometry)
    return ClassChoice(feats)


def _marginal_score(feats: pd.DataFrame, index: int, sims: list[float],
                    criteria: SelectionCriteria) -> float:
    """A candidate's score less the part the kept views already cover: × (1 − its best
    similarity to them) ** diversity. With diversity 0, candidates go in order of score; the
    higher it is, the more a view close to a kept one (a third view of one species) gives way
    to a fainter, unlike one (the first view of another)."""
    free = max(1.0 - max(sims, default=0.0), 0.0)
    return float(feats.loc[index, "score"]) * free ** criteria.diversity


def _drop_contrast_outliers(feats: pd.DataFrame, images: np.ndarray, kept: list[int],
                            criteria: SelectionCriteria, geometry: ClassGeometry) -> None:
    """Un-choose kept views far denser than the typical view, then those much fainter than
    the strongest one left.

    Class averages share one intensity scale. Views of one particle differ in contrast over
    its disc by about the square root of its aspect ratio (an end-on rod against its side
    view), and two species by their mass; a class several times denser than the typical view
    (at the share-weighted median of the kept views' contrasts) is denser than the particle:
    specks of contamination or ice, which at low SNR outshine every view. It is judged against
    the typical view, not against the strongest, as the strongest is what it would distort,
    nor against the class holding most particles, which may be a faint one of empty ice. A
    view far fainter than the strongest left averages few particles with many empty-ice
    picks, and template picking divides each reference's FOM by that reference's expected
    excess for a perfect match (RELION's E − 1, which scales with the template's power): a
    faint template's FOMs would come out several times larger than the others' on noise
    alone. A faint view unlike every other view left (rotational similarity below
    ``species_similarity``) and within ``max_contrast_ratio`` of the strongest is kept: a
    lighter second species (a ring beside a dumbbell of 1.5× its diameter), whose particles
    no other template finds. A faint view like another one adds
    few particles the other finds and its noise; one fainter still is mostly empty ice.
    """
    n = images.shape[-1]
    yy, xx = np.mgrid[:n, :n] - n // 2
    disc = np.hypot(yy, xx) < geometry.particle_radius_px
    rms = {i: float(np.sqrt(np.mean(images[i][disc].astype(np.float64) ** 2))) for i in kept}
    typical = _typical_view(kept, rms, feats["rlnClassDistribution"])
    left = []
    for index in kept:
        ratio = rms[index] / max(rms[typical], 1e-12)
        if ratio > criteria.max_contrast_ratio:
            reason = (f"far denser than the typical view (class "
                      f"{feats.loc[typical, 'rlnClassNumber']}): {ratio:.1f}× its contrast; "
                      "contamination or ice")
            feats.loc[index, ["chosen", "reason"]] = [False, reason]
        else:
            left.append(index)
    strongest = max((rms[i] for i in left), default=0.0)
    for index in left:
        if rms[index] >= criteria.min_contrast_fraction * strongest:
            continue
        faint = f"{rms[index] / strongest:.2f} of the strongest view's contrast"
        alike = max((rotational_similarity(images[index], images[i]) for i in left
                     if i != index), default=1.0)
        if alike < criteria.species_similarity and \
                rms[index] * criteria.max_contrast_ratio >= strongest:
            feats.loc[index, "reason"] = (f"distinct view of a lighter species ({faint}, but "
                                          f"unlike every other view: similarity {alike:.2f})")
        elif alike < criteria.species_similarity:
            reason = (f"faint ({faint}: under 1/{criteria.max_contrast_ratio:g} even for a "
                      "lighter species; mostly empty ice)")
            feats.loc[index, ["chosen", "reason"]] = [False, reason]
        else:
            feats.loc[index, ["chosen", "reason"]] = [
                False, f"faint ({faint}; like another view: similarity {alike:.2f})"]


def _typical_view(kept: list[int], rms: dict[int, float], share: pd.Series) -> int:
    """The kept view at the share-weighted median of their contrasts: the contrast most of the
    kept particles show, whichever single class (specks, or a faint class of mostly empty ice)
    holds the largest share."""
    order = sorted(kept, key=lambda i: rms[i])
    weights = np.array([max(float(share[i]), 0.0) for i in order])
    cumulative = np.cumsum(weights)
    return order[int(np.searchsorted(cumulative, 0.5 * cumulative[-1]))]


def _listed(feats: pd.DataFrame, classes: list[int], criteria: SelectionCriteria,
            geometry: ClassGeometry, box: int) -> ClassChoice:
    unknown = sorted(set(classes) - set(feats["rlnClassNumber"]))
    if unknown:
        raise InputError(f"classes {unknown} do not exist (model has {len(feats)} classes)")
    _mark_junk(feats, criteria, geometry, box)
    listed = feats["rlnClassNumber"].isin(classes)
    empty = feats.loc[listed & (feats["rlnClassDistribution"] <= 0), "rlnClassNumber"].tolist()
    if empty:
        raise InputError(f"listed classes {empty} hold no particles")
    verdict = feats.loc[listed, "reason"]
    feats.loc[listed, "reason"] = ["listed" + (f" (looks like: {v})" if v else "")
                                   for v in verdict]
    feats.loc[listed, "chosen"] = True
    feats.loc[~listed & (feats["reason"] == ""), "reason"] = "not listed (looks like a view)"
    return ClassChoice(feats)


def write_templates(table: pd.DataFrame, images: np.ndarray, choice: ClassChoice,
                    pixel_a: float, out_star: str | os.PathLike[str], do_recenter: bool) -> None:
    """``class_averages.star`` (+ ``class_averages.mrcs`` when re-centring), RELION's layout."""
    out_star = Path(out_star)
    chosen = choice.table["chosen"].to_numpy()
    rows = table[chosen].copy()
    labels = [c for c in ("rlnReferenceImage", "rlnClassDistribution", "rlnAccuracyRotations",
                          "rlnAccuracyTranslationsAngst", "rlnEstimatedResolution",
                          "rlnOverallFourierCompleteness", "rlnClassPriorOffsetX",
                          "rlnClassPriorOffsetY", "rlnClassNumber") if c in rows]
    rows = rows[labels]
    if do_recenter:
        stack_path = out_star.with_suffix(".mrcs")
        write_mrc(stack_path, np.stack([recenter(img) for img in images[chosen]]), pixel_a,
                  stack=True)
        rows["rlnReferenceImage"] = [f"{i:06d}@{stack_path}" for i in range(1, len(rows) + 1)]
    write_star(out_star, {"": rows})
    logger.info("wrote %s (%d templates: classes %s)", out_star, len(rows),
                ", ".join(str(c) for c in rows["rlnClassNumber"]))
