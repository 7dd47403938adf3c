"""Where each micrograph's particles come from.

Coordinate files (``--coord_dir``/``--coord_suffix``), RELION 4's coordinate list, or a
refined particle STAR file (re-extraction, optionally re-centred on the refined offsets).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from cryopick.errors import InputError
from cryopick.io.loop import Loop, read_star_loops
from cryopick.io.star import post_name, read_coordinate_loop, read_star

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "CoordinateFiles",
    "CoordinateList",
    "Reextraction",
    "coordinate_files_from_suffix_file",
    "coordinate_source",
    "read_reextraction",
]


@dataclasses.dataclass(frozen=True)
class CoordinateFiles:
    """RELION 3.1's ``--coord_dir D --coord_suffix S``: file ``D + post(mic) w/o ext + S``.

    ``coord_dir=None`` (RELION's "ASINPUT") looks next to the micrograph instead.
    """

    coord_dir: str | None
    suffix: str

    def path(self, micrograph: str) -> Path:
        """The coordinate file of ``micrograph`` (which may not exist)."""
        if self.coord_dir is None:
            return Path(os.path.splitext(micrograph)[0] + self.suffix)
        directory = self.coord_dir if self.coord_dir.endswith("/") else self.coord_dir + "/"
        return Path(directory + os.path.splitext(post_name(micrograph))[0] + self.suffix)

    def table(self, micrograph: str) -> tuple[Path, Loop | None]:
        """``(path, coordinates)``; coordinates are None when the file does not exist."""
        path = self.path(micrograph)
        return path, (read_coordinate_loop(path) if path.is_file() else None)


def coordinate_files_from_suffix_file(path: str | os.PathLike[str]) -> CoordinateFiles:
    """The flags RELION's GUI derives from ``AutoPick/<job>/coords_suffix_<name>.star``.

    ``--coord_dir`` is the file's directory plus ``/``; ``--coord_suffix`` is its name without
    ``coords_suffix`` (→ ``_autopick.star``).
    """
    path = Path(path)
    if not path.name.startswith("coords_suffix"):
        raise InputError(f"{path}: not a RELION coordinate-suffix file (its name must start "
                         "with coords_suffix, e.g. coords_suffix_autopick.star)")
    return CoordinateFiles(coord_dir=f"{path.parent.as_posix()}/",
                           suffix=path.name[len("coords_suffix"):])


@dataclasses.dataclass(frozen=True)
class CoordinateList:
    """RELION 4's coordinate list, ``autopick.star``.

    Block ``data_coordinate_files``: rlnMicrographName → rlnMicrographCoordinates.
    """

    path: Path
    files: dict[str, str]  # post name of the micrograph → coordinate file

    @classmethod
    def read(cls, path: str | os.PathLike[str]) -> CoordinateList:
        """Read the list; fails naming the file when the two labels are missing."""
        path = Path(path)
        blocks = read_star_loops(path)
        table = blocks.get("coordinate_files", next(iter(blocks.values())))
        missing = {"rlnMicrographName", "rlnMicrographCoordinates"} - set(table.columns)
        if missing:
            raise InputError(f"{path}: coordinate list lacks {', '.join(sorted(missing))}")
        return cls(path, {post_name(str(m)): str(c) for m, c in
                          zip(table["rlnMicrographName"], table["rlnMicrographCoordinates"])})

    def table(self, micrograph: str) -> tuple[Path | None, Loop | None]:
        """``(path, coordinates)``; None for a micrograph not listed or a missing file."""
        name = self.files.get(post_name(micrograph))
        if name is None:
            return None, None
        path = Path(name)
        return path, (read_coordinate_loop(path) if path.is_file() else None)


def coordinate_source(path: str | os.PathLike[str]) -> CoordinateFiles | CoordinateList:
    """A picking job's coordinate file: RELION 3.1's ``coords_suffix_*.star`` or 4's list."""
    if Path(path).name.startswith("coords_suffix"):
        return coordinate_files_from_suffix_file(path)
    return CoordinateList.read(path)


@dataclasses.dataclass(frozen=True)
class Reextraction:
    """Particles of a refinement's ``_data.star`` to extract again (``--reextract_data_star``)."""

    path: Path
    optics: pd.DataFrame
    particles: pd.DataFrame
    recenter: bool = False  # --recenter: move coordinates by the refined offsets
    reset_offsets: bool = False  # --reset_offsets: zero rlnOriginX/YAngst
    keep_ctfs_micrographs: bool = False  # --keep_ctfs_micrographs

    @property
    def has_ctf(self) -> bool:
        """Whether the particles carry their own CTF (kept unless keep_ctfs_micrographs)."""
        return "rlnDefocusU" in self.particles.columns

    def table(self, micrograph: str, micrograph_pixel_a: float) -> Loop:
        """This micrograph's particles (same post name), offsets reset or re-centred."""
        names = self.particles["rlnMicrographName"].astype(str).map(post_name)
        rows = Loop.from_frame(self.particles[names == post_name(micrograph)])
        if self.reset_offsets:
            return _reset_offsets(rows)
        if self.recenter:
            return _recenter(rows, micrograph_pixel_a)
        return rows


def read_reextraction(path: str | os.PathLike[str], recenter: bool = False,
                      reset_offsets: bool = False,
                      keep_ctfs_micrographs: bool = False) -> Reextraction:
    """Read a RELION 3.1 particle STAR file (data_optics + data_particles) for re-extraction."""
    path = Path(path)
    blocks = read_star(path)
    if "particles" not in blocks or "optics" not in blocks:
        raise InputError(f"{path}: expected RELION 3.1 data_optics and data_particles blocks")
    particles, optics = blocks["particles"], blocks["optics"]
    needed = {"rlnCoordinateX", "rlnCoordinateY", "rlnMicrographName", "rlnOpticsGroup"}
    missing = needed - set(particles.columns)
    if missing:
        raise InputError(f"{path}: data_particles lacks {', '.join(sorted(missing))}")
    if recenter and not {"rlnOriginXAngst", "rlnOriginYAngst"} <= set(particles.columns):
        raise InputError(f"{path}: --recenter needs rlnOriginXAngst/rlnOriginYAngst")
    if reset_offsets and recenter:
        raise InputError("--reset_offsets and --recenter exclude each other; choose one")
    return Reextraction(path, optics, particles, recenter, reset_offsets, keep_ctfs_micrographs)


def _reset_offsets(rows: Loop) -> Loop:
    for label in ("rlnOriginXAngst", "rlnOriginYAngst", "rlnOriginZAngst"):
        if label in rows.columns:
            rows[label] = 0.0
    return rows


def _recenter(rows: Loop, micrograph_pixel_a: float) -> Loop:
    """RELION 3.1's re-centring: shift each coordinate by its offset rounded to whole pixels.

    The offset in micrograph pixels is ``rlnOriginXAngst / pixel``; the coordinate moves by
    its rounded value (half away from zero) and the sub-pixel rest stays as the new offset
    (in Å), so the particle's true centre, coordinate − offset, is unchanged.
    """
    for axis in ("X", "Y"):
        offset = rows[f"rlnOrigin{axis}Angst"].astype(float) / micrograph_pixel_a
        whole = np.sign(offset) * np.floor(np.abs(offset) + 0.5)
        rows[f"rlnCoordinate{axis}"] = rows[f"rlnCoordinate{axis}"].astype(float) - whole
        rows[f"rlnOrigin{axis}Angst"] = (offset - whole) * micrograph_pixel_a
    return rows
