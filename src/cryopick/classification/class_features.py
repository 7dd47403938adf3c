"""What a cryo-EM scientist reads off a 2D class average to tell a particle view from junk.

Every feature is measured on the class average itself, low-passed to 25 Å (as RELION 4's
class ranker does), against the particle diameter and the classification's mask, so a verdict
does not depend on how many particles the class holds or on what the other classes look like:

- ``snr``: the central density's height over the high-frequency residue (what a low-pass
  removes); noise classes have no density standing out of their own noise;
- ``scattered``: the share of the density outside the particle's island (speckled noise).
  The island is the density's connected parts (above half its central peak) that reach within
  0.6 particle radii of the particle's centre or lie mostly within its radius: the domains of
  a view, lobes that do not join included (a ring's, a dumbbell's). It is found about the box
  centre, then again about the island's centre of mass, so that a view a few pixels off the
  box centre is judged as the view it is;
- ``edge``: the share of the mask's outer ring farther than the particle radius from the
  particle's centre covered by density: contamination, carbon and crowded neighbours
  (stripes, lattices) fill it;
- ``offcentre``: the centre of mass's distance from the box centre, in mask radii (the
  island found about the box centre);
- ``solvent``: the spread of the density around the particle (inside the mask, outside the
  island), relative to its peak: flat around a view, blotchy to the mask edge in
  classes of empty-ice picks (RELION 4's ranker reads the solvent's std too);
- ``anisotropy``: the part of the density that is not its rotational average (about its
  centre of mass; near 1: no centred density, noise); ``radial_dip``: how deep the rotational
  average dips inside the particle (a ring, a hollow top view); ``plateau``: the share of the
  density's outline where it stays within 20 % of its peak (a filled or cut disc is flat on
  top; the domains of a view are not). A view needs in-plane structure or a structured radial
  profile, and no flat top unless its radial profile dips deep inside (a hollow shell's or
  ring's bright rim is flat along the rim); a featureless disc or blob fails one or the other.

Limits were set on simulated class averages (tests/class_junk.py) and on the demo's classes:
views of particles 110-200 Å in a 200 Å mask have anisotropy 0.23-0.55 and plateau ≤ 0.36,
filled and cut discs plateau ≥ 0.51, blobs anisotropy ≤ 0.04. Views in the demo's and a tune
set's classes have solvent 0.05-0.10, that set's empty-ice classes 0.18-0.38. Of the classes of
65 simulated projects that failed the structure test, the featureless discs dip by ≤ 0.08 and a
150 Å shell's top view, textured but shallow at 25 Å, by 0.124: structure starts at a dip of 0.10.
Of the classes that failed the flat-top test, the featureless discs dip by ≤ 0.078 and the
flat-rimmed views of shells and rings by 0.107-0.164: a hollow view starts at a dip of 0.12,
clear of the discs (the one view under it was a second view of its set).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
from scipy import ndimage

__all__ = ["ClassGeometry", "FeatureLimits", "class_features", "junk_reason", "lowpass"]

LOWPASS_A = 25.0  # resolution of the density the features read (RELION 4's ranker: 25 Å)


@dataclasses.dataclass(frozen=True)
class ClassGeometry:
    """Scale of the class averages: pixel size, mask radius and expected particle radius."""

    pixel_a: float
    mask_radius_px: float
    particle_radius_px: float

    def __post_init__(self) -> None:
        """Reject sizes that cannot describe a class average."""
        if not (self.pixel_a > 0 and self.mask_radius_px > 0 and self.particle_radius_px > 0):
            raise ValueError(f"pixel size, mask and particle radius must be > 0, got {self}")


@dataclasses.dataclass(frozen=True)
class FeatureLimits:
    """Where a feature turns a class into junk (see the module docstring)."""

    min_snr: float = 4.0  # central density / high-frequency residue
    max_scattered: float = 0.35  # share of the density outside the central island
    max_edge: float = 0.15  # share of the ring inside the mask edge covered by density
    max_offcentre: float = 0.3  # centre of mass off the box centre, in mask radii
    max_solvent: float = 0.15  # spread of the solvent around the particle, × its peak
    max_anisotropy: float = 0.8  # no centred density at all: noise
    min_anisotropy: float = 0.2  # in-plane structure beyond the rotational average ...
    min_radial_dip: float = 0.10  # ... or a ring-like radial profile ...
    max_plateau: float = 0.45  # ... and (either way) no flat top over its outline ...
    hollow_dip: float = 0.12  # ... unless its radial profile dips this deep: a hollow view


def lowpass(image: np.ndarray, pixel_a: float, resolution_a: float = LOWPASS_A) -> np.ndarray:
    """Gaussian low-pass whose transfer is 1/2 at ``resolution_a``."""
    return ndimage.gaussian_filter(np.asarray(image, np.float64),
                                   _sigma_px(pixel_a, resolution_a), mode="constant")


def _sigma_px(pixel_a: float, resolution_a: float) -> float:
    """Width (px) of the Gaussian whose transfer is 1/2 at ``resolution_a``."""
    return math.sqrt(math.log(2.0) / 2.0) / math.pi * resolution_a / pixel_a


def _rotational_residue(image: np.ndarray, centre: tuple[float, float],
                        inside: np.ndarray) -> tuple[float, np.ndarray]:
    """Norm of the non-rotationally-symmetric part (relative) and the radial profile."""
    n_y, n_x = image.shape
    y, x = np.mgrid[:n_y, :n_x]
    radius = np.rint(np.hypot(y - centre[0], x - centre[1])).astype(int)
    sums = np.bincount(radius[inside], image[inside], minlength=radius.max() + 1)
    counts = np.bincount(radius[inside], minlength=radius.max() + 1)
    profile = sums / np.maximum(counts, 1)
    rest = (image - profile[radius])[inside]
    total = float(np.linalg.norm(image[inside])) or 1.0
    return float(np.linalg.norm(rest)) / total, profile[counts > 0]


def _island(support: np.ndarray, weights: np.ndarray, radius: np.ndarray,
            particle_px: float) -> np.ndarray:
    """The connected parts of ``support`` that reach within 0.6 ``particle_px`` of the centre
    ``radius`` is measured from, or hold most of their ``weights`` within ``particle_px``."""
    labels, n = ndimage.label(support)
    if not n:
        return support
    index = np.arange(1, n + 1)
    reach = np.unique(labels[(radius < 0.6 * particle_px) & support])
    total = ndimage.sum(weights, labels, index)
    within = ndimage.sum(weights * (radius < particle_px), labels, index)
    parts = np.union1d(reach[reach > 0], index[within >= 0.5 * np.maximum(total, 1e-12)])
    return np.isin(labels, parts)


def _centre_of_mass(weights: np.ndarray, y: np.ndarray, x: np.ndarray) -> tuple[float, float]:
    total = float(weights.sum()) or 1e-12
    return float((weights * y).sum()) / total, float((weights * x).sum()) / total


def _particle(support: np.ndarray, positive: np.ndarray, y: np.ndarray, x: np.ndarray,
              radius: np.ndarray, particle_px: float
              ) -> tuple[np.ndarray, tuple[float, float], float]:
    """The particle's island and centre of mass (found about the box centre, whose distance
    is ``radius``, then about that centre of mass), and the first centre's distance from the
    box centre (px)."""
    island = _island(support, positive, radius, particle_px)
    first = _centre_of_mass(positive * island, y, x)
    island = _island(support, positive, np.hypot(y - first[0], x - first[1]), particle_px)
    return island, _centre_of_mass(positive * island, y, x), math.hypot(*first)


def class_features(image: np.ndarray, geometry: ClassGeometry) -> dict[str, float]:
    """The features of one ``(n, n)`` class average (particles white, background ~0)."""
    n = image.shape[-1]
    g = geometry
    y, x = np.mgrid[:n, :n] - n // 2
    radius = np.hypot(y, x)
    mask_r = min(g.mask_radius_px, n / 2.0)
    inside = radius < mask_r
    smooth = lowpass(image, g.pixel_a)
    central = radius < max(0.6 * min(g.particle_radius_px, mask_r), 2.0)
    peak = float(np.percentile(smooth[central], 99))
    residue = float(np.std((image - smooth)[inside])) or 1e-12
    out = {"snr": peak / residue, "scattered": 1.0, "edge": 0.0, "offcentre": 1.0,
           "anisotropy": 0.0, "radial_dip": 0.0, "plateau": 1.0, "solvent": 1.0}
    if peak <= 0:
        return out
    support = inside & (smooth > 0.5 * peak)
    positive = np.where(inside, np.clip(smooth, 0.0, None), 0.0)
    island, centre, off_px = _particle(support, positive, y, x, radius,
                                       min(g.particle_radius_px, mask_r))
    out["scattered"] = 1.0 - float(positive[island].sum()) / max(float(positive[support].sum()),
                                                                 1e-12)
    # the mask's outer ring beyond the particle's radius: a particle leaves it empty
    r_in = min(max(0.85 * mask_r, 1.05 * g.particle_radius_px), mask_r - 1.5)
    ring = (np.hypot(y - centre[0], x - centre[1]) >= r_in) & (radius < mask_r - 0.5)
    out["edge"] = float(np.mean(smooth[ring] > 0.3 * peak)) if ring.any() else 0.0
    out["offcentre"] = off_px / mask_r
    centre_px = (centre[0] + n // 2, centre[1] + n // 2)
    out["anisotropy"], profile = _rotational_residue(smooth, centre_px, inside)
    profile = profile[: max(int(math.ceil(min(g.particle_radius_px, mask_r))), 2)]
    later_max = np.maximum.accumulate(profile[::-1])[::-1]
    out["radial_dip"] = float(np.max(later_max - profile)) / peak
    # around a particle the average is flat solvent; empty-ice classes are blotchy to the edge
    solvent = inside & ~ndimage.binary_dilation(
        island, iterations=max(2, int(math.ceil(2.5 * _sigma_px(g.pixel_a, LOWPASS_A)))))
    out["solvent"] = float(np.std(smooth[solvent])) / peak if solvent.sum() >= 8 else 0.0
    # a flat-topped blob stays near its peak over most of its outline; domains of a view do not
    out["plateau"] = float(np.mean(smooth[island] > 0.8 * peak)) if island.any() else 1.0
    return out


def junk_reason(features: dict[str, float], limits: FeatureLimits) -> str:
    """Why a class is junk (empty string: it looks like a particle view)."""
    f = features
    if f["snr"] < limits.min_snr or f["scattered"] > limits.max_scattered or \
            f["anisotropy"] > limits.max_anisotropy:
        return "noise: no density stands out"
    if f["edge"] > limits.max_edge:
        return "density at the mask edge (contamination, carbon or neighbours)"
    if f["offcentre"] > limits.max_offcentre:
        return "off-centre"
    if f["solvent"] > limits.max_solvent:
        return "blotchy solvent (empty ice, noise)"
    structured = f["anisotropy"] >= limits.min_anisotropy or \
        f["radial_dip"] >= limits.min_radial_dip
    hollow = f["radial_dip"] >= limits.hollow_dip  # a shell's or ring's bright rim is no flat top
    if not structured or (f["plateau"] > limits.max_plateau and not hollow):
        return "featureless disc/blob"
    return ""
