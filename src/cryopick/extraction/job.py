"""An extraction job over a micrograph STAR file, laid out as RELION 3.1's Extract job.

Per micrograph (streamed, in parallel over micrographs with ``--j``): read the coordinates,
memory-map the micrograph and cut all its boxes, process them as one stack on the backend,
write ``<part_dir><post w/o ext>.mrcs`` then ``..._extract.star`` (each atomically, so a
``_extract.star`` always has its complete stack). At the end, ``particles.star`` joins the
per-micrograph tables under RELION's optics block.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import mrcfile
import mrcfile.utils
import numpy as np

from cryopick.backend import get_backend
from cryopick.errors import InputError
from cryopick.extraction.coords import CoordinateFiles, CoordinateList, Reextraction
from cryopick.extraction.kernels import (
    box_corners,
    crop_operators,
    extract_boxes,
    uses_matrix_crop,
)
from cryopick.extraction.outputs import (
    join_particles,
    micrograph_labels,
    particle_optics,
    write_particles_star,
)
from cryopick.extraction.params import ExtractParams
from cryopick.io.loop import Loop, read_star_loops
from cryopick.io.mrc import write_mrc
from cryopick.io.star import MicrographSet, post_name, write_star
from cryopick.tasks import Skipped, map_micrographs, write_qc_star

__all__ = [
    "ExtractJob",
    "extract_micrograph",
    "extract_star_path",
    "run_extraction",
    "stack_path",
]

logger = logging.getLogger(__name__)

CoordinateSource = CoordinateFiles | CoordinateList | Reextraction


@dataclasses.dataclass(frozen=True)
class ExtractJob:
    """Where and how an extraction job runs (everything but the per-particle options)."""

    part_dir: str  # --part_dir, e.g. "Extract/LoG/"
    part_star: str  # --part_star, e.g. "Extract/LoG/particles.star"
    backend: str = "numpy"  # auto | numpy | cupy | strict
    jobs: int = 1  # --j: micrographs extracted in parallel
    only_unfinished: bool = False  # --only_do_unfinished
    on_bad_micrograph: str = "fail"  # skip: leave unreadable micrographs out, list them in qc_star
    qc_star: str | None = None  # the micrographs left out, and why (written when set)
    # micrographs whose stack and table are up to date (a rerun with micrographs appended):
    # joined as they are, like --only_do_unfinished's finished ones
    keep: frozenset[str] = frozenset()


def stack_path(part_dir: str, micrograph: str) -> Path:
    """RELION's particle stack of a micrograph: ``<part_dir><post w/o ext>.mrcs``."""
    return Path(part_dir) / (os.path.splitext(post_name(micrograph))[0] + ".mrcs")


def extract_star_path(part_dir: str, micrograph: str) -> Path:
    """RELION's per-micrograph particle table: ``<part_dir><post w/o ext>_extract.star``."""
    return Path(part_dir) / (os.path.splitext(post_name(micrograph))[0] + "_extract.star")


@dataclasses.dataclass(frozen=True)
class _Task:
    """One micrograph's work, everything a worker process needs."""

    index: int  # row in the micrograph STAR file (seeds the dust-removal noise)
    micrograph: str
    coords: Loop
    labels: dict  # micrograph-level columns added to every particle, in RELION's order
    pixel_out_a: float
    params: ExtractParams
    backend: str
    part_dir: str


# --- one micrograph ----------------------------------------------------------------------

