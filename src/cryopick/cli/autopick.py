"""``cryopick autopick``: relion_autopick's flags (LoG picking)."""

from __future__ import annotations

import argparse
import logging

from cryopick.errors import InputError
from cryopick.io.star import read_micrographs_star
from cryopick.picking.job import AutopickJob, run_autopick_log
from cryopick.picking.log import LogPickParams

__all__ = ["build_parser", "run"]

_TEMPLATE_FLAGS = ("ref", "angpix_ref", "invert", "ctf", "ctf_intact_first_peak", "ang",
                   "highpass", "particle_diameter", "threshold", "min_distance",
                   "write_fom_maps", "read_fom_maps")


def build_parser() -> argparse.ArgumentParser:
    """An argparse parser that accepts relion_autopick's flag names."""
    p = argparse.ArgumentParser(
        prog="cryopick autopick", allow_abbrev=False,
        description="Auto-pick particles as relion_autopick does (LoG mode). Flags are "
                    "RELION's; a RELION command line runs unchanged with `cryopick` in front.")
    io = p.add_argument_group("I/O (relion_autopick)")
    io.add_argument("--i", required=True, help="micrograph STAR file")
    io.add_argument("--odir", default="AutoPick/", help="output directory (default AutoPick/)")
    io.add_argument("--pickname", default="autopick", help="coordinate-file suffix")
    io.add_argument("--angpix", type=float, default=-1.0,
                    help="pixel size (Å), used only when the STAR file has none")
    io.add_argument("--only_do_unfinished", action="store_true",
                    help="skip micrographs that already have a coordinate file")
    log = p.add_argument_group("Laplacian-of-Gaussian")
    log.add_argument("--LoG", action="store_true", help="template-free LoG picking")
    log.add_argument("--LoG_diam_min", type=float, default=-1.0, help="smallest diameter (Å)")
    log.add_argument("--LoG_diam_max", type=float, default=-1.0, help="largest diameter (Å)")
    log.add_argument("--Log_invert", action="store_true", help="particles are white")
    log.add_argument("--LoG_adjust_threshold", type=float, default=0.0,
                     help="threshold adjustment in stddevs (higher picks fewer)")
    log.add_argument("--LoG_upper_threshold", type=float, default=99999.0,
                     help="discard peaks this many stddevs above the mean")
    log.add_argument("--LoG_neighbour", type=float, default=100.0,
                     help="neighbour exclusion radius, %% of the picked diameter")
    log.add_argument("--Log_max_search", type=int, default=5,
                     help="scan diameters down to dmin/N and up to dmax·N")
    gen = p.add_argument_group("picking")
    gen.add_argument("--lowpass", type=float, default=-1.0, help="low-pass (Å)")
    gen.add_argument("--shrink", type=float, default=1.0,
                     help="0: to --lowpass; 0-1: fraction of the size; >1: that size")
    gen.add_argument("--skip_optimise_scale", action="store_true",
                     help="keep the requested working size (no FFT-friendly adjustment)")
    gen.add_argument("--max_stddev_noise", type=float, default=-1.0,
                     help="template picking: skip peaks where the local background std is "
                          "higher (LoG ignores it unless --LoG_noise_filters)")
    gen.add_argument("--min_avg_noise", type=float, default=-999.0,
                     help="template picking: skip peaks where the local background mean is "
                          "lower (LoG ignores it unless --LoG_noise_filters)")
    gen.add_argument("--outlier_removal_zscore", type=float, default=8.0)
    gen.add_argument("--skip_side", type=int, default=0)
    gen.add_argument("--random_seed", type=int, default=1)
    run = p.add_argument_group("running")
    run.add_argument("--j", type=int, default=1, help="micrographs picked in parallel")
    run.add_argument("--gpu", nargs="?", const="", default=None,
                     help="use the GPU (CuPy); device ids are taken from CUDA_VISIBLE_DEVICES")
    ours = p.add_argument_group("cryopick options (not RELION's)")
    ours.add_argument("--backend", choices=["auto", "numpy", "cupy"], default=None,
                      help="array backend (default: cupy with --gpu, else numpy)")
    ours.add_argument("--seed_by_name", action="store_true",
                      help="seed each micrograph's padding noise by its name, so picks do not "
                           "depend on run order (RELION seeds by position in the to-do list)")
    ours.add_argument("--LoG_noise_filters", action="store_true",
                      help="apply --max_stddev_noise / --min_avg_noise to LoG picks too "
                           "(RELION's LoG ignores them)")
    ours.add_argument("--png_dir", default=None,
                      help="write a PNG of each micrograph's picks under this directory")
    ours.add_argument("--verbose", action="store_true")
    for flag in _TEMPLATE_FLAGS:
        p.add_argument(f"--{flag}", default=None, nargs="?", const=True, help=argparse.SUPPRESS)
    return p


