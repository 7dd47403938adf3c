"""``cryopick autopick``: relion_autopick's flags (LoG picking)."""

from __future__ import annotations

import argparse
import logging
from typing import TYPE_CHECKING

from cryopick.cli.common import add_running_flags, backend_from_flags, relion_parser
from cryopick.errors import InputError
from cryopick.io.star import read_micrographs_star
from cryopick.picking.job import AutopickJob, run_autopick_log
from cryopick.picking.log import LogPickParams

if TYPE_CHECKING:  # template picking's modules load on use: a LoG run does not need them
    from cryopick.picking.template import TemplatePickParams
    from cryopick.picking.template_job import TemplateSpec

__all__ = ["build_parser", "log_params", "run", "template_params"]

# template-picking flags that LoG picking ignores (as RELION does)
_TEMPLATE_ONLY = {"ref": None, "angpix_ref": -1.0, "invert": False, "ctf": False,
                  "ctf_intact_first_peak": False, "ang": 10.0, "highpass": -1.0,
                  "particle_diameter": -1.0, "threshold": 0.25, "min_distance": -1.0,
                  "write_fom_maps": False, "read_fom_maps": False}


def build_parser() -> argparse.ArgumentParser:
    """An argparse parser that accepts relion_autopick's flag names."""
    p, io = relion_parser("autopick", "relion_autopick",
                          "Auto-pick particles (LoG or templates)")
    # RELION's flags, one add_argument each: a table, alike line after line (as in preprocess)
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
    ours = p.add_argument_group("cryopick options (not RELION's)")
    add_running_flags(run, "micrographs picked in parallel", ours)
    ours.add_argument("--seed_by_name", action="store_true",
                      help="seed each micrograph's padding noise by its name, so picks do not "
                           "depend on run order (RELION seeds by position in the to-do list)")
    ours.add_argument("--LoG_noise_filters", action="store_true",
                      help="apply --max_stddev_noise / --min_avg_noise (and --auto_noise_mads) "
                           "to LoG picks too (RELION's LoG ignores them)")
    ours.add_argument("--LoG_drop_border_picks", action="store_true",
                      help="drop LoG picks in the outermost row or column of the area picks "
                           "may lie in (a ramp rising beyond it, e.g. an ice gradient's wrap "
                           "edge, not a particle)")
    ours.add_argument("--deterministic_fom_scale", action="store_true",
                      help="template picking: the FOM's expected ratio E without RELION's one "
                           "noise draw, so that every reference's FOM has the scale of a "
                           "perfect match (a weak reference's E - 1 is otherwise mostly chance)")
    ours.add_argument("--auto_noise_mads", type=float, default=-1.0,
                      help="also skip peaks whose local background std is above, or mean "
                           "below, the micrograph's median by this many MADs: contamination "
                           "and carbon edges (-1: off)")
    ours.add_argument("--auto_noise_pick_mads", type=float, default=-1.0,
                      help="template picking: then also skip peaks whose local background is "
                           "this many MADs from the median of the picks' own backgrounds (a "
                           "carbon film or a large blob over much of the micrograph widens "
                           "its MADs; the picks are mostly on ice; -1: off)")
    ours.add_argument("--png_dir", default=None,
                      help="write a PNG of each micrograph's picks under this directory")
    ours.add_argument("--verbose", action="store_true")
    ref = p.add_argument_group("references (template picking)")
    ref.add_argument("--ref", default=None,
                     help="2D references: STAR file (rlnReferenceImage) or an MRC stack")
    ref.add_argument("--sym", default="C1", help="symmetry of a 3D reference (Cn)")
    ref.add_argument("--healpix_order", type=int, default=1,
                     help="projection directions of a 3D reference: 12·4^order")
    ref.add_argument("--angpix_ref", type=float, default=-1.0,
                     help="pixel size of the references (Å; <0: from their header/micrographs)")
    ref.add_argument("--invert", action="store_true", help="references have inverted contrast")
    ref.add_argument("--ctf", action="store_true", help="references are CTF corrected")
    ref.add_argument("--ctf_intact_first_peak", action="store_true",
                     help="ignore CTFs until their first peak")
    ref.add_argument("--ang", type=float, default=10.0, help="in-plane angular sampling (deg)")
    ref.add_argument("--highpass", type=float, default=-1.0, help="high-pass micrographs (Å)")
    ref.add_argument("--particle_diameter", type=float, default=-1.0,
                     help="mask diameter (Å; <0: measured on the references)")
    ref.add_argument("--shrink_particle_mask", type=int, default=2)
    ref.add_argument("--threshold", type=float, default=0.25, help="picking threshold (FOM)")
    ref.add_argument("--min_distance", type=float, default=-1.0,
                     help="minimum inter-particle distance (Å; <0: half the reference box)")
    ref.add_argument("--write_fom_maps", action="store_true", help="write FOM maps (SPIDER)")
    ref.add_argument("--read_fom_maps", action="store_true",
                     help="pick from FOM maps written before (no FOM recomputation)")
    ref.add_argument("--no_fom_limit", action="store_true",
                     help="allow writing FOM maps for more than 30 micrographs")
    ours.add_argument("--delete_fom_maps", action="store_true",
                      help="remove FOM maps after picking (the tutorial's gentle clean)")
    return p