@contextlib.contextmanager
def _mapped_micrograph(path: Path) -> Iterator[np.ndarray]:
    """The micrograph as a read-only memory map ``(ny, nx)``; errors name the file."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)
            mrc = mrcfile.mmap(path, mode="r", permissive=False)
    except (ValueError, RuntimeWarning, OSError, EOFError) as err:
        raise InputError(f"{path}: not a valid MRC file ({err})") from err
    with mrc:
        data = mrc.data
        if data is None or data.size == 0 or np.iscomplexobj(data):
            raise InputError(f"{path}: MRC file holds no real-valued image data")
        if data.ndim == 3 and data.shape[0] == 1:
            data = data[0]
        if data.ndim != 2:
            raise InputError(f"{path}: expected a 2D micrograph, got shape {data.shape}")
        if not data.dtype.isnative:  # byte-swapped file: one host copy in native order
            data = data.astype(data.dtype.newbyteorder("="))
        yield data


def extract_micrograph(micrograph: str | os.PathLike[str], x_px: np.ndarray, y_px: np.ndarray,
                       params: ExtractParams, backend: str = "numpy",
                       index: int = 0) -> np.ndarray:
    """Extract and process all particles of one micrograph, as relion_preprocess does.

    Parameters
    ----------
    micrograph : path
        An MRC micrograph, read through a memory map, once.
    x_px, y_px : (n,) arrays
        ``rlnCoordinateX``/``rlnCoordinateY``, 0-based micrograph pixels; every box must
        overlap the micrograph.
    params : ExtractParams
        The options, in RELION's meaning.
    backend : {"auto", "numpy", "cupy", "strict"}
        Array backend of the computation.
    index : int
        Position of the micrograph in its STAR file; seeds dust-removal noise with
        ``(params.random_seed, index)``.

    Returns
    -------
    (n, S, S) float32 host array of particle images.

    """
    path = Path(micrograph)
    bk = get_backend(backend)
    corners = box_corners(x_px, y_px, params.box_size_px)
    rng = np.random.default_rng([params.random_seed, index]) if params.remove_dust else None
    with _mapped_micrograph(path) as data:
        images, flat = extract_boxes(bk.asarray(data), corners, params, rng)
    stack, flat = bk.to_numpy(images), bk.to_numpy(flat)
    bad = np.flatnonzero(~np.isfinite(stack).all(axis=(1, 2)))
    if bad.size:
        raise InputError(f"{path}: NaN or infinite pixel values under particle(s) "
                         f"{', '.join(str(k + 1) for k in bad[:10])}")
    if flat.any():
        logger.warning("%s: background std of particle(s) %s is zero; left unnormalised "
                       "(as RELION does)", path, ", ".join(str(k + 1) for k in
                                                           np.flatnonzero(flat)[:10]))
    return stack


def _run_task(task: _Task) -> tuple[int, str, Loop, float]:
    """Worker: extract one micrograph, write its stack then its table."""
    started = time.perf_counter()
    coords = task.coords
    stack = extract_micrograph(task.micrograph, coords["rlnCoordinateX"].astype(float),
                               coords["rlnCoordinateY"].astype(float), task.params,
                               task.backend, task.index)
    out = stack_path(task.part_dir, task.micrograph)
    write_mrc(out, stack, task.pixel_out_a, stack=True)
    table = coords.copy()
    table["rlnImageName"] = np.array([f"{k:06d}@{out.as_posix()}"
                                      for k in range(1, len(table) + 1)], dtype=object)
    for label, value in task.labels.items():
        table[label] = value
    write_star(extract_star_path(task.part_dir, task.micrograph), {"images": table})
    return task.index, task.micrograph, table, time.perf_counter() - started


# --- the job -----------------------------------------------------------------------------

def run_extraction(mics: MicrographSet, source: CoordinateSource, params: ExtractParams,
                   job: ExtractJob) -> Loop:
    """Extract the particles of every micrograph of ``mics``; write RELION's Extract outputs.

    Everything is checked before anything is written: micrograph headers and sizes, and every
    box against its micrograph. Micrographs without a coordinate file or without particles
    are skipped with a warning (as RELION does); with ``only_unfinished`` a micrograph whose
    ``_extract.star`` exists is not redone but still joined.

    Returns
    -------
    The joined particle table (data_particles of ``job.part_star``); ``.to_frame()`` gives
    it as a DataFrame.

    """
    if job.jobs < 1:
        raise InputError(f"--j must be ≥ 1, got {job.jobs}")
    if not mics.names:
        raise InputError(f"{mics.path}: no micrographs listed")
    backend, jobs = _resolve_backend(job)
    skipped: dict[str, str] = {}
    tasks, done = _plan(mics, source, params, job, backend, skipped)
    if not tasks and not done:
        raise InputError(f"{mics.path}: no particles to extract: no micrograph has coordinates "
                         f"({_where_coordinates(source, mics.names[0])})")
    if done:
        logger.info("%d micrograph(s) already extracted; skipping them (%s)", len(done),
                    "unchanged since the last run" if job.keep else "--only_do_unfinished")
    logger.info("extracting %d micrograph(s): box %d px%s, backend %s, --j %d", len(tasks),
                params.box_size_px, f" → {params.final_size_px} px" if params.rescale else "",
                backend, jobs)
    tables = {}
    for result in _run_all(tasks, jobs, skip_bad=job.on_bad_micrograph == "skip"):
        if isinstance(result, Skipped):
            skipped[result.task.micrograph] = result.reason
        else:
            tables[result[0]] = result[2]
    if job.qc_star is not None:
        write_qc_star(job.qc_star, skipped)
    for index in done:
        tables[index] = read_star_loops(extract_star_path(job.part_dir,
                                                           mics.names[index]))["images"]
    particles = join_particles([tables[i] for i in sorted(tables)])
    used = set(particles["rlnOpticsGroup"].astype(int).tolist()) \
        if isinstance(source, Reextraction) else None
    optics = particle_optics(mics, params, source if isinstance(source, Reextraction) else None,
                             used)
    write_particles_star(job.part_star, optics, particles)
    return particles


def _resolve_backend(job: ExtractJob) -> tuple[str, int]:
    """The backend name and worker count: a GPU runs micrographs in this one process.

    Forked workers cannot use a CUDA context made in the parent, and one process keeps the
    GPU busy, so with CuPy ``--j`` is ignored.
    """
    if job.backend in ("numpy", "strict"):
        return job.backend, job.jobs
    name = get_backend(job.backend).name  # auto → cupy or numpy; cupy without GPU: error
    if name == "cupy" and job.jobs > 1:
        logger.info("GPU backend: micrographs run one after another in this process "
                    "(--j %d ignored)", job.jobs)
        return name, 1
    return name, job.jobs


def _where_coordinates(source: CoordinateSource, micrograph: str) -> str:
    if isinstance(source, CoordinateFiles):
        return f"looked for e.g. {source.path(micrograph)}"
    return f"none listed in {source.path}"


def _plan(mics: MicrographSet, source: CoordinateSource, params: ExtractParams,
          job: ExtractJob, backend: str, skipped: dict[str, str]) -> tuple[list[_Task], list[int]]:
    """Per micrograph: skip, already done, or a checked task. With ``on_bad_micrograph: skip``
    an unreadable micrograph is left out and added to ``skipped`` with the reason."""
    tasks, done = [], []
    for index, name in enumerate(mics.names):
        if (job.only_unfinished or name in job.keep) \
                and extract_star_path(job.part_dir, name).is_file():
            done.append(index)
            continue
        pixel_a = float(mics.optics_row(index)["rlnMicrographPixelSize"])
        origin, coords = _coordinates(source, name, pixel_a)
        if coords is None or len(coords) == 0:
            continue
        if job.on_bad_micrograph == "skip":
            try:
                _micrograph_shape(name, mics.path)
            except InputError as err:
                skipped[name] = str(err)
                continue
        _check_boxes(name, mics.path, origin, coords, params.box_size_px)
        keep = isinstance(source, Reextraction) and source.keep_ctfs_micrographs
        tasks.append(_Task(index, name, coords, micrograph_labels(mics, index, coords, keep),
                           params.output_pixel_size(pixel_a), params, backend, job.part_dir))
    return tasks, done


def _coordinates(source: CoordinateSource, micrograph: str,
                 pixel_a: float) -> tuple[str, Loop | None]:
    """``(where from, coordinates)``; None (with a warning) when there are none."""
    if isinstance(source, Reextraction):
        coords, origin = source.table(micrograph, pixel_a), str(source.path)
    else:
        path, coords = source.table(micrograph)
        origin = str(path) if path is not None else f"{source.path} (not listed)"
        if coords is None:
            logger.warning("coordinate file %s does not exist; skipping %s", origin, micrograph)
            return origin, None
    if len(coords) == 0:
        logger.warning("no particles on micrograph %s (%s); skipping it", micrograph, origin)
    elif len(coords) < 10:
        logger.warning("only %d particles in micrograph %s", len(coords), micrograph)
    return origin, coords


def _micrograph_shape(name: str, star: Path) -> tuple[int, int]:
    """``(ny, nx)`` from the header; the file must exist and hold all its data."""
    path = Path(name)
    if not path.is_file():
        raise InputError(f"{path}: micrograph not found (listed in {star})")
    try:
        with mrcfile.open(path, header_only=True, permissive=False) as mrc:
            header = mrc.header
            dtype = mrcfile.utils.data_dtype_from_header(header)
    except (ValueError, OSError, EOFError) as err:
        raise InputError(f"{path}: not a valid MRC file ({err})") from err
    nx, ny, nz = int(header.nx), int(header.ny), int(header.nz)
    if nz != 1:
        raise InputError(f"{path}: expected a 2D micrograph, got {nz} sections")
    expected = 1024 + int(header.nsymbt) + nx * ny * dtype.itemsize
    if path.stat().st_size < expected:
        raise InputError(f"{path}: not a valid MRC file (truncated: {path.stat().st_size} "
                         f"bytes, the header announces {expected})")
    return ny, nx


def _check_boxes(name: str, star: Path, origin: str, coords: Loop, box: int) -> None:
    """Fail, naming the file, for a box larger than the micrograph or one wholly outside it."""
    ny, nx = _micrograph_shape(name, star)
    if box > min(ny, nx):
        raise InputError(f"{name}: the {box}-px box is larger than the micrograph "
                         f"({nx} × {ny} px)")
    x, y = coords["rlnCoordinateX"].astype(float), coords["rlnCoordinateY"].astype(float)
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise InputError(f"{origin}: coordinates contain NaN or infinite values")
    y0, x0 = box_corners(x, y, box).T
    outside = (y0 + box <= 0) | (y0 >= ny) | (x0 + box <= 0) | (x0 >= nx)
    if outside.any():
        k = int(np.flatnonzero(outside)[0])
        raise InputError(f"{origin}: particle {k + 1} at ({x[k]:g}, {y[k]:g}) lies completely "
                         f"outside micrograph {name} ({nx} × {ny} px, box {box} px)")


def _run_all(tasks: list[_Task], n_jobs: int,
             skip_bad: bool = False) -> list[tuple[int, str, Loop, float] | Skipped]:
    """Run tasks in order (one process) or in a fork pool, with progress and a log line each.

    Workers get what they share made once, before the pool forks: the FFT library only when
    rescaling uses it, the crop matrices when it does not. Each worker keeps to one BLAS
    thread, so that ``--j N`` uses N cores (as RELION's ``--j``), also beside other jobs.
    """
    if not tasks:
        return []
    params = tasks[0].params
    preload: tuple[str, ...] = ()
    if uses_matrix_crop(params):
        crop_operators(params.box_size_px, params.final_size_px)
    elif params.rescale:
        preload = ("scipy.fft",)

    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        return map_micrographs(_run_task, tasks, n_jobs, "Extracting",
                               lambda r: f"{r[1]}: {len(r[2])} particles in {r[3]:.2f} s",
                               preload=preload, skip_bad=skip_bad)
