"""A template-picking job over a micrograph STAR file (RELION's AutoPick job with references).

FOM maps are written and read back under RELION's names, so re-picking with a new
threshold, minimum distance or noise filter costs only the peak search:
``<odir><post w/o ext>_<pickname>_stddevNoise.spi``, ``_avgNoise.spi``,
``_ref%06d._bestCCF.spi`` (expected probability ratio in the header's fmax) and
``_ref%06d._bestPSI.spi``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import time
from pathlib import Path

import numpy as np

from cryopick.backend import get_backend, runs_on_host
from cryopick.binning import block_mean
from cryopick.errors import InputError
from cryopick.io.mrc import read_micrograph, read_micrograph_shape
from cryopick.io.spider import read_spider, write_spider
from cryopick.io.loop import Loop
from cryopick.io.star import MicrographSet, post_name, write_coordinates
from cryopick.picking.job import AutopickJob, check_micrograph_files, coordinate_path, \
    finish_job, my_shard, run_shard
from cryopick.picking.log import micrograph_seed
from cryopick.picking.noise import prepare_ring_mask
from cryopick.picking.qc import recorded_image_statistics, write_record
from cryopick.picking.references import TemplateSet, prepare_templates
from cryopick.picking.rotation import prepare_window
from cryopick.picking.template import FomMaps, TemplatePickParams, compute_fom_maps, \
    noise_filter_losses, peak_table, prepare_rotations
from cryopick.picking.working_size import first_xmipp_index, working_size

__all__ = ["TemplateSpec", "fom_map_paths", "from_config", "read_fom_maps", "run_autopick_template"]

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class TemplateSpec:
    """The references and what to do with FOM maps."""

    references: str  # --ref: STAR file of class averages or an MRC stack
    angpix_ref: float = -1.0  # --angpix_ref
    particle_diameter_a: float = -1.0  # --particle_diameter (<0: measured on the references)
    invert: bool = False  # --invert (references white, particles black)
    shrink_particle_mask: int = 2  # --shrink_particle_mask
    write_fom_maps: bool = False  # --write_fom_maps
    read_fom_maps: bool = False  # --read_fom_maps
    seed_by_name: bool = False  # cryopick: per-micrograph seeds from the name, not run order
    delete_fom_maps: bool = False  # cryopick: remove the maps after picking ("gentle clean")
    healpix_order: int = 1  # --healpix_order: projection directions of a 3D reference
    symmetry: str = "C1"  # --sym of a 3D reference


def fom_map_paths(odir: str, micrograph: str, pickname: str, n_refs: int) -> dict[str, Path]:
    """RELION's FOM-map file names of one micrograph."""
    root = str(coordinate_path(odir, micrograph, pickname).with_suffix(""))
    paths = {"stddev": Path(f"{root}_stddevNoise.spi"), "avg": Path(f"{root}_avgNoise.spi")}
    for ref in range(n_refs):
        paths[f"fom{ref}"] = Path(f"{root}_ref{ref:06d}._bestCCF.spi")
        paths[f"psi{ref}"] = Path(f"{root}_ref{ref:06d}._bestPSI.spi")
    return paths


def _write_maps(maps: FomMaps, paths: dict[str, Path]) -> None:
    write_spider(paths["stddev"], maps.stddev)
    write_spider(paths["avg"], maps.avg)
    for ref, (fom, psi, expected) in enumerate(zip(maps.fom, maps.psi, maps.expected)):
        write_spider(paths[f"fom{ref}"], fom, fmax=expected)
        write_spider(paths[f"psi{ref}"], psi)


def read_fom_maps(paths: dict[str, Path], n_refs: int, size) -> FomMaps:
    """The FOM maps of one micrograph, as written by :func:`write_fom_maps` (``paths`` from
    :func:`fom_map_paths`), checked against the working size ``size``."""
    stddev, _ = read_spider(paths["stddev"])
    avg, _ = read_spider(paths["avg"])
    foms, psis, expected = [], [], []
    for ref in range(n_refs):
        fom, e_ratio = read_spider(paths[f"fom{ref}"])
        psi, _ = read_spider(paths[f"psi{ref}"])
        foms.append(fom)
        psis.append(psi)
        expected.append(e_ratio)
    if stddev.shape != (size.w, size.w):
        raise InputError(f"{paths['stddev']}: FOM maps are {stddev.shape[0]} px, this run's "
                         f"working size is {size.w} px (same --lowpass/--shrink as when written?)")
    return FomMaps(foms, psis, expected, stddev, avg, size)


# Per-process state: the rotated references of the job running in this process.
_STATE: dict = {}


