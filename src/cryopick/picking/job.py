"""An auto-picking job over a micrograph STAR file, laid out as RELION's AutoPick job.

Reads each micrograph once, picks it, writes ``<odir><post w/o ext>_<pickname>.star``
atomically, optionally a PNG of the picks, and at the end the job-level files RELION writes:
``coords_suffix_<pickname>.star`` (RELION 3.1: a one-line file naming the micrograph STAR),
``<pickname>.star`` (RELION 4 list of coordinate files) and ``summary.star``.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from pathlib import Path

import mrcfile
import numpy as np
import pandas as pd

from cryopick.backend import get_backend
from cryopick.errors import InputError, atomic_output
from cryopick.io.mrc import read_micrograph
from cryopick.io.star import MicrographSet, post_name, read_coordinates, write_coordinates, \
    write_star
from cryopick.picking.log import LogPickParams, micrograph_seed, pick_log
from cryopick.tasks import map_micrographs

__all__ = ["AutopickJob", "check_micrograph_files", "coordinate_path", "finish_job",
           "my_shard", "run_autopick_log", "run_tasks"]

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class AutopickJob:
    """Where and how a picking job runs (everything but the picking parameters)."""

    odir: str  # job folder, e.g. "AutoPick/LoG/"
    pickname: str = "autopick"
    backend: str = "auto"
    jobs: int = 1  # --j: micrographs picked in parallel
    only_unfinished: bool = False
    png_dir: str | None = None  # write a PNG of the picks per micrograph here
    shard: int = 0  # this job picks micrographs whose to-do index % n_shards == shard ...
    n_shards: int = 1  # ... and leaves the job-level files to finish_job when n_shards > 1
    micrograph_list: str | None = None  # the STAR file named in coords_suffix_<pickname>.star


def coordinate_path(odir: str, micrograph: str, pickname: str) -> Path:
    """RELION's coordinate-file name for a micrograph: ``<odir><post w/o ext>_<pickname>.star``."""
    stem = os.path.splitext(post_name(micrograph))[0]
    return Path(odir) / f"{stem}_{pickname}.star"


def check_micrograph_files(names: list[str], star: Path) -> None:
    """Fail before any work when a micrograph is missing or has an unreadable header."""
    for name in names:
        path = Path(name)
        if not path.is_file():
            raise InputError(f"{path}: micrograph not found (listed in {star})")
        try:
            with mrcfile.open(path, header_only=True, permissive=False):
                pass
        except (ValueError, OSError, EOFError) as err:
            raise InputError(f"{path}: not a valid MRC file ({err})") from err


def _pick_one(task: tuple) -> tuple[str, int, float, float]:
    """Worker: pick one micrograph and write its outputs. Returns (name, n, mean FOM, s)."""
    index, name, out_path, pixel, params, backend, png_dir, pickname = task
    started = time.perf_counter()
    bk = get_backend(backend)
    image = read_micrograph(name)
    seed = micrograph_seed(params.random_seed, index, name, params.seed_by_name)
    result = pick_log(image, pixel, params, bk, seed)
    write_coordinates(out_path, result.picks)
    if png_dir is not None:
        from cryopick.plots import plot_picks

        png = coordinate_path(png_dir, name, pickname).with_suffix(".png")
        picks = result.picks
        plot_picks(result.preview, picks["rlnCoordinateX"].to_numpy(),
                   picks["rlnCoordinateY"].to_numpy(),
                   picks["rlnAutopickFigureOfMerit"].to_numpy(), result.scale,
                   params.diameter_max_a / (2 * pixel), post_name(name), png)
    fom = result.picks["rlnAutopickFigureOfMerit"]
    return name, len(result.picks), float(fom.mean()) if len(fom) else 0.0, \
        time.perf_counter() - started


