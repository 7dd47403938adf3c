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

from cryopick.backend import get_backend, runs_on_host
from cryopick.errors import InputError, atomic_output
from cryopick.io.loop import Loop
from cryopick.io.mrc import read_micrograph
from cryopick.io.star import MicrographSet, post_name, read_coordinate_loop, \
    write_coordinates, write_star
from cryopick.picking.log import LogPickParams, micrograph_seed, pick_log
from cryopick.tasks import Skipped, map_micrographs, write_qc_star

__all__ = ["AutopickJob", "check_micrograph_files", "coordinate_path", "finish_job",
           "my_shard", "qc_path", "run_autopick_log", "run_shard", "run_tasks", "summary_picture",
           "unfinished"]

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
    # resuming an interrupted attempt of this same job: micrographs whose coordinate file was
    # written at or after this time (ns since the epoch) are finished and not redone
    resume_since_ns: int | None = None
    # micrographs whose coordinate file is up to date (a rerun with micrographs appended)
    keep: frozenset[str] = frozenset()
    # template picking: micrographs whose FOM maps in odir are current (same references,
    # micrograph and map settings), re-picked from them (a new threshold, distance, filter)
    reuse_maps: frozenset[str] = frozenset()
    # template picking: micrographs whose current FOM maps lie in another job's folder,
    # ``borrow_dir`` (the optimisation pass's, for the final pass), re-picked from them
    borrow_maps: frozenset[str] = frozenset()
    borrow_dir: str | None = None
    on_bad_micrograph: str = "fail"  # skip: leave unreadable micrographs out, list them in qc.star
    # with one shard, write the job-level files after picking (the workflow leaves them to its
    # job-level step, cryopick.picking.gather, which runs once after every shard)
    finish: bool = True
    # template picking: record each micrograph's QC figures (cryopick.picking.qc), so that the
    # job's qc.star becomes the per-micrograph QC table
    record_qc: bool = False


def coordinate_path(odir: str, micrograph: str, pickname: str) -> Path:
    """RELION's coordinate-file name for a micrograph: ``<odir><post w/o ext>_<pickname>.star``."""
    stem = os.path.splitext(post_name(micrograph))[0]
    return Path(odir) / f"{stem}_{pickname}.star"


def check_micrograph_files(names: list[str], star: Path, skip: bool = False) -> dict[str, str]:
    """Check every micrograph exists and has a readable header, before any work.

    A bad one raises InputError naming the file; with ``skip`` it is returned instead, in
    ``{micrograph: reason}``, for the job to leave out.
    """
    bad = {}
    for name in names:
        path = Path(name)
        try:
            if not path.is_file():
                raise InputError(f"{path}: micrograph not found (listed in {star})")
            try:
                with mrcfile.open(path, header_only=True, permissive=False):
                    pass
            except (ValueError, OSError, EOFError) as err:
                raise InputError(f"{path}: not a valid MRC file ({err})") from err
        except InputError as err:
            if not skip:
                raise
            bad[name] = str(err)
    return bad


def qc_path(job: AutopickJob, shard: int | None = None) -> Path:
    """The job's ``qc.star`` (micrographs left out, and why), or one shard's part of it."""
    odir = Path(job.odir)
    return odir / "qc.star" if shard is None else odir / ".shards" / f"{shard}.qc.star"


def run_shard(tasks: list[tuple], job: AutopickJob, bad: dict[str, str], worker=None,
              desc: str = "LoG picking") -> None:
    """Run this shard's unfinished tasks (task[1]: micrograph); write its part of qc.star:
    the micrographs ``bad`` names (of this shard) and those whose task found them unreadable.
    """
    mine = my_shard(tasks, job)
    shard_bad = {task[1]: bad[task[1]] for task in mine if task[1] in bad}
    results = run_tasks(unfinished([t for t in mine if t[1] not in bad], job), job.jobs,
                        worker, desc, skip_bad=job.on_bad_micrograph == "skip")
    shard_bad.update({r.task[1]: r.reason for r in results if isinstance(r, Skipped)})
    write_qc_star(qc_path(job, job.shard), dict(sorted(shard_bad.items())))


