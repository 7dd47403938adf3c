"""Per-micrograph quality figures of a template-picking job: its ``qc.star`` and ``qc.csv``.

The picking worker records, for each micrograph it picks, simple image statistics and the
picks each background filter removed (:func:`write_record`, a hidden file beside the picks,
written before the coordinate file, so a finished micrograph always has one and a resumed
job keeps it). The job-level step joins them with the CTF figures of the micrograph STAR and
the picks into one row per micrograph (:func:`write_qc_table`); micrographs left out as
unreadable keep their reason, and ``data_skipped_micrographs`` stays as before.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from cryopick.errors import InputError, atomic_output
from cryopick.io.loop import Loop
from cryopick.io.star import MicrographSet, post_name, read_coordinates, write_star

__all__ = ["CTF_LABELS", "DARK_BLOCK_PX", "DARK_FLAG_FRACTION", "DARK_MADS", "flag_micrographs",
           "image_statistics", "qc_table", "read_record", "record_path",
           "recorded_image_statistics", "write_qc_table", "write_record"]

DARK_BLOCK_PX = 64  # the micrograph is judged in blocks of this many pixels a side ...
DARK_MADS = 4.0  # ... a block is dark when its mean is this many MADs below the blocks' median
DARK_FLAG_FRACTION = 0.15  # a micrograph this dark is flagged (contamination or carbon)
DENSITY_SPREAD = 3.0  # a pick count this many robust SDs from the median is "extreme density"
# the CTF figures of the micrograph STAR shown when present
CTF_LABELS = ("rlnDefocusU", "rlnDefocusV", "rlnCtfAstigmatism", "rlnCtfMaxResolution")


def image_statistics(image: np.ndarray) -> dict[str, float]:
    """Mean, std and the fraction of the area that is dark like contamination or carbon.

    The area is cut into ``DARK_BLOCK_PX`` blocks; a block is dark when its mean lies more
    than ``DARK_MADS`` robust SDs (1.4826 × MAD of the block means) below their median.
    On the simulated demo the dark fraction follows the junk area: 0.07–0.19 where the
    contamination and carbon cover 0.13–0.33 (faint carbon is missed).
    """
    if image.ndim != 2:
        raise ValueError(f"image must be 2D (ny, nx), got shape {image.shape}")
    from cryopick.picking.micrograph_ft import micrograph_stats

    b = DARK_BLOCK_PX
    ny, nx = image.shape
    mean, std, _, _ = micrograph_stats(image)  # float64 sums over row blocks, no full copy
    stats = {"mean": mean, "std": std}
    if ny < b or nx < b:
        return {**stats, "dark_fraction": 0.0}
    blocks = image[: ny - ny % b, : nx - nx % b].reshape(ny // b, b, nx // b, b).mean(
        axis=(1, 3), dtype=np.float64)
    median = float(np.median(blocks))
    spread = 1.4826 * float(np.median(np.abs(blocks - median)))
    dark = blocks < median - DARK_MADS * spread if spread > 0 else np.zeros(blocks.shape, bool)
    return {**stats, "dark_fraction": float(dark.mean())}


def record_path(odir: str, micrograph: str) -> Path:
    """The hidden per-micrograph QC record of a picking job: ``<odir>.qc/<post w/o ext>.json``."""
    return Path(odir) / ".qc" / f"{os.path.splitext(post_name(micrograph))[0]}.json"


def write_record(odir: str, micrograph: str, image_stats: dict[str, float],
                 removed: dict[str, int]) -> None:
    """Write one micrograph's QC record (image statistics, picks removed per filter)."""
    record = {"image": image_stats, "removed": removed}
    with atomic_output(record_path(odir, micrograph)) as tmp:
        tmp.write_text(json.dumps(record, sort_keys=True) + "\n")


def read_record(odir: str, micrograph: str) -> dict | None:
    """One micrograph's QC record, or None when the job wrote none (e.g. an older run)."""
    path = record_path(odir, micrograph)
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise InputError(f"{path}: not a valid QC record ({err})") from err


def recorded_image_statistics(odir: str, micrograph: str,
                              image: np.ndarray | None) -> dict[str, float]:
    """:func:`image_statistics` of ``image``; re-picked from FOM maps (``image`` None), those
    its record already holds (the micrograph is not read again), else of the micrograph read."""
    if image is None:
        record = read_record(odir, micrograph)
        if record is not None:
            return record["image"]
        from cryopick.io.mrc import read_micrograph

        image = read_micrograph(micrograph)
    return image_statistics(image)