def run(args: argparse.Namespace) -> None:
    """Run the picking job described by parsed RELION flags."""
    backend = backend_from_flags(args)
    mics = read_micrographs_star(args.i, angpix=args.angpix if args.angpix > 0 else None)
    odir = args.odir if args.odir.endswith("/") else args.odir + "/"
    job = AutopickJob(odir=odir, pickname=args.pickname, backend=backend, jobs=args.j,
                      only_unfinished=args.only_do_unfinished, png_dir=args.png_dir,
                      micrograph_list=args.i)
    if args.LoG:
        run_autopick_log(mics, log_params(args), job)
    elif args.ref:
        from cryopick.picking.template_job import run_autopick_template

        params, spec = template_params(args)
        if spec.write_fom_maps and len(mics.names) > 30 and not args.no_fom_limit:
            raise InputError(f"{args.i}: writing FOM maps for {len(mics.names)} micrographs "
                             "(> 30) needs --no_fom_limit")
        run_autopick_template(mics, params, spec, job)
    else:
        raise InputError("give --LoG (template-free) or --ref <references> (template picking)")


def log_params(args: argparse.Namespace) -> LogPickParams:
    """The LoG-picking record of parsed flags (warning of flags LoG picking ignores)."""
    given = [f"--{f}" for f, default in _TEMPLATE_ONLY.items() if getattr(args, f) != default]
    if given:
        logging.getLogger(__name__).warning(
            "%s: ignored by LoG picking, as in RELION", ", ".join(given))
    if not args.LoG_noise_filters and (args.max_stddev_noise > 0 or args.min_avg_noise > -900
                                       or args.auto_noise_mads > 0):
        logging.getLogger(__name__).warning(
            "--max_stddev_noise/--min_avg_noise/--auto_noise_mads are ignored by LoG picking, "
            "as in RELION; add --LoG_noise_filters to apply them")
    return LogPickParams(
        diameter_min_a=args.LoG_diam_min, diameter_max_a=args.LoG_diam_max,
        particles_white=args.Log_invert, lowpass_a=args.lowpass, shrink=args.shrink,
        threshold_adjust=args.LoG_adjust_threshold, threshold_upper=args.LoG_upper_threshold,
        neighbour_percent=args.LoG_neighbour, max_search=args.Log_max_search,
        outlier_zscore=args.outlier_removal_zscore, skip_side=args.skip_side,
        random_seed=args.random_seed, optimise_size=not args.skip_optimise_scale,
        seed_by_name=args.seed_by_name,
        max_stddev_noise=args.max_stddev_noise if args.LoG_noise_filters else -1.0,
        min_avg_noise=args.min_avg_noise if args.LoG_noise_filters else -999.0,
        auto_noise_mads=args.auto_noise_mads if args.LoG_noise_filters else -1.0,
        drop_border_picks=args.LoG_drop_border_picks)


def template_params(args: argparse.Namespace) -> tuple[TemplatePickParams, TemplateSpec]:
    """The template-picking records of parsed flags (``cryopick repick`` reads them too)."""
    from cryopick.picking.template import TemplatePickParams
    from cryopick.picking.template_job import TemplateSpec

    params = TemplatePickParams(
        lowpass_a=args.lowpass, highpass_a=args.highpass, angular_sampling_deg=args.ang,
        ctf=args.ctf, ctf_intact_first_peak=args.ctf_intact_first_peak, shrink=args.shrink,
        threshold=args.threshold, min_distance_a=args.min_distance,
        max_stddev_noise=args.max_stddev_noise, min_avg_noise=args.min_avg_noise,
        skip_side=args.skip_side, outlier_zscore=args.outlier_removal_zscore,
        random_seed=args.random_seed, optimise_size=not args.skip_optimise_scale,
        auto_noise_mads=args.auto_noise_mads, auto_noise_pick_mads=args.auto_noise_pick_mads,
        deterministic_fom_scale=args.deterministic_fom_scale)
    spec = TemplateSpec(
        references=args.ref, angpix_ref=args.angpix_ref,
        particle_diameter_a=args.particle_diameter, invert=args.invert,
        shrink_particle_mask=args.shrink_particle_mask, write_fom_maps=args.write_fom_maps,
        read_fom_maps=args.read_fom_maps, seed_by_name=args.seed_by_name,
        delete_fom_maps=args.delete_fom_maps, healpix_order=args.healpix_order,
        symmetry=args.sym)
    return params, spec
