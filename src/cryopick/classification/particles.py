"""Particle sets for 2D classification: a RELION 3.1 particles.star, its groups, CTFs and images.

Reading validates everything a classification needs before any computation (so that bad
input never leaves a partial iteration behind): optics groups with one box size and pixel
size, ``rlnImageName`` entries that point at existing stacks of that size, CTF labels when
``--ctf`` is asked for, and finite pixel values.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from pathlib import Path

import mrcfile
import numpy as np
import pandas as pd

from cryopick.errors import InputError
from cryopick.io.star import post_name, read_star

__all__ = ["ImageSource", "ParticleSet", "read_particles"]

logger = logging.getLogger(__name__)

_CTF_OPTICS = ("rlnVoltage", "rlnSphericalAberration", "rlnAmplitudeContrast")


@dataclasses.dataclass
class ParticleSet:
    """A particles.star: optics, one row per particle, and what classification derives from it.

    ``group`` is 0-based (``rlnGroupName`` if present, else the micrograph's pipeline-stripped
    name, in order of first appearance); ``ctf`` holds per-particle CTF parameter arrays.
    """

    path: Path
    optics: pd.DataFrame
    table: pd.DataFrame
    box_px: int
    pixel_a: float
    group: np.ndarray  # (N,) int
    group_names: list[str]
    ctf: dict[str, np.ndarray] | None
    stack_of: np.ndarray  # (N,) index into stacks
    slot_of: np.ndarray  # (N,) 0-based image index inside its stack
    stacks: list[str]

    @property
    def n(self) -> int:
        return len(self.table)

    def column(self, label: str, default: float) -> np.ndarray:
        """A numeric column as float64, ``default`` where absent."""
        if label in self.table.columns:
            return self.table[label].to_numpy(np.float64)
        return np.full(self.n, default, np.float64)


def read_particles(path: str | os.PathLike[str], need_ctf: bool) -> ParticleSet:
    """Read and validate a RELION 3.1 particles.star (``data_optics`` + ``data_particles``)."""
    path = Path(path)
    blocks = read_star(path)
    if "particles" not in blocks:
        raise InputError(f"{path}: no data_particles block (is this a RELION 3.1 particles.star?)")
    table = blocks["particles"].reset_index(drop=True)
    optics = blocks.get("optics")
    if optics is None or "rlnOpticsGroup" not in optics.columns:
        raise InputError(f"{path}: no data_optics block with rlnOpticsGroup")
    if "rlnImageName" not in table.columns or len(table) == 0:
        raise InputError(f"{path}: data_particles has no rlnImageName column or no rows")
    if "rlnOpticsGroup" not in table.columns:
        table["rlnOpticsGroup"] = 1
    rows = _optics_rows(path, optics, table)
    box, pixel = _box_and_pixel(path, optics, rows)
    ctf = _ctf_arrays(path, table, optics, rows) if need_ctf else None
    group, names = _groups(table)
    stack_of, slot_of, stacks = _image_locations(path, table)
    return ParticleSet(path, optics, table, box, pixel, group, names, ctf, stack_of, slot_of,
                       stacks)


def _optics_rows(path: Path, optics: pd.DataFrame, table: pd.DataFrame) -> np.ndarray:
    """Row of data_optics for each particle."""
    ids = optics["rlnOpticsGroup"].astype(int).to_numpy()
    lookup = {g: i for i, g in enumerate(ids)}
    wanted = table["rlnOpticsGroup"].astype(int).to_numpy()
    missing = sorted(set(wanted) - set(lookup))
    if missing:
        raise InputError(f"{path}: particles name optics group(s) {missing} that data_optics "
                         "does not define")
    return np.array([lookup[g] for g in wanted])


def _box_and_pixel(path: Path, optics: pd.DataFrame, rows: np.ndarray) -> tuple[int, float]:
    for label in ("rlnImageSize", "rlnImagePixelSize"):
        if label not in optics.columns:
            raise InputError(f"{path}: data_optics lacks {label}")
    used = optics.iloc[np.unique(rows)]
    boxes = used["rlnImageSize"].astype(int).unique()
    if len(boxes) != 1:
        raise InputError(f"{path}: optics groups have different box sizes "
                         f"({', '.join(map(str, boxes))} px); classify them separately")
    pixels = used["rlnImagePixelSize"].astype(float).to_numpy()
    if np.ptp(pixels) > 0.01 or not pixels[0] > 0:
        raise InputError(f"{path}: optics groups need one positive rlnImagePixelSize, got "
                         f"{', '.join(f'{p:g}' for p in pixels)}")
    box = int(boxes[0])
    if box % 2 or box < 16:
        raise InputError(f"{path}: box size {box} px must be even and at least 16")
    return box, float(pixels[0])


def _ctf_arrays(path: Path, table: pd.DataFrame, optics: pd.DataFrame,
                rows: np.ndarray) -> dict[str, np.ndarray]:
    """Per-particle CTF parameters (particle columns first, then its optics group)."""
    missing = [lab for lab in ("rlnDefocusU", "rlnDefocusV") if lab not in table.columns]
    missing += [lab for lab in _CTF_OPTICS if lab not in optics.columns and lab not in table]
    if missing:
        raise InputError(f"{path}: --ctf needs {', '.join(missing)}, which the file lacks")

    def get(label: str, default: float | None) -> np.ndarray:
        if label in table.columns:
            return table[label].to_numpy(np.float64)
        if label in optics.columns:
            return optics[label].to_numpy(np.float64)[rows]
        return np.full(len(table), default, np.float64)

    ctf = {"defocus_u_a": get("rlnDefocusU", None), "defocus_v_a": get("rlnDefocusV", None),
           "angle_deg": get("rlnDefocusAngle", 0.0), "voltage_kv": get("rlnVoltage", None),
           "cs_mm": get("rlnSphericalAberration", None), "q0": get("rlnAmplitudeContrast", None),
           "phase_deg": get("rlnPhaseShift", 0.0), "bfactor_a2": get("rlnCtfBfactor", 0.0),
           "scale": get("rlnCtfScalefactor", 1.0)}
    bad = [k for k, v in ctf.items() if not np.isfinite(v).all()]
    if bad:
        raise InputError(f"{path}: non-numeric or missing CTF values ({', '.join(bad)})")
    return ctf


def _groups(table: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
    if "rlnGroupName" in table.columns:
        keys = table["rlnGroupName"].astype(str)
    elif "rlnMicrographName" in table.columns:
        keys = table["rlnMicrographName"].astype(str).map(post_name)
    else:
        keys = pd.Series(["group1"] * len(table))
    codes, names = pd.factorize(keys, sort=False)
    return codes.astype(np.int64), [str(x) for x in names]


def _image_locations(path: Path, table: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, list[str]]:
    stacks: list[str] = []
    lookup: dict[str, int] = {}
    stack_of = np.empty(len(table), np.int64)
    slot_of = np.empty(len(table), np.int64)
    for i, entry in enumerate(table["rlnImageName"].astype(str)):
        index, at, name = entry.partition("@")
        if not at:
            index, name = "1", entry
        try:
            slot = int(index) - 1
        except ValueError:
            raise InputError(f"{path}: row {i + 1}: rlnImageName {entry!r} is not NNNNNN@stack")
        if slot < 0:
            raise InputError(f"{path}: row {i + 1}: image index in {entry!r} must be ≥ 1")
        if name not in lookup:
            lookup[name] = len(stacks)
            stacks.append(name)
        stack_of[i], slot_of[i] = lookup[name], slot
    return stack_of, slot_of, stacks


class ImageSource:
    """Particle images by index: all in memory (``preread``) or read per batch from the stacks.

    Construction checks every stack (exists, valid MRC, box size, enough images, finite
    values), so a bad file is reported before the first iteration starts.
    """

    def __init__(self, particles: ParticleSet, preread: bool) -> None:
        self.particles = particles
        self._cache: np.ndarray | None = None
        if preread:
            self._cache = np.empty((particles.n, particles.box_px, particles.box_px), np.float32)
        for s, name in enumerate(particles.stacks):
            members = np.flatnonzero(particles.stack_of == s)
            data = self._check_stack(name, particles.slot_of[members])
            if self._cache is not None:
                self._cache[members] = data[particles.slot_of[members]]
        logger.info("%s: %d particles of %d px in %d stacks%s", particles.path, particles.n,
                    particles.box_px, len(particles.stacks), " (pre-read)" if preread else "")

    def _check_stack(self, name: str, slots: np.ndarray) -> np.ndarray:
        path = Path(name)
        if not path.is_file():
            raise InputError(f"{path}: particle stack not found (named in "
                             f"{self.particles.path})")
        try:
            mrc = mrcfile.mmap(path, mode="r", permissive=False)
        except (ValueError, OSError, EOFError) as err:
            raise InputError(f"{path}: not a valid MRC stack ({err})") from err
        with mrc:
            data = mrc.data if mrc.data.ndim == 3 else mrc.data[None]
            box = self.particles.box_px
            if data.shape[1:] != (box, box):
                raise InputError(f"{path}: images are {data.shape[2]}×{data.shape[1]} px, but "
                                 f"{self.particles.path} says rlnImageSize {box}")
            if slots.max() >= data.shape[0]:
                raise InputError(f"{path}: holds {data.shape[0]} images, but "
                                 f"{self.particles.path} asks for image {slots.max() + 1}")
            for start in range(0, data.shape[0], 4096):
                if not np.isfinite(data[start:start + 4096]).all():
                    raise InputError(f"{path}: contains NaN or infinite pixel values")
            return np.asarray(data, np.float32) if self._cache is not None else data[:0]

    def read(self, indices: np.ndarray) -> np.ndarray:
        """``(B, n, n)`` float32 images of particles ``indices`` (in that order)."""
        if self._cache is not None:
            return self._cache[indices]
        out = np.empty((len(indices), self.particles.box_px, self.particles.box_px), np.float32)
        stacks = self.particles.stack_of[indices]
        for s in np.unique(stacks):
            where = np.flatnonzero(stacks == s)
            with mrcfile.mmap(self.particles.stacks[s], mode="r") as mrc:
                data = mrc.data if mrc.data.ndim == 3 else mrc.data[None]
                out[where] = data[self.particles.slot_of[indices[where]]]
        return out