def qc_table(mics: MicrographSet, odir: str, coordinates: list[Path],
             skipped: dict[str, str]) -> dict[str, np.ndarray]:
    """One row per micrograph of ``mics``: CTF figures (when present), template picks
    (``coordinates``: each micrograph's coordinate file), mean FOM, picks removed by each
    background filter (the QC records under ``odir``), image statistics, flags and, for a
    micrograph left out, the reason (``skipped``). Columns are RELION labels or
    ``cryopick*``; unknown values are NaN."""
    frame = mics.micrographs
    n = len(mics.names)
    columns: dict[str, np.ndarray] = {"rlnMicrographName": np.array(mics.names, dtype=object)}
    for label in CTF_LABELS:
        if label in frame:
            columns[label] = frame[label].to_numpy(np.float64)
    picks = np.full(n, np.nan)
    mean_fom = np.full(n, np.nan)
    figures = {key: np.full(n, np.nan) for key in ("removed_stddev", "removed_avg", "mean",
                                                   "std", "dark_fraction")}
    for i, (name, path) in enumerate(zip(mics.names, coordinates)):
        if name in skipped or not path.is_file():
            continue
        fom = read_coordinates(path)["rlnAutopickFigureOfMerit"].to_numpy(np.float64)
        picks[i], mean_fom[i] = len(fom), fom.mean() if len(fom) else 0.0
        record = read_record(odir, name)
        if record is not None:
            for key in ("stddev", "avg"):
                figures[f"removed_{key}"][i] = record["removed"][key]
            for key in ("mean", "std", "dark_fraction"):
                figures[key][i] = record["image"][key]
    columns.update({
        "cryopickTemplatePicks": picks, "rlnAutopickFigureOfMerit": mean_fom,
        "cryopickRemovedByStddevNoise": figures["removed_stddev"],
        "cryopickRemovedByAvgNoise": figures["removed_avg"],
        "cryopickImageMean": figures["mean"], "cryopickImageStd": figures["std"],
        "cryopickDarkFraction": figures["dark_fraction"]})
    reasons = [skipped.get(name, "") for name in mics.names]
    columns["cryopickFlags"] = np.array(
        [",".join(f) or "none" for f in flag_micrographs(picks, figures["dark_fraction"],
                                                         reasons)], dtype=object)
    columns["cryopickSkipReason"] = np.array(reasons, dtype=object)
    return columns


def flag_micrographs(picks: np.ndarray, dark_fraction: np.ndarray,
                     reasons: list[str]) -> list[list[str]]:
    """Flags per micrograph: ``bad_input`` (left out), ``no_picks``, ``extreme_density`` (a
    pick count more than ``DENSITY_SPREAD`` robust SDs, at least √median, from the median of
    the picked micrographs) and ``dark_area`` (dark fraction ≥ ``DARK_FLAG_FRACTION``).
    The review page applies the same rules to its live counts."""
    picked = picks[np.isfinite(picks)]
    median = float(np.median(picked)) if len(picked) else 0.0
    spread = max(1.4826 * float(np.median(np.abs(picked - median))) if len(picked) else 0.0,
                 np.sqrt(median), 1.0)
    flags = []
    for n, dark, reason in zip(picks, dark_fraction, reasons):
        row = []
        if reason:
            row.append("bad_input")
        elif n == 0:
            row.append("no_picks")
        if np.isfinite(n) and n > 0 and abs(n - median) > DENSITY_SPREAD * spread:
            row.append("extreme_density")
        if np.isfinite(dark) and dark >= DARK_FLAG_FRACTION:
            row.append("dark_area")
        flags.append(row)
    return flags


def write_qc_table(mics: MicrographSet, odir: str, coordinates: list[Path],
                   skipped: dict[str, str]) -> None:
    """``<odir>qc.star`` (``data_skipped_micrographs`` as every picking job writes it, then
    ``data_micrographs``: :func:`qc_table`) and the same table as ``<odir>qc.csv``."""
    import pandas as pd

    columns = qc_table(mics, odir, coordinates, skipped)
    skipped_loop = Loop({"rlnMicrographName": np.array(list(skipped), dtype=object),
                         "cryopickSkipReason": np.array(list(skipped.values()), dtype=object)})
    write_star(Path(odir) / "qc.star", {"skipped_micrographs": skipped_loop,
                                        "micrographs": Loop(columns)})
    with atomic_output(Path(odir) / "qc.csv") as tmp:
        pd.DataFrame(columns).to_csv(tmp, index=False, float_format="%.6g")
