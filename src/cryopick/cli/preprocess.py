"""``cryopick preprocess``: relion_preprocess's flags (particle extraction)."""

from __future__ import annotations

import argparse

from cryopick.cli.common import add_running_flags, backend_from_flags, relion_parser
from cryopick.errors import InputError
from cryopick.extraction import (
    CoordinateFiles,
    CoordinateList,
    ExtractJob,
    ExtractParams,
    Reextraction,
    read_reextraction,
    run_extraction,
)
from cryopick.io.star import read_micrographs_star

__all__ = ["build_parser", "run"]


def build_parser() -> argparse.ArgumentParser:
    """An argparse parser that accepts relion_preprocess's extraction flags."""
    p, io = relion_parser("preprocess", "relion_preprocess --extract", "Extract particles")
    # RELION's flags, one add_argument each: a table, alike line after line (as in autopick)
    io.add_argument("--coord_dir", default=None,
                    help="directory of the coordinate files (default: next to the micrographs)")
    io.add_argument("--coord_suffix", default="",
                    help="coordinate-file suffix, e.g. _autopick.star")
    io.add_argument("--part_dir", default="Particles/", help="output directory for the stacks")
    io.add_argument("--part_star", default="",
                    help="output STAR file of all particles (default: <part_dir>particles.star)")
    io.add_argument("--reextract_data_star", default="",
                    help="a refinement's _data.star to re-extract (instead of --coord_suffix)")
    io.add_argument("--recenter", action="store_true",
                    help="re-centre on the refined offsets (rlnOriginX/YAngst)")
    io.add_argument("--reset_offsets", action="store_true",
                    help="set the refined offsets of the re-extracted particles to zero")
    io.add_argument("--keep_ctfs_micrographs", action="store_true",
                    help="re-extraction: take CTFs from the micrograph STAR, not the particles")
    ext = p.add_argument_group("particle extraction")
    ext.add_argument("--extract", action="store_true", help="extract particles (required)")
    ext.add_argument("--extract_size", type=int, default=-1, help="box size (even, pixels)")
    ext.add_argument("--only_do_unfinished", action="store_true",
                     help="skip micrographs whose _extract.star already exists")
    ops = p.add_argument_group("particle operations")
    ops.add_argument("--scale", type=int, default=-1, help="rescale particles to this size")
    ops.add_argument("--norm", action="store_true",
                     help="normalise: background mean 0 and std 1 outside --bg_radius")
    ops.add_argument("--no_ramp", action="store_true",
                     help="subtract only the background mean, not a fitted plane")
    ops.add_argument("--bg_radius", type=int, default=-1,
                     help="radius (final pixels) of the circle outside which is background")
    ops.add_argument("--white_dust", type=float, default=-1.0,
                     help="replace pixels this many σ above the background mean (≤0: off)")
    ops.add_argument("--black_dust", type=float, default=-1.0,
                     help="replace pixels this many σ below the background mean (≤0: off)")
    ops.add_argument("--invert_contrast", action="store_true", help="invert the contrast")
    run = p.add_argument_group("running")
    ours = p.add_argument_group("cryopick options (not RELION's)")
    add_running_flags(run, "micrographs extracted in parallel", ours)
    ours.add_argument("--coord_list", default="",
                      help="RELION 4 coordinate list (autopick.star: rlnMicrographName, "
                           "rlnMicrographCoordinates) instead of --coord_dir/--coord_suffix")
    ours.add_argument("--random_seed", type=int, default=1,
                      help="seed of the dust-removal noise (per micrograph: seed, index)")
    ours.add_argument("--verbose", action="store_true")
    return p


def run(args: argparse.Namespace) -> None:
    """Run the extraction job described by parsed RELION flags."""
    if not args.extract:
        raise InputError("give --extract (cryopick preprocess only extracts particles)")
    params = ExtractParams(
        box_size_px=args.extract_size, rescaled_size_px=args.scale if args.scale > 0 else None,
        normalise=args.norm, bg_radius_px=args.bg_radius, white_dust=args.white_dust,
        black_dust=args.black_dust, ramp=not args.no_ramp,
        invert_contrast=args.invert_contrast, random_seed=args.random_seed)
    part_dir = args.part_dir if args.part_dir.endswith("/") else args.part_dir + "/"
    job = ExtractJob(part_dir=part_dir, part_star=args.part_star or part_dir + "particles.star",
                     backend=backend_from_flags(args),
                     jobs=args.j, only_unfinished=args.only_do_unfinished)
    run_extraction(read_micrographs_star(args.i), _source(args), params, job)


def _source(args: argparse.Namespace) -> CoordinateFiles | CoordinateList | Reextraction:
    if args.reextract_data_star:
        return read_reextraction(args.reextract_data_star, recenter=args.recenter,
                                 reset_offsets=args.reset_offsets,
                                 keep_ctfs_micrographs=args.keep_ctfs_micrographs)
    if args.recenter or args.reset_offsets or args.keep_ctfs_micrographs:
        raise InputError("--recenter, --reset_offsets and --keep_ctfs_micrographs need "
                         "--reextract_data_star")
    if args.coord_list:
        return CoordinateList.read(args.coord_list)
    if not args.coord_suffix:
        raise InputError("give --coord_suffix (with --coord_dir), --coord_list or "
                         "--reextract_data_star to say where the particles are")
    return CoordinateFiles(coord_dir=args.coord_dir, suffix=args.coord_suffix)
