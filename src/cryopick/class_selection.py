"""Choosing 2D class averages as picking templates (RELION's Select job, without the clicks).

Classes are taken from a list, or chosen automatically: junk is dropped (too few particles,
poor estimated resolution, mass far off-centre, mass filling the mask to its edge as
contamination does, featureless/smeared averages), the rest are
ranked by ``rlnClassDistribution / rlnEstimatedResolution`` and kept greedily while they are
distinct views (best rotational cross-correlation with every kept class below a limit).
Chosen averages are re-centred on their centre of mass as RELION's ``--recenter`` does and
written as ``class_averages.star`` + ``class_averages.mrcs``.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import ndimage

from cryopick.errors import InputError
from cryopick.io.mrc import read_image_stack, read_mrc_header_pixel_size, write_mrc
from cryopick.io.star import read_star, write_star

__all__ = ["ClassChoice", "SelectionCriteria", "center_of_mass", "choose_classes",
           "read_class_averages", "recenter", "rotational_similarity", "write_templates"]

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class SelectionCriteria:
    """How classes are judged when chosen automatically."""

    n_templates: int = 4
    min_distribution: float = 0.01  # drop classes holding less than this fraction
    max_resolution_a: float = 30.0  # drop classes whose estimated resolution is worse
    max_offcentre_fraction: float = 0.1  # drop if the centre of mass is this far off (of box)
    min_contrast_fraction: float = 0.5  # drop if contrast < this × the median kept contrast
    max_similarity: float = 0.85  # a new template must correlate less with every kept one
    max_edge_fraction: float = 0.3  # drop if the mass at the mask edge is this × the centre's


@dataclasses.dataclass
class ClassChoice:
    """Per class: its number, score, verdict and the reason."""

    table: pd.DataFrame  # rlnClassNumber, distribution, resolution, score, chosen, reason


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


def center_of_mass(image: np.ndarray) -> tuple[float, float]:
    """Centre of mass ``(y, x)`` of the positive pixels, in logical coordinates (centre n//2)."""
    n_y, n_x = image.shape
    weights = np.where(image > 0, image, 0.0).astype(np.float64)
    total = weights.sum()
    if total <= 0:
        return 0.0, 0.0
    y = np.arange(n_y) - n_y // 2
    x = np.arange(n_x) - n_x // 2
    return float((weights.sum(axis=1) * y).sum() / total), \
        float((weights.sum(axis=0) * x).sum() / total)


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


def _features(table: pd.DataFrame, images: np.ndarray, mask_radius_px: float) -> pd.DataFrame:
    n = images.shape[-1]
    y, x = np.mgrid[:n, :n] - n // 2
    inside = (x**2 + y**2) < mask_radius_px**2
    out = table[["rlnClassNumber", "rlnClassDistribution", "rlnEstimatedResolution"]].copy()
    out["offcentre_px"] = [float(np.hypot(*center_of_mass(img))) for img in images]
    out["contrast"] = [float(img[inside].std()) for img in images]
    # contamination and neighbours fill the mask to its edge; a centred particle does not
    radius = np.hypot(x, y)
    edge = (radius >= 0.8 * mask_radius_px) & (radius < mask_radius_px)
    core = radius < 0.5 * mask_radius_px
    out["edge_fraction"] = [float(np.abs(img[edge]).mean() / max(np.abs(img[core]).mean(), 1e-12))
                            for img in images]
    out["score"] = out["rlnClassDistribution"] / out["rlnEstimatedResolution"].clip(lower=1e-3)
    return out


def choose_classes(table: pd.DataFrame, images: np.ndarray, criteria: SelectionCriteria,
                   mask_radius_px: float, classes: list[int] | None = None) -> ClassChoice:
    """Pick template classes: the listed ones, or automatically (see module docstring)."""
    feats = _features(table, images, mask_radius_px)
    feats["chosen"] = False
    feats["reason"] = ""
    if classes:
        unknown = sorted(set(classes) - set(feats["rlnClassNumber"]))
        if unknown:
            raise InputError(f"classes {unknown} do not exist (model has {len(feats)} classes)")
        feats.loc[feats["rlnClassNumber"].isin(classes), ["chosen", "reason"]] = [True, "listed"]
        return ClassChoice(feats)
    n = images.shape[-1]
    junk = {
        "few particles": feats["rlnClassDistribution"] < criteria.min_distribution,
        "low resolution": feats["rlnEstimatedResolution"] > criteria.max_resolution_a,
        "off-centre": feats["offcentre_px"] > criteria.max_offcentre_fraction * n,
        "fills the mask (contamination?)": feats["edge_fraction"] > criteria.max_edge_fraction,
    }
    for reason, bad in junk.items():
        feats.loc[bad & (feats["reason"] == ""), "reason"] = reason
    candidates = feats["reason"] == ""
    if candidates.any():
        median = feats.loc[candidates, "contrast"].median()
        smeared = candidates & (feats["contrast"] < criteria.min_contrast_fraction * median)
        feats.loc[smeared, "reason"] = "featureless/smeared"
    kept: list[int] = []
    for index in feats[feats["reason"] == ""].sort_values("score", ascending=False).index:
        if len(kept) == criteria.n_templates:
            feats.loc[index, "reason"] = "enough templates"
            continue
        sims = [rotational_similarity(images[k], images[index]) for k in kept]
        if sims and max(sims) >= criteria.max_similarity:
            feats.loc[index, "reason"] = f"same view as class {feats.loc[kept[int(np.argmax(sims))], 'rlnClassNumber']}"
            continue
        kept.append(index)
        feats.loc[index, ["chosen", "reason"]] = [True, "distinct view"]
    if not kept:
        raise InputError("no class average passed the template criteria; list classes by hand "
                         "(select_templates.classes) or relax the criteria")
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
