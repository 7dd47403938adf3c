"""RELION STAR files: micrograph tables, coordinate files and a RELION-format writer.

RELION's labels live in this module. General reading (:func:`read_star`) uses ``starfile``
and gives DataFrames; micrograph tables and coordinate files, read once per micrograph, go
through the pandas-free parser of :mod:`cryopick.io.loop` (pandas is imported only when a
DataFrame is asked for). Writing follows RELION 3.1's own layout (``# version 30001`` before
each block, ``_rlnLabel #i`` headers, RELION's number format) so that RELION and diff-based
tests see the files they expect; it takes DataFrames and :class:`~cryopick.io.loop.Loop`
tables alike.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from cryopick.errors import InputError, atomic_output
from cryopick.io.loop import Loop, read_star_loops

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "CtfParams",
    "MicrographSet",
    "format_star",
    "iter_star",
    "post_name",
    "read_coordinate_loop",
    "read_coordinates",
    "read_micrographs_star",
    "read_star",
    "write_coordinates",
    "write_micrographs_star",
    "write_star",
]

_PIPELINE_JOB = re.compile(r"^(?:.*?/)?[^/]+/job\d{3}/")


def post_name(path: str) -> str:
    """The part of a pipeline path after its ``Dir/jobNNN/`` component (RELION's "post").

    ``MotionCorr/job002/Movies/mic001.mrc`` → ``Movies/mic001.mrc``; a path without a job
    component is returned whole (made relative if it was absolute).
    """
    match = _PIPELINE_JOB.match(path)
    if match:
        return path[match.end():]
    return path.lstrip("/")


def read_star(path: str | os.PathLike[str]) -> dict[str, pd.DataFrame]:
    """Read every block of a STAR file as a dict ``{block name: DataFrame}``."""
    import pandas as pd
    import starfile

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: STAR file not found")
    try:
        blocks = starfile.read(path, always_dict=True)
    except Exception as err:  # starfile raises assorted parser errors
        raise InputError(f"{path}: not a readable STAR file ({err})") from err
    out: dict[str, pd.DataFrame] = {}
    for name, block in blocks.items():
        if isinstance(block, dict):  # a list block (one object): key/value pairs
            block = pd.DataFrame([block])
        out[name] = block
    if not out:
        raise InputError(f"{path}: STAR file holds no data blocks")
    return out


@dataclasses.dataclass(frozen=True)
class CtfParams:
    """CTF of one micrograph, in RELION's units."""

    defocus_u_a: float
    defocus_v_a: float
    defocus_angle_deg: float
    voltage_kv: float
    cs_mm: float
    amplitude_contrast: float
    phase_shift_deg: float = 0.0
    bfactor_a2: float = 0.0
    scale: float = 1.0


class MicrographSet:
    """A micrograph STAR file: optics groups, one row per micrograph, and the pixel size.

    Held as pandas-free :class:`Loop` tables (``optics_loop``, ``micrograph_loop``);
    ``optics`` and ``micrographs`` give them as DataFrames (made once, on first use; treat
    them as read-only views).
    """

    def __init__(self, path: str | os.PathLike[str], optics: Loop, micrographs: Loop,
                 pixel_size_a: float):
        self.path = Path(path)
        self.optics_loop = optics
        self.micrograph_loop = micrographs
        self.pixel_size_a = float(pixel_size_a)

    def __repr__(self) -> str:
        return (f"MicrographSet({self.path}, {len(self.micrograph_loop)} micrographs, "
                f"{self.pixel_size_a:g} Å/px)")

    @functools.cached_property
    def optics(self) -> pd.DataFrame:
        return self.optics_loop.to_frame()

    @functools.cached_property
    def micrographs(self) -> pd.DataFrame:
        return self.micrograph_loop.to_frame()

    @property
    def names(self) -> list[str]:
        return [str(name) for name in self.micrograph_loop["rlnMicrographName"]]

    def has_ctf(self) -> bool:
        return {"rlnDefocusU", "rlnDefocusV"}.issubset(self.micrograph_loop.columns)

    def row(self, index: int) -> dict[str, Any]:
        """Micrograph ``index`` (row order) as ``{label: value}``."""
        return self.micrograph_loop.row(index)

    def ctf(self, index: int) -> CtfParams:
        """CTF parameters of micrograph ``index`` (row order), from its row and optics group."""
        if not self.has_ctf():
            raise InputError(
                f"{self.path}: CTF requested but the micrographs have no rlnDefocusU/rlnDefocusV"
            )
        row = self.row(index)
        group = self.optics_row(index)

        def get(label: str, default: float | None = None) -> float:
            for source in (row, group):
                value = source.get(label)
                if value is not None and not (isinstance(value, float) and math.isnan(value)):
                    return float(value)
            if default is None:
                raise InputError(f"{self.path}: label {label} needed for the CTF is missing")
            return default

        return CtfParams(
            defocus_u_a=get("rlnDefocusU"),
            defocus_v_a=get("rlnDefocusV"),
            defocus_angle_deg=get("rlnDefocusAngle", 0.0),
            voltage_kv=get("rlnVoltage"),
            cs_mm=get("rlnSphericalAberration"),
            amplitude_contrast=get("rlnAmplitudeContrast"),
            phase_shift_deg=get("rlnPhaseShift", 0.0),
            bfactor_a2=get("rlnCtfBfactor", 0.0),
            scale=get("rlnCtfScalefactor", 1.0),
        )

    def optics_row(self, index: int) -> dict[str, Any]:
        """The optics group of micrograph ``index`` as ``{label: value}``."""
        group = int(self.row(index).get("rlnOpticsGroup", 1))
        match = np.flatnonzero(self.optics_loop["rlnOpticsGroup"].astype(int) == group)
        if match.size == 0:
            raise InputError(f"{self.path}: micrograph row {index + 1} names optics group {group}, "
                             "which data_optics does not define")
        return self.optics_loop.row(int(match[0]))

    def subset(self, indices: list[int]) -> MicrographSet:
        """A new set with the micrograph rows ``indices`` (in that order), same optics."""
        return MicrographSet(self.path, self.optics_loop.copy(),
                             self.micrograph_loop.take(np.asarray(indices, dtype=np.int64)),
                             self.pixel_size_a)


def _optics_from_relion30(path: Path, table: Loop, angpix: float | None) -> Loop:
    """Build an optics group for a RELION 3.0 single-block micrograph table."""
    pixel = angpix
    if pixel is None and {"rlnDetectorPixelSize", "rlnMagnification"}.issubset(table.columns):
        pixel = float(table["rlnDetectorPixelSize"][0]) * 1e4 / float(
            table["rlnMagnification"][0])
    if pixel is None:
        raise InputError(f"{path}: RELION 3.0-style STAR without a pixel size "
                         "(no rlnDetectorPixelSize/rlnMagnification); give --angpix")
    optics: dict[str, Any] = {"rlnOpticsGroupName": ["opticsGroup1"], "rlnOpticsGroup": [1],
                              "rlnMicrographOriginalPixelSize": [float(pixel)]}
    for label in ("rlnVoltage", "rlnSphericalAberration", "rlnAmplitudeContrast"):
        if label in table.columns:
            optics[label] = [float(table[label][0])]
    optics["rlnMicrographPixelSize"] = [float(pixel)]
    return Loop(optics)


def read_micrographs_star(path: str | os.PathLike[str], angpix: float | None = None) -> MicrographSet:
    """Read a micrograph STAR file (RELION 3.1 two-block form, or the older single block).

    The pixel size comes from ``rlnMicrographPixelSize`` of the optics groups, which must all
    agree within 0.01 Å (as RELION requires); ``angpix`` is used only when the file has none.
    Paths in ``rlnMicrographName`` are kept as written (relative to the project directory).
    """
    path = Path(path)
    blocks = read_star_loops(path)
    if "micrographs" in blocks:
        table = blocks["micrographs"]
        optics = blocks.get("optics")
        if optics is None:
            optics = _optics_from_relion30(path, table, angpix)
    else:  # RELION 3.0: one (often unnamed) block holding everything
        table = next(iter(blocks.values()))
        if "rlnMicrographName" not in table.columns:
            raise InputError(f"{path}: no data_micrographs block and no rlnMicrographName column")
        optics = _optics_from_relion30(path, table, angpix)
    if "rlnMicrographName" not in table.columns:
        raise InputError(f"{path}: data_micrographs has no rlnMicrographName column")
    table = table.copy()
    if "rlnOpticsGroup" not in table.columns:
        table["rlnOpticsGroup"] = 1
    if "rlnOpticsGroup" not in optics.columns:
        raise InputError(f"{path}: data_optics has no rlnOpticsGroup column")
    pixel = _pixel_size(path, optics, angpix)
    if "rlnMicrographPixelSize" not in optics.columns:
        optics = optics.copy()
        optics["rlnMicrographPixelSize"] = pixel
    table["rlnMicrographName"] = np.asarray([str(v) for v in table["rlnMicrographName"]],
                                            dtype=object)
    return MicrographSet(path, optics, table, pixel)


def _pixel_size(path: Path, optics: Loop, angpix: float | None) -> float:
    for label in ("rlnMicrographPixelSize", "rlnMicrographOriginalPixelSize", "rlnImagePixelSize"):
        if label in optics.columns:
            try:
                sizes = optics[label].astype(float)
            except ValueError:
                raise InputError(f"{path}: {label} must be a number") from None
            if np.ptp(sizes) > 0.01:
                raise InputError(f"{path}: optics groups have different pixel sizes "
                                 f"({', '.join(f'{s:g}' for s in sizes)} Å); pick them separately")
            if not sizes[0] > 0:
                raise InputError(f"{path}: {label} must be positive, got {sizes[0]}")
            return float(sizes[0])
    if angpix is not None and angpix > 0:
        return float(angpix)
    raise InputError(f"{path}: no rlnMicrographPixelSize in data_optics; give --angpix")


def write_micrographs_star(mset: MicrographSet, path: str | os.PathLike[str]) -> None:
    """Write a micrograph set in RELION 3.1 form (data_optics + data_micrographs)."""
    write_star(path, {"optics": mset.optics_loop, "micrographs": mset.micrograph_loop})


def read_coordinate_loop(path: str | os.PathLike[str]) -> Loop:
    """Read a per-micrograph coordinate STAR (rlnCoordinateX/Y in pixels), without pandas.

    An empty file is a micrograph without picks: RELION's autopick writes one (0 bytes) where
    it found none.
    """
    path = Path(path)
    if path.is_file() and path.stat().st_size == 0:
        return Loop({"rlnCoordinateX": np.zeros(0), "rlnCoordinateY": np.zeros(0)})
    table = next(iter(read_star_loops(path).values()))
    missing = {"rlnCoordinateX", "rlnCoordinateY"} - set(table.columns)
    if missing and len(table):
        raise InputError(f"{path}: coordinate file lacks {', '.join(sorted(missing))}")
    for label in ("rlnCoordinateX", "rlnCoordinateY"):
        if label in table.columns and table[label].dtype.kind not in "iuf":
            raise InputError(f"{path}: {label} holds values that are not numbers")
    return table


def read_coordinates(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read a per-micrograph coordinate STAR (rlnCoordinateX/Y in pixels) as a DataFrame."""
    return read_coordinate_loop(path).to_frame()


def write_coordinates(path: str | os.PathLike[str], table: pd.DataFrame) -> None:
    """Write a per-micrograph coordinate file as RELION's autopick does (unnamed block)."""
    write_star(path, {"": table})


# --- writer ---------------------------------------------------------------------------

_WHITESPACE = re.compile(r"\s")


def _format_value(value: object) -> str:
    """One value in RELION's number format (``%12.6f``, exponent for tiny/huge values)."""
    if isinstance(value, (bool, np.bool_)):
        return f"{int(value):12d}"
    if isinstance(value, (int, np.integer)):
        return f"{int(value):12d}"
    if isinstance(value, (float, np.floating)):
        v = float(value)
        if math.isnan(v) or math.isinf(v):
            return f"{v:>12}"
        if (0 < abs(v) < 0.001) or abs(v) > 100000:
            return f"{v:12.6e}" if v >= 0 else f"{v:12.5e}"
        return f"{v:12.6f}" if v >= 0 else f"{v:12.5f}"
    text = str(value)
    if text == "" or _WHITESPACE.search(text):
        return f'"{text}"'
    return text


def _format_column(values: np.ndarray) -> list[str]:
    """A whole column in RELION's number format (fast path for numeric dtypes)."""
    if values.dtype.kind == "b" or values.dtype.kind in "iu":
        return [f"{v:12d}" for v in values.astype(np.int64).tolist()]
    if values.dtype.kind != "f":
        if all(isinstance(v, str) for v in values):  # text labels: quote only where needed
            return [v if v and not _WHITESPACE.search(v) else f'"{v}"' for v in values]
        return [_format_value(v) for v in values]
    numbers = values.astype(np.float64)
    magnitude = np.abs(numbers)
    exponent = ((magnitude > 0) & (magnitude < 0.001)) | (magnitude > 100000)
    if exponent.any() or not np.isfinite(numbers).all():
        return [_format_value(v) for v in numbers.tolist()]
    return [f"{v:12.6f}" if v >= 0 else f"{v:12.5f}" for v in numbers.tolist()]


STAR_CHUNK_ROWS = 10_000  # loop rows formatted at a time: ~30 MiB of strings, whatever the table


def iter_star(blocks: Mapping[str, pd.DataFrame | Loop | Mapping[str, object]],
              chunk_rows: int = STAR_CHUNK_ROWS) -> Iterator[str]:
    """RELION 3.1 STAR text, in pieces. A Mapping value becomes a list block.

    Loop rows come ``chunk_rows`` at a time, so writing a table holds the strings of one
    chunk (about 3 KiB per row of a Class2D data table) instead of the whole table's.
    """
    for name, block in blocks.items():
        head = ["", "# version 30001", "", f"data_{name}", ""]
        if isinstance(block, Mapping):
            width = max((len(k) for k in block), default=0) + 1
            yield _lines([*head, *(f"_{key:<{width}} {_format_value(v)}"
                                   for key, v in block.items()), " "])
            continue
        yield _lines([*head, "loop_ ",
                      *(f"_{label} #{i}" for i, label in enumerate(block.columns, start=1))])
        for start in range(0, len(block), chunk_rows):
            stop = start + chunk_rows
            if isinstance(block, Loop):
                columns = [_format_column(block[c][start:stop]) for c in block.columns]
            else:
                part = block.iloc[start:stop]
                columns = [_format_column(part[c].to_numpy()) for c in part.columns]
            yield "".join(" ".join(row) + " \n" for row in zip(*columns))
        yield " \n"


def _lines(lines: list[str]) -> str:
    return "".join(line + "\n" for line in lines)


def format_star(blocks: Mapping[str, pd.DataFrame | Loop | Mapping[str, object]]) -> str:
    """Render blocks as RELION 3.1 STAR text (one string: for small files)."""
    return "".join(iter_star(blocks))


def write_star(path: str | os.PathLike[str],
               blocks: Mapping[str, pd.DataFrame | Loop | Mapping[str, object]]) -> None:
    """Write STAR blocks atomically (temporary name, then rename), streamed as they format."""
    with atomic_output(path) as tmp, open(tmp, "w") as out:
        out.writelines(iter_star(blocks))