def _pick_one(task: tuple) -> tuple[str, int, float, float]:
    """Worker: pick one micrograph and write its outputs. Returns (name, n, mean FOM, s)."""
    index, name, out_path, pixel, params, backend, png_dir, pickname = task
    started = time.perf_counter()
    bk = get_backend(backend)
    image = read_micrograph(name, mapped=True)
    seed = micrograph_seed(params.random_seed, index, name, params.seed_by_name)
    result = pick_log(image, pixel, params, bk, seed)
    if png_dir is not None:
        from cryopick.picking.plots import plot_picks

        png = coordinate_path(png_dir, name, pickname).with_suffix(".png")
        picks = result.picks
        plot_picks(result.preview, np.asarray(picks["rlnCoordinateX"]),
                   np.asarray(picks["rlnCoordinateY"]),
                   np.asarray(picks["rlnAutopickFigureOfMerit"]), result.scale,
                   params.diameter_max_a / (2 * pixel), post_name(name), png)
    write_coordinates(out_path, result.picks)  # last: a coordinate file means all is written
    fom = result.picks["rlnAutopickFigureOfMerit"]
    return name, len(result.picks), float(fom.mean()) if len(fom) else 0.0, \
        time.perf_counter() - started


def run_autopick_log(mics: MicrographSet, params: LogPickParams, job: AutopickJob) -> Loop:
    """LoG-pick every micrograph of ``mics``; returns the per-micrograph summary table."""
    names = mics.names
    if not names:
        raise InputError(f"{mics.path}: no micrographs listed")
    bad = check_micrograph_files(names, mics.path, skip=job.on_bad_micrograph == "skip")
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
    if tasks and runs_on_host(job.backend):
        # imported once here, before the pool forks, not in each worker's first micrograph
        # (LoG's pick tables are DataFrames; template picking's are pandas-free)
        import pandas  # noqa: F401
        import scipy.fft  # noqa: F401
    if tasks and job.png_dir is not None:  # matplotlib: ~0.45 s in each worker otherwise
        import cryopick.picking.plots  # noqa: F401
    run_shard(tasks, job, bad)
    return finish_job(mics, job) if job.n_shards == 1 and job.finish else Loop()


def my_shard(tasks: list[tuple], job: AutopickJob) -> list[tuple]:
    """The tasks of this shard (task[0] is the micrograph's index in the to-do list)."""
    if not 0 <= job.shard < job.n_shards:
        raise InputError(f"shard {job.shard} of {job.n_shards} does not exist")
    return [task for task in tasks if task[0] % job.n_shards == job.shard]


def unfinished(tasks: list[tuple], job: AutopickJob) -> list[tuple]:
    """The tasks (task[1] is the micrograph) an interrupted attempt of this job left undone.

    Coordinate files are written atomically and last, so one written since the attempt began
    holds that micrograph's complete result; so does one of a micrograph in ``job.keep``.
    Tasks keep their to-do index (shard, seed).
    """
    if job.resume_since_ns is None and not job.keep:
        return tasks
    since = job.resume_since_ns
    todo, unchanged, resumed = [], 0, 0
    for task in tasks:
        out = coordinate_path(job.odir, task[1], job.pickname)
        if out.is_file() and task[1] in job.keep:
            unchanged += 1
        elif out.is_file() and since is not None and out.stat().st_mtime_ns >= since:
            resumed += 1
        else:
            todo.append(task)
    if unchanged:
        logger.info("%d micrograph(s) unchanged since the last run are kept", unchanged)
    if resumed:
        logger.info("resuming: %d micrograph(s) finished by the interrupted attempt are kept",
                    resumed)
    return todo


def finish_job(mics: MicrographSet, job: AutopickJob, picture: bool = True) -> Loop:
    """Write the job-level files after picking (all shards); returns the per-micrograph summary.
    ``picture``: also the summary picture (the caller may draw it with :func:`summary_picture`
    beside other steps)."""
    summary = _summary(mics, job)
    _write_job_files(mics, job, summary)
    _gather_qc(mics, job)
    if picture:
        summary_picture(mics, job)
    total = int(summary["rlnGroupNrParticles"].sum()) if len(summary) else 0
    logger.info("%s: %d particles on %d micrograph(s)", job.odir, total, len(summary))
    return summary