def run_autopick_log(mics: MicrographSet, params: LogPickParams, job: AutopickJob) -> pd.DataFrame:
    """LoG-pick every micrograph of ``mics``; returns the per-micrograph summary table."""
    names = mics.names
    if not names:
        raise InputError(f"{mics.path}: no micrographs listed")
    check_micrograph_files(names, mics.path)
    if job.jobs < 1:
        raise InputError(f"--j must be ≥ 1, got {job.jobs}")
    tasks, done = [], []
    for index, name in enumerate(names):
        out = coordinate_path(job.odir, name, job.pickname)
        if job.only_unfinished and out.is_file():
            done.append(name)
            continue
        tasks.append((len(tasks), name, out, mics.pixel_size_a, params, job.backend, job.png_dir,
                      job.pickname))
    if done:
        logger.info("%d micrograph(s) already picked; skipping them (--only_do_unfinished)",
                    len(done))
    logger.info("LoG picking %d micrograph(s) at %.3f Å/px, diameters %g–%g Å, backend %s, --j %d",
                len(tasks), mics.pixel_size_a, params.diameter_min_a, params.diameter_max_a,
                job.backend, job.jobs)
    run_tasks(my_shard(tasks, job), job.jobs)
    return finish_job(mics, job) if job.n_shards == 1 else pd.DataFrame()


def my_shard(tasks: list[tuple], job: AutopickJob) -> list[tuple]:
    """The tasks of this shard (task[0] is the micrograph's index in the to-do list)."""
    if not 0 <= job.shard < job.n_shards:
        raise InputError(f"shard {job.shard} of {job.n_shards} does not exist")
    return [task for task in tasks if task[0] % job.n_shards == job.shard]


def finish_job(mics: MicrographSet, job: AutopickJob) -> pd.DataFrame:
    """Write the job-level files after picking (all shards); returns the per-micrograph summary."""
    summary = _summary(mics, job)
    _write_job_files(mics, job, summary)
    if job.png_dir is not None:
        _summary_picture(mics, job)
    total = int(summary["rlnGroupNrParticles"].sum()) if len(summary) else 0
    logger.info("%s: %d particles on %d micrograph(s)", job.odir, total, len(summary))
    return summary


def run_tasks(tasks: list[tuple], n_jobs: int, worker=None, desc: str = "LoG picking"
               ) -> list[tuple]:
    """Run picking tasks in order (one process) or in a fork pool, with progress.

    ``worker(task) -> (name, n_picks, mean_fom, seconds)``; default: LoG picking.
    """
    return map_micrographs(
        worker or _pick_one, tasks, n_jobs, desc,
        lambda r: f"{r[0]}: {r[1]} picks (mean FOM {r[2]:.3f}) in {r[3]:.2f} s")


def _summary(mics: MicrographSet, job: AutopickJob) -> pd.DataFrame:
    """Per micrograph: coordinate file, pick count and mean FOM (from the written files)."""
    rows = []
    for name in mics.names:
        path = coordinate_path(job.odir, name, job.pickname)
        if not path.is_file():
            continue
        picks = read_coordinates(path)
        fom = picks["rlnAutopickFigureOfMerit"] if "rlnAutopickFigureOfMerit" in picks else []
        rows.append({"rlnMicrographName": name, "rlnMicrographCoordinates": str(path),
                     "rlnAutopickFigureOfMerit": float(np.mean(fom)) if len(fom) else 0.0,
                     "rlnGroupNrParticles": len(picks)})
    return pd.DataFrame(rows)


def _summary_picture(mics: MicrographSet, job: AutopickJob) -> None:
    """``<png_dir>/summary.png``: picks per micrograph and FOM histograms."""
    from cryopick.plots import plot_pick_summary

    counts, foms = {}, {}
    for name in mics.names:
        path = coordinate_path(job.odir, name, job.pickname)
        if path.is_file():
            picks = read_coordinates(path)
            counts[post_name(name)] = len(picks)
            foms[post_name(name)] = picks["rlnAutopickFigureOfMerit"].to_numpy(float) \
                if "rlnAutopickFigureOfMerit" in picks else np.zeros(0)
    plot_pick_summary(counts, foms, f"{job.odir}: {sum(counts.values())} picks on "
                      f"{len(counts)} micrograph(s)", Path(job.png_dir) / "summary.png")


def _write_job_files(mics: MicrographSet, job: AutopickJob, summary: pd.DataFrame) -> None:
    """RELION's job-level outputs: coords_suffix (3.1), the coordinate list (4.x), summary."""
    odir = Path(job.odir)
    write_star(odir / "summary.star", {"": summary[["rlnMicrographName",
                                                    "rlnAutopickFigureOfMerit",
                                                    "rlnGroupNrParticles"]]})
    write_star(odir / f"{job.pickname}.star",
               {"coordinate_files": summary[["rlnMicrographName", "rlnMicrographCoordinates"]]})
    with atomic_output(odir / f"coords_suffix_{job.pickname}.star") as tmp:
        tmp.write_text(f"{job.micrograph_list or mics.path}\n")
