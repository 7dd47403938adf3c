"""Synthetic 2D class averages: particle views and every kind of junk a class can hold.

Imported by the unit tests of template choice (tests/ is on sys.path). Images are 64² at
3.54 Å/px (the tutorial's 256 → 64 rescaling at 0.885 Å/px), particles white on a zero
background, masked at 200 Å, with the residual noise of an average of ~100 particles.
"""

from __future__ import annotations

import numpy as np

from cryopick.simulate import make_blobs, project_blobs

N, PIXEL_A, MASK_A = 64, 3.54, 200.0
MASK_R = MASK_A / (2 * PIXEL_A)
JUNK_SIZES = (0.4, 0.55, 0.7, 0.85, 1.0)  # of the mask diameter
_YY, _XX = np.mgrid[:N, :N] - N // 2
_R = np.hypot(_YY, _XX)


def finish(image: np.ndarray, seed: int, noise: float = 0.04) -> np.ndarray:
    """Scale to a peak of 1, add noise, apply the soft circular mask of the classification."""
    image = image / max(float(np.abs(image).max()), 1e-12)
    image = image + noise * np.random.default_rng(seed).normal(size=image.shape)
    mask = np.clip((MASK_R + 3 - _R) / 3, 0, 1)
    return (image * mask).astype(np.float32)


def soft_disc(radius: float, cy: float = 0.0, cx: float = 0.0, width: float = 1.5):
    return 1.0 / (1.0 + np.exp((np.hypot(_YY - cy, _XX - cx) - radius) / width))


def views(diameter_a: float, n: int = 3, seed: int = 0) -> list[np.ndarray]:
    """``n`` projections of the simulator's asymmetric particle in well-separated directions."""
    angles = [(0, 90, 0), (90, 90, 30), (0, 0, 60), (45, 45, 10), (200, 120, 80)][:n]
    blobs = make_blobs(diameter_a, seed)
    return [finish(project_blobs(blobs, a, N, PIXEL_A), seed + i) for i, a in enumerate(angles)]


def lobed_view(rotation_deg: float, shift_px: tuple[float, float], lobe_px: float = 2.2,
               seed: int = 0) -> np.ndarray:
    """A side view of a ring of lobes (two rows of four, 0.85 of the mask long) whose lobes do
    not join: the outer half lie farther than 0.6 particle radii from the centre, as a large
    ring's do in a class average at 4-5 Å/px; moved ``shift_px`` off the box centre."""
    t = np.radians(rotation_deg)
    image = np.zeros((N, N))
    for x0 in (-0.67 * MASK_R, -0.22 * MASK_R, 0.22 * MASK_R, 0.67 * MASK_R):
        for y0 in (-0.18 * MASK_R, 0.18 * MASK_R):
            y = x0 * np.sin(t) + y0 * np.cos(t) + shift_px[0]
            x = x0 * np.cos(t) - y0 * np.sin(t) + shift_px[1]
            image += np.exp(-((_YY - y) ** 2 + (_XX - x) ** 2) / (2 * lobe_px**2))
    return finish(image, seed)


def shell_view(diameter_a: float, wall: float, blur_px: float, seed: int = 0) -> np.ndarray:
    """A hollow shell's projection (every view is its top view): a disc with a bright rim,
    the wall ``wall`` of the radius thick, blurred by ``blur_px``: rotationally symmetric and
    flat along its rim, yet a particle."""
    from scipy import ndimage

    outer = diameter_a / (2 * PIXEL_A)
    inner = outer * (1.0 - wall)
    chord = np.sqrt(np.clip(outer**2 - _R**2, 0, None)) - \
        np.sqrt(np.clip(inner**2 - _R**2, 0, None))
    return finish(ndimage.gaussian_filter(chord, blur_px), seed)


def junk(kind: str, size: float, seed: int = 0) -> np.ndarray:
    """One junk class average; ``size`` is its extent as a fraction of the mask diameter."""
    radius = size * MASK_R
    rng = np.random.default_rng(seed)
    if kind == "disc":  # empty ice and off-centre picks averaged: a filled, featureless disc
        image = soft_disc(radius)
    elif kind == "blob":  # the same, softer
        image = np.exp(-_R**2 / (2 * (radius / 1.18) ** 2))
    elif kind == "partial disc":  # a disc cut by a chord (picks at the edge of a hole)
        image = soft_disc(radius) * (1 / (1 + np.exp((_XX - 0.3 * radius) / 1.5)))
    elif kind == "stripes":  # crowded elongated neighbours side by side
        period = max(2 * radius, 8.0)
        image = np.clip(np.cos(2 * np.pi * (_XX * 0.8 + _YY * 0.6) / period), 0, None)
    elif kind == "lattice":  # a particle and its touching neighbours
        image = sum(np.exp(-((_YY - dy) ** 2 + (_XX - dx) ** 2) / (2 * (radius / 2.4) ** 2))
                    for dy, dx in [(0, 0)] + [(radius * np.sin(a), radius * np.cos(a))
                                              for a in np.radians(np.arange(0, 360, 60) + 15)])
    elif kind == "contamination":  # a large ice blob covering the box to the mask edge
        image = soft_disc(2.5 * MASK_R, cy=0.0, cx=2.5 * MASK_R - 2 * radius + 0.2 * MASK_R)
    elif kind == "carbon":  # a carbon edge across the box: one side brighter
        image = 1 / (1 + np.exp((_XX * 0.6 - _YY * 0.8 - (1 - 2 * size) * MASK_R * 0.8) / 1.5))
    elif kind == "noise":  # picks of nothing: noise, smoothed on the scale of the size
        from scipy import ndimage

        image = ndimage.gaussian_filter(rng.normal(size=(N, N)), 0.05 * radius + 0.5)
        return finish(image, seed, noise=0.0)
    else:
        raise ValueError(kind)
    return finish(image, seed)


JUNK_KINDS = ("disc", "blob", "partial disc", "stripes", "lattice", "contamination", "carbon",
              "noise")
