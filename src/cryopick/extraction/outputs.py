"""Metadata of extracted particles as RELION 3.1 writes it.

Per-particle labels taken from the micrograph STAR file, and the joined ``particles.star``
(data_optics + data_particles).
"""

from __future__ import annotations

import logging
import os

import numpy as np

from cryopick.errors import InputError
from cryopick.extraction.coords import Reextraction
from cryopick.extraction.params import ExtractParams
from cryopick.io.loop import Loop
from cryopick.io.star import MicrographSet, write_star

__all__ = ["join_particles", "micrograph_labels", "particle_optics", "write_particles_star"]

logger = logging.getLogger(__name__)


def micrograph_labels(mics: MicrographSet, index: int, coords: Loop,
                      keep_ctfs_micrographs: bool = False) -> dict[str, object]:
    """Columns every particle of micrograph ``index`` gets, in the order RELION adds them.

    ``rlnMicrographName``; ``rlnOpticsGroup`` unless the coordinates carry one; with CTF
    labels in the micrograph STAR: ``rlnCtfMaxResolution`` and ``rlnCtfFigureOfMerit`` when
    present, then the CTF (defocus U/V/angle, B-factor, scale factor, phase shift) — unless
    the coordinates (re-extracted particles) have their own CTF and ``keep_ctfs_micrographs``
    is off — and the beam tilt on the same rule.
    """
    row = mics.row(index)
    labels: dict[str, object] = {"rlnMicrographName": str(row["rlnMicrographName"])}
    if "rlnOpticsGroup" not in coords.columns:
        labels["rlnOpticsGroup"] = int(row["rlnOpticsGroup"])
    if not mics.has_ctf():
        return labels
    if "rlnDefocusU" not in coords.columns or keep_ctfs_micrographs:
        for label in ("rlnCtfMaxResolution", "rlnCtfFigureOfMerit"):
            if label in row:
                labels[label] = float(row[label])
        ctf = mics.ctf(index)
        labels.update(rlnDefocusU=ctf.defocus_u_a, rlnDefocusV=ctf.defocus_v_a,
                      rlnDefocusAngle=ctf.defocus_angle_deg, rlnCtfBfactor=ctf.bfactor_a2,
                      rlnCtfScalefactor=ctf.scale, rlnPhaseShift=ctf.phase_shift_deg)
    has_tilt = bool({"rlnBeamTiltX", "rlnBeamTiltY"} & set(coords.columns))
    for label in ("rlnBeamTiltX", "rlnBeamTiltY"):
        if label in row and (not has_tilt or keep_ctfs_micrographs):
            labels[label] = float(row[label])
    return labels


def join_particles(tables: list[Loop]) -> Loop:
    """Append per-micrograph tables; a label missing from some gets 0 or "" (as RELION)."""
    return Loop.concat([t for t in tables if len(t)])


def particle_optics(mics: MicrographSet, params: ExtractParams,
                    reextract: Reextraction | None = None,
                    used_groups: set[int] | None = None) -> Loop:
    """RELION 3.1's data_optics of extracted particles.

    From the micrograph optics (or, when re-extracting without --keep_ctfs_micrographs, the
    particle file's optics): ``rlnMicrographPixelSize`` dropped (new extraction only), then
    ``rlnImagePixelSize`` = micrograph pixel × box / final size, ``rlnImageSize``,
    ``rlnImageDimensionality`` = 2.
    """
    if reextract is None or reextract.keep_ctfs_micrographs:
        optics = mics.optics_loop.copy()
        pixel = optics["rlnMicrographPixelSize"].astype(float)
        if reextract is None:
            optics = optics.drop(["rlnMicrographPixelSize"])
    else:
        optics, pixel = _reextract_optics(mics, reextract, used_groups or set())
    optics["rlnImagePixelSize"] = pixel * params.box_size_px / params.final_size_px
    optics["rlnImageSize"] = params.final_size_px
    optics["rlnImageDimensionality"] = 2
    return optics


def _reextract_optics(mics: MicrographSet, reextract: Reextraction,
                      used_groups: set[int]) -> tuple[Loop, np.ndarray]:
    """Particle optics groups, each with its micrograph pixel size (matched by group name)."""
    mic_pixel = dict(zip((str(v) for v in mics.optics_loop["rlnOpticsGroupName"]),
                         mics.optics_loop["rlnMicrographPixelSize"].astype(float)))
    optics = reextract.optics.copy()
    names = optics["rlnOpticsGroupName"].astype(str)
    known = names.isin(list(mic_pixel))
    used = optics["rlnOpticsGroup"].astype(int).isin(list(used_groups))
    missing = names[~known & used]
    if len(missing):
        raise InputError(f"{mics.path}: optics group {missing.iloc[0]!r} of "
                         f"{reextract.path} does not exist in the micrograph STAR file")
    for name in names[~known]:
        logger.warning("optics group %r is removed: no extracted particle belongs to it", name)
    optics = Loop.from_frame(optics[known])
    return optics, np.array([mic_pixel[str(v)] for v in optics["rlnOpticsGroupName"]], float)


def write_particles_star(path: str | os.PathLike[str], optics: Loop,
                         particles: Loop) -> None:
    """Write ``particles.star`` (data_optics, data_particles) atomically."""
    write_star(path, {"optics": optics, "particles": particles})
    logger.info("wrote %s (%d particles)", path, len(particles))
