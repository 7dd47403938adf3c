"""``cryopick repick``: re-pick from saved FOM maps, or sweep thresholds (cryopick's own command).

Takes relion_autopick's flags (those of the job that wrote the maps, with new
--threshold/--min_distance/--max_stddev_noise/--min_avg_noise) and always reads the maps.
"""

from __future__ import annotations

import argparse
import sys

from cryopick.cli import autopick
from cryopick.errors import InputError
from cryopick.io.star import read_micrographs_star
from cryopick.picking.repick import parse_sweep, plot_sweep, sweep_thresholds

__all__ = ["build_parser", "run"]


def build_parser() -> argparse.ArgumentParser:
    p = autopick.build_parser()
    p.prog = "cryopick repick"
    p.description = ("Re-pick from FOM maps written by `cryopick autopick --write_fom_maps` "
                     "(or relion_autopick), with new threshold, distance and noise filters.")
    p.add_argument("--sweep", default=None,
                   help="print picks per micrograph for thresholds START:STOP:STEP (or a list) "
                        "instead of writing picks")
    p.add_argument("--sweep_plot", default=None, help="with --sweep: also plot it to this PNG")
    return p


def run(args: argparse.Namespace) -> None:
    if not args.ref:
        raise InputError("repick needs --ref (the references the FOM maps were made with)")
    if args.write_fom_maps:
        raise InputError("repick reads FOM maps; --write_fom_maps belongs to `autopick`")
    args.read_fom_maps = True
    if args.sweep is None:
        autopick.run(args)
        return
    params, spec = autopick.template_params(args)
    mics = read_micrographs_star(args.i, angpix=args.angpix if args.angpix > 0 else None)
    odir = args.odir if args.odir.endswith("/") else args.odir + "/"
    table = sweep_thresholds(mics, params, spec, odir, args.pickname, parse_sweep(args.sweep))
    sys.stdout.write(table.to_string() + "\n")
    if args.sweep_plot:
        plot_sweep(table, args.sweep_plot)
