"""Where a simulated micrograph's junk lies: contamination blobs, specks and carbon.

The simulator draws each blob's and each carbon edge's parameters, renders them into the
image, and writes the same parameters beside the particle truth
(``Demo/truth/<mic>_junk.star``). :func:`junk_mask` renders them back into a boolean mask,
so that tests and benchmarks can ask whether a pick lies on junk.
"""

from __future__ import annotations

import dataclasses
import math
import os
from pathlib import Path

import numpy as np
import pandas as pd

from cryopick.errors import InputError
from cryopick.io.star import read_star, write_star

__all__ = ["CarbonEdge", "JunkTruth", "carbon_mask", "contamination_profile", "junk_mask",
           "read_junk", "write_junk"]

TRUTH_DIR = "Demo/truth"
KINDS = {1: "contamination", 2: "speck"}
_BLOB_LABELS = ["rlnCoordinateX", "rlnCoordinateY", "cryopickJunkRadius", "cryopickJunkDepth",
                "cryopickJunkPhase2", "cryopickJunkPhase3", "cryopickJunkWobble",
                "cryopickJunkKind"]


@dataclasses.dataclass(frozen=True)
class CarbonEdge:
    """A carbon film beyond a gently curved line: its normal's angle and its bend (−1..1)."""

    angle_rad: float
    bend: float

    @classmethod
    def random(cls, rng: np.random.Generator) -> CarbonEdge:
        """Draw an edge: any direction, a bend in [−1, 1]."""
        angle = rng.uniform(0.0, 2.0 * math.pi)
        return cls(float(angle), float(rng.uniform(-1.0, 1.0)))


def carbon_mask(ny: int, nx: int, edge: CarbonEdge) -> np.ndarray:
    """Soft (ny, nx) mask (0..1) of the carbon film; > 0.5 on the carbon."""
    normal = np.array([math.sin(edge.angle_rad), math.cos(edge.angle_rad)], dtype=np.float32)
    # the line passes ~30% of the way in from one side, so carbon covers about a quarter
    centre = np.array([ny, nx], dtype=np.float32) * (0.5 + 0.22 * normal)
    yy = np.arange(ny, dtype=np.float32)[:, None] - centre[0]
    xx = np.arange(nx, dtype=np.float32)[None, :] - centre[1]
    along = -normal[1] * yy + normal[0] * xx
    curvature = np.float32(edge.bend * 0.3 / max(ny, nx))
    distance = normal[0] * yy + normal[1] * xx + curvature * along**2
    return (1.0 / (1.0 + np.exp(-np.clip(distance / 6.0, -30, 30)))).astype(np.float32)


def _blob_window(row: np.ndarray, ny: int, nx: int, reach_factor: float = 1.5):
    """Pixel window about a blob and the signed distance (px) to its edge (< 0 inside)."""
    y, x, radius, _depth, phase2, phase3, wobble = row[:7]
    reach = int(math.ceil(reach_factor * radius))
    y0, y1 = max(0, int(y) - reach), min(ny, int(y) + reach)
    x0, x1 = max(0, int(x) - reach), min(nx, int(x) + reach)
    if y0 >= y1 or x0 >= x1:
        return None
    dy = np.arange(y0, y1, dtype=np.float32)[:, None] - np.float32(y)
    dx = np.arange(x0, x1, dtype=np.float32)[None, :] - np.float32(x)
    theta = np.arctan2(dy, dx)
    edge = radius * (1 + wobble * np.cos(2 * theta + phase2)
                     + 0.5 * wobble * np.cos(3 * theta + phase3))
    return (y0, y1, x0, x1), np.hypot(dy, dx) - edge


def contamination_profile(row: np.ndarray, ny: int, nx: int):
    """Darkening by one blob ``(y, x, radius, depth, phase2, phase3, wobble)``: window, values.

    An irregular soft disc with a thin bright fringe; ``None`` when it misses the image.
    """
    window = _blob_window(row, ny, nx)
    if window is None:
        return None
    bounds, inside = window
    radius, depth = row[2], row[3]
    width = max(2.0, 0.04 * radius)
    profile = depth / (1.0 + np.exp(np.clip(inside / width, -30, 30)))
    fringe = 0.3 * depth * np.exp(-((inside - 1.5 * width) / width) ** 2)
    return bounds, (profile - fringe).astype(np.float32)