def run(args: argparse.Namespace) -> None:
    """Run the picking job described by parsed RELION flags."""
    given = [f"--{f}" for f in _TEMPLATE_FLAGS if getattr(args, f) is not None]
    if not args.LoG:
        raise InputError("template-based picking (--ref …) is not available yet in this version; "
                         "use --LoG")
    if given:
        logging.getLogger(__name__).warning(
            "%s: ignored by LoG picking, as in RELION", ", ".join(given))
    params = LogPickParams(
        diameter_min_a=args.LoG_diam_min, diameter_max_a=args.LoG_diam_max,
        particles_white=args.Log_invert, lowpass_a=args.lowpass, shrink=args.shrink,
        threshold_adjust=args.LoG_adjust_threshold, threshold_upper=args.LoG_upper_threshold,
        neighbour_percent=args.LoG_neighbour, max_search=args.Log_max_search,
        outlier_zscore=args.outlier_removal_zscore, skip_side=args.skip_side,
        random_seed=args.random_seed, optimise_size=not args.skip_optimise_scale,
        seed_by_name=args.seed_by_name,
        max_stddev_noise=args.max_stddev_noise if args.LoG_noise_filters else -1.0,
        min_avg_noise=args.min_avg_noise if args.LoG_noise_filters else -999.0)
    if not args.LoG_noise_filters and (args.max_stddev_noise > 0 or args.min_avg_noise > -900):
        logging.getLogger(__name__).warning(
            "--max_stddev_noise/--min_avg_noise are ignored by LoG picking, as in RELION; "
            "add --LoG_noise_filters to apply them")
    backend = args.backend or ("cupy" if args.gpu is not None else "numpy")
    mics = read_micrographs_star(args.i, angpix=args.angpix if args.angpix > 0 else None)
    odir = args.odir if args.odir.endswith("/") else args.odir + "/"
    job = AutopickJob(odir=odir, pickname=args.pickname, backend=backend, jobs=args.j,
                      only_unfinished=args.only_do_unfinished, png_dir=args.png_dir,
                      micrograph_list=args.i)
    run_autopick_log(mics, params, job)


def log_command(micrographs_star: str, params: LogPickParams, job: AutopickJob) -> list[str]:
    """The ``cryopick autopick`` command line (RELION flags) that reproduces a LoG job."""
    cmd = ["cryopick", "autopick", "--i", str(micrographs_star), "--odir", job.odir,
           "--pickname", job.pickname, "--LoG",
           "--LoG_diam_min", f"{params.diameter_min_a:g}",
           "--LoG_diam_max", f"{params.diameter_max_a:g}",
           "--shrink", f"{params.shrink:g}", "--lowpass", f"{params.lowpass_a:g}",
           "--LoG_adjust_threshold", f"{params.threshold_adjust:g}",
           "--LoG_upper_threshold", f"{params.threshold_upper:g}"]
    if params.particles_white:
        cmd.append("--Log_invert")
    defaults = LogPickParams(params.diameter_min_a, params.diameter_max_a)
    extra = {"LoG_neighbour": "neighbour_percent", "Log_max_search": "max_search",
             "outlier_removal_zscore": "outlier_zscore", "skip_side": "skip_side",
             "random_seed": "random_seed"}
    for flag, field in extra.items():
        if getattr(params, field) != getattr(defaults, field):
            cmd += [f"--{flag}", f"{getattr(params, field):g}"]
    if not params.optimise_size:
        cmd.append("--skip_optimise_scale")
    if params.seed_by_name:
        cmd.append("--seed_by_name")
    if params.max_stddev_noise > 0 or params.min_avg_noise > -900:
        cmd += ["--LoG_noise_filters", "--max_stddev_noise", f"{params.max_stddev_noise:g}",
                "--min_avg_noise", f"{params.min_avg_noise:g}"]
    cmd += ["--j", str(job.jobs), "--backend", job.backend]
    if job.png_dir:
        cmd += ["--png_dir", job.png_dir]
    return cmd