def _rotations(templates: TemplateSet, size, params: TemplatePickParams, backend: str):
    """The references' rotations, made once per job: keyed by what they are made from (the
    references themselves, the ψ sampling, the working size, the backend), so that a second
    job in the same process (a script, the test suite) never reuses another's."""
    digest = hashlib.blake2b(np.ascontiguousarray(templates.images).tobytes(),
                             digest_size=16).hexdigest()
    key = (size, backend, params.angular_sampling_deg, templates.images.shape, digest)
    if key not in _STATE:
        _STATE.clear()  # one job's rotations at a time
        _STATE[key] = prepare_rotations(templates, size, params, get_backend(backend))
    return _STATE[key]


def _prepare_before_fork(tasks: list[tuple], templates: TemplateSet,
                         params: TemplatePickParams, spec: TemplateSpec, job: AutopickJob) -> None:
    """Rotated references, the ring mask's transform and the phases that window the
    CTF-modulated references, made once for the whole job (and matplotlib imported, when
    the job draws its picks).

    Made here, before the pool forks, the workers share them, and a worker's first
    micrograph costs what the others do (only on the host: see ``runs_on_host``).
    """
    if tasks and job.png_dir is not None:  # matplotlib: ~0.45 s in each worker otherwise
        import cryopick.picking.plots  # noqa: F401
    if spec.read_fom_maps or not tasks or not runs_on_host(job.backend):
        return
    ny, nx = read_micrograph_shape(tasks[0][1])
    size = working_size(nx, ny, tasks[0][2], params.lowpass_a, params.shrink,
                        params.optimise_size)
    _rotations(templates, size, params, job.backend)
    prepare_ring_mask(size.n, size.w, templates.box_px, templates.radius2_px)
    prepare_window(size.lowpass_n, size.n, templates.box_px)


def _pick_one(task: tuple) -> tuple[str, int, float, float]:
    """Worker: FOM maps (computed or read), peaks, outputs of one micrograph."""
    (index, name, pixel, ctf, templates, params, spec, job) = task
    started = time.perf_counter()
    out = coordinate_path(job.odir, name, job.pickname)
    paths = fom_map_paths(job.odir, name, job.pickname, len(templates.images))
    image = None
    borrowed = name in job.borrow_maps
    if spec.read_fom_maps or name in job.reuse_maps or borrowed:
        ny, nx = read_micrograph_shape(name)
        size = working_size(nx, ny, pixel, params.lowpass_a, params.shrink, params.optimise_size)
        source = fom_map_paths(job.borrow_dir, name, job.pickname, len(templates.images)) \
            if borrowed else paths
        maps = read_fom_maps(source, len(templates.images), size)
        if borrowed and spec.write_fom_maps:
            _write_maps(maps, paths)
    else:
        image = read_micrograph(name, mapped=True)
        ny, nx = image.shape
        size = working_size(nx, ny, pixel, params.lowpass_a, params.shrink, params.optimise_size)
        seed = micrograph_seed(params.random_seed, index, name, spec.seed_by_name)
        maps = compute_fom_maps(image, pixel, ctf, templates,
                                _rotations(templates, size, params, job.backend), params,
                                get_backend(job.backend), seed)
        if spec.write_fom_maps:
            _write_maps(maps, paths)
    picks = peak_table(maps, nx, ny, pixel, templates, params)
    if job.png_dir is not None:
        _picture(job, name, pixel, templates, maps, picks, image, nx, ny)
    if job.record_qc:
        write_record(job.odir, name, recorded_image_statistics(job.odir, name, image),
                     noise_filter_losses(maps, nx, ny, pixel, templates, params))
    write_coordinates(out, picks)  # after the picture: a coordinate file means all is written
    if spec.delete_fom_maps:
        for path in paths.values():
            path.unlink(missing_ok=True)
    fom = picks["rlnAutopickFigureOfMerit"]
    return name, len(picks), float(fom.mean()) if len(fom) else 0.0, \
        time.perf_counter() - started


def _picture(job: AutopickJob, name: str, pixel: float, templates: TemplateSet, maps: FomMaps,
             picks: Loop, image: np.ndarray | None, nx: int, ny: int) -> None:
    """Picks over the low-passed micrograph, coloured by FOM."""
    from cryopick.picking.plots import plot_picks

    size = maps.size
    s32 = np.float32(size.w) / np.float32(size.n)
    nx_s, ny_s = int(np.float32(nx) * s32), int(np.float32(ny) * s32)
    if maps.preview is not None:
        r0, c0 = size.w // 2 + first_xmipp_index(ny_s), size.w // 2 + first_xmipp_index(nx_s)
        preview = maps.preview[r0:r0 + ny_s, c0:c0 + nx_s]
    else:  # re-picked from maps: a cheap block-averaged view of the micrograph
        image = read_micrograph(name) if image is None else image
        step = max(1, round(size.n / size.w))
        preview = block_mean(image, step)
        s32 = np.float32(1.0 / step)
    png = coordinate_path(job.png_dir, name, job.pickname).with_suffix(".png")
    plot_picks(preview, picks["rlnCoordinateX"], picks["rlnCoordinateY"],
               picks["rlnAutopickFigureOfMerit"], float(s32),
               templates.diameter_a / (2 * pixel), post_name(name), png)