@dataclasses.dataclass(frozen=True)
class JunkTruth:
    """The junk of one micrograph: its size, blobs ``(k, 7)`` with their kinds, carbon edge."""

    ny: int
    nx: int
    blobs: np.ndarray       # (k, 7): y, x, radius (px), depth, phase2, phase3, wobble
    kinds: np.ndarray       # (k,) 1 = contamination blob, 2 = speck
    carbon: CarbonEdge | None


def write_junk(path: str | os.PathLike[str], truth: JunkTruth) -> None:
    """Write a micrograph's junk as STAR: ``micrograph``, ``blobs`` and (if any) ``carbon``."""
    y, x, *rest = truth.blobs.T
    table = pd.DataFrame(dict(zip(_BLOB_LABELS, [x, y, *rest, truth.kinds.astype(int)],
                                  strict=True)))
    blocks = {"micrograph": {"rlnImageSizeX": truth.nx, "rlnImageSizeY": truth.ny,
                             "cryopickCarbon": int(truth.carbon is not None)},
              "blobs": table}
    if truth.carbon is not None:
        blocks["carbon"] = {"cryopickCarbonAngle": truth.carbon.angle_rad,
                            "cryopickCarbonBend": truth.carbon.bend}
    write_star(path, blocks)


def read_junk(project_dir: str | os.PathLike[str], mic_name: str) -> JunkTruth:
    """Read ``Demo/truth/<stem>_junk.star`` of a simulated project (``mic_name``: path or stem)."""
    path = Path(project_dir) / TRUTH_DIR / f"{Path(mic_name).stem}_junk.star"
    if not path.is_file():
        raise InputError(f"{path}: no junk truth (not a simulated micrograph?)")
    blocks = read_star(path)
    info = blocks["micrograph"]
    ny, nx = int(info["rlnImageSizeY"].iloc[0]), int(info["rlnImageSizeX"].iloc[0])
    table = blocks.get("blobs")
    if table is None or len(table) == 0:
        blobs, kinds = np.zeros((0, 7)), np.zeros(0, dtype=int)
    else:
        values = table[_BLOB_LABELS].to_numpy(float)
        blobs = np.column_stack([values[:, 1], values[:, 0], values[:, 2:7]])
        kinds = values[:, 7].astype(int)
    carbon = None
    if "carbon" in blocks:
        row = blocks["carbon"]
        carbon = CarbonEdge(float(row["cryopickCarbonAngle"].iloc[0]),
                            float(row["cryopickCarbonBend"].iloc[0]))
    return JunkTruth(ny, nx, blobs, kinds, carbon)


def junk_mask(project_dir: str | os.PathLike[str], mic_name: str, *, margin_px: float = 0.0,
              kinds: tuple[str, ...] = ("contamination", "speck", "carbon")) -> np.ndarray:
    """Boolean (ny, nx) mask of a simulated micrograph's junk: True on blobs and carbon.

    Parameters
    ----------
    project_dir : path
        The simulated project.
    mic_name : str
        The micrograph's path as in the STAR file, or its stem (``mic001``).
    margin_px : float
        Grow every blob and the carbon by this many pixels.
    kinds : tuple of str
        Which junk to include: ``contamination`` (large blobs), ``speck``, ``carbon``.

    Returns
    -------
    (ny, nx) bool array.
    """
    truth = read_junk(project_dir, mic_name)
    mask = np.zeros((truth.ny, truth.nx), dtype=bool)
    wanted = [k for k, name in KINDS.items() if name in kinds]
    for row, kind in zip(truth.blobs, truth.kinds, strict=True):
        if kind not in wanted:
            continue
        window = _blob_window(row, truth.ny, truth.nx,
                              reach_factor=1.5 + margin_px / max(row[2], 1.0))
        if window is not None:
            (y0, y1, x0, x1), inside = window
            mask[y0:y1, x0:x1] |= inside < margin_px
    if "carbon" in kinds and truth.carbon is not None:
        soft = carbon_mask(truth.ny, truth.nx, truth.carbon)
        # the soft edge is a logistic of distance / 6 px: 0.5 on the line
        threshold = 1.0 / (1.0 + math.exp(min(30.0, margin_px / 6.0)))
        mask |= soft > threshold
    return mask