def run_tasks(tasks: list[tuple], n_jobs: int, worker=None, desc: str = "LoG picking",
              skip_bad: bool = False) -> list[tuple | Skipped]:
    """Run picking tasks in order (one process) or in a fork pool, with progress.

    ``worker(task) -> (name, n_picks, mean_fom, seconds)``; default: LoG picking. With
    ``skip_bad``, a task whose micrograph is unreadable gives a ``Skipped``.
    """
    return map_micrographs(
        worker or _pick_one, tasks, n_jobs, desc,
        lambda r: f"{r[0]}: {r[1]} picks (mean FOM {r[2]:.3f}) in {r[3]:.2f} s",
        skip_bad=skip_bad)


def _gather_qc(mics: MicrographSet, job: AutopickJob) -> None:
    """``qc.star`` from the shards' parts (every shard writes one, maybe empty); with the
    workers' QC records, the per-micrograph QC table (and ``qc.csv``)."""
    from cryopick.io.loop import read_star_loops

    bad = {}
    for shard in range(job.n_shards):
        path = qc_path(job, shard)
        if not path.is_file():
            raise InputError(f"{path}: missing (did picking shard {shard} run?)")
        table = read_star_loops(path)["skipped_micrographs"]
        bad.update(zip(table["rlnMicrographName"], table["cryopickSkipReason"]))
    if (Path(job.odir) / ".qc").is_dir():  # the workers recorded QC figures (record_qc)
        from cryopick.picking.qc import write_qc_table

        write_qc_table(mics, job.odir, [coordinate_path(job.odir, name, job.pickname)
                                        for name in mics.names], bad)
    else:
        write_qc_star(qc_path(job), bad)


def _summary(mics: MicrographSet, job: AutopickJob) -> Loop:
    """Per micrograph: coordinate file, pick count and mean FOM (from the written files)."""
    names, paths, foms, counts = [], [], [], []
    for name in mics.names:
        path = coordinate_path(job.odir, name, job.pickname)
        if not path.is_file():
            continue
        picks = read_coordinate_loop(path)
        fom = picks["rlnAutopickFigureOfMerit"] if "rlnAutopickFigureOfMerit" in picks else []
        names.append(name)
        paths.append(str(path))
        foms.append(float(np.mean(fom)) if len(fom) else 0.0)
        counts.append(len(picks))
    return Loop({"rlnMicrographName": np.array(names, dtype=object),
                 "rlnMicrographCoordinates": np.array(paths, dtype=object),
                 "rlnAutopickFigureOfMerit": np.array(foms, dtype=np.float64),
                 "rlnGroupNrParticles": np.array(counts, dtype=np.int64)}, len(names))


def summary_picture(mics: MicrographSet, job: AutopickJob) -> None:
    """``<png_dir>/summary.png``: picks per micrograph and FOM histograms (none without a
    ``png_dir``)."""
    from cryopick.picking.plots import plot_pick_summary

    if job.png_dir is None:
        return

    counts, foms = {}, {}
    for name in mics.names:
        path = coordinate_path(job.odir, name, job.pickname)
        if path.is_file():
            picks = read_coordinate_loop(path)
            counts[post_name(name)] = len(picks)
            foms[post_name(name)] = np.asarray(picks["rlnAutopickFigureOfMerit"], float) \
                if "rlnAutopickFigureOfMerit" in picks else np.zeros(0)
    plot_pick_summary(counts, foms, f"{job.odir}: {sum(counts.values())} picks on "
                      f"{len(counts)} micrograph(s)", Path(job.png_dir) / "summary.png")


def _write_job_files(mics: MicrographSet, job: AutopickJob, summary: Loop) -> None:
    """RELION's job-level outputs: coords_suffix (3.1), the coordinate list (4.x), summary."""
    odir = Path(job.odir)
    write_star(odir / "summary.star", {"": summary.drop(["rlnMicrographCoordinates"])})
    write_star(odir / f"{job.pickname}.star", {"coordinate_files": summary.drop(
        ["rlnAutopickFigureOfMerit", "rlnGroupNrParticles"])})
    with atomic_output(odir / f"coords_suffix_{job.pickname}.star") as tmp:
        tmp.write_text(f"{job.micrograph_list or mics.path}\n")