def run_autopick_template(mics: MicrographSet, params: TemplatePickParams, spec: TemplateSpec,
                          job: AutopickJob) -> Loop:
    """Template-pick every micrograph of ``mics``; returns the per-micrograph summary table."""
    names = mics.names
    if not names:
        raise InputError(f"{mics.path}: no micrographs listed")
    if spec.read_fom_maps and spec.write_fom_maps:
        raise InputError("--read_fom_maps and --write_fom_maps exclude each other")
    bad = check_micrograph_files(names, mics.path, skip=job.on_bad_micrograph == "skip")
    if params.ctf and not mics.has_ctf():
        raise InputError(f"{mics.path}: --ctf needs rlnDefocusU/rlnDefocusV for every micrograph")
    templates = prepare_templates(spec.references, mics.pixel_size_a, spec.angpix_ref,
                                  spec.particle_diameter_a, spec.invert,
                                  spec.shrink_particle_mask, spec.healpix_order, spec.symmetry)
    tasks = []
    for index, name in enumerate(names):
        out = coordinate_path(job.odir, name, job.pickname)
        fom_io = spec.read_fom_maps or spec.write_fom_maps
        if job.only_unfinished and not fom_io and out.is_file():
            continue
        if spec.read_fom_maps:  # fail before any work when a map is missing
            for path in fom_map_paths(job.odir, name, job.pickname, len(templates.images)).values():
                if not path.is_file():
                    raise InputError(f"{path}: FOM map not found for {name} "
                                     "(write them first with --write_fom_maps)")
        ctf = mics.ctf(index) if params.ctf else None
        tasks.append((len(tasks), name, mics.pixel_size_a, ctf, templates, params, spec, job))
    logger.info("template picking %d micrograph(s) with %d reference(s), backend %s, --j %d%s",
                len(tasks), len(templates.images), job.backend, job.jobs,
                " (from FOM maps)" if spec.read_fom_maps else "")
    from threadpoolctl import threadpool_limits

    # one BLAS thread per worker (set before the fork, inherited), so --j N uses N cores
    with threadpool_limits(limits=1, user_api="blas"):
        readable = [task for task in my_shard(tasks, job) if task[1] not in bad
                    and task[1] not in job.keep and task[1] not in job.reuse_maps
                    and task[1] not in job.borrow_maps]
        _prepare_before_fork(readable, templates, params, spec, job)
        run_shard(tasks, job, bad, worker=_pick_one, desc="template picking")
    return finish_job(mics, job) if job.n_shards == 1 and job.finish else Loop()


def from_config(cfg: dict, stage: str, references: str,
                auto_threshold: float | None = None) -> tuple[TemplatePickParams, TemplateSpec]:
    """Picking parameters from the workflow config's ``autopick_template`` section.

    ``stage`` is ``optimise`` (the subset pass, FOM maps written) or ``final``. A threshold
    of ``auto`` takes ``auto_threshold`` (chosen on the subset's FOM maps).
    """
    threshold = cfg[stage]["threshold"]
    if threshold == "auto":
        if auto_threshold is None:
            raise InputError(f"autopick_template.{stage}.threshold is auto but no automatic "
                             "threshold was given")
        threshold = auto_threshold
    params = TemplatePickParams(
        lowpass_a=cfg["lowpass_a"], highpass_a=cfg["highpass_a"],
        angular_sampling_deg=cfg["angular_sampling_deg"], ctf=cfg["ctf"],
        ctf_intact_first_peak=cfg["ctf_intact_first_peak"], shrink=cfg["shrink"],
        threshold=float(threshold), min_distance_a=cfg[stage]["min_distance_a"],
        max_stddev_noise=cfg["max_stddev_noise"], min_avg_noise=cfg["min_avg_noise"],
        random_seed=cfg["random_seed"], auto_noise_mads=cfg.get("auto_noise_mads", -1.0),
        auto_noise_pick_mads=cfg.get("auto_noise_pick_mads", -1.0),
        deterministic_fom_scale=bool(cfg.get("deterministic_fom_scale", False)))
    spec = TemplateSpec(references=references, angpix_ref=cfg["angpix_ref_a"],
                        particle_diameter_a=cfg["mask_diameter_a"], invert=cfg["invert"],
                        write_fom_maps=bool(cfg[stage].get("write_fom_maps", False)),
                        seed_by_name=cfg["seed_by_name"])
    return params, spec
