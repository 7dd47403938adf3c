"""``cryopick watch``: rerun the workflow as micrographs arrive (cryopick's own command);
the loop is cryopick.watch."""

from __future__ import annotations

import argparse
from pathlib import Path

from cryopick.watch import WatchOptions, default_snakefile, watch

__all__ = ["build_parser", "run"]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="cryopick watch", description=(
        "Rerun the workflow whenever micrographs_star changes (and once at start), until "
        "Ctrl-C or SIGTERM; one line per cycle: new micrographs, picks, particles, seconds."))
    p.add_argument("--project", required=True, type=Path, help="the RELION project directory")
    p.add_argument("--configfile", required=True, type=Path, help="the workflow config")
    p.add_argument("--every", type=float, default=60.0, help="seconds between looks (60)")
    p.add_argument("--profile", default=None, help="a Snakemake profile, e.g. profiles/slurm")
    p.add_argument("--cores", type=int, default=2, help="local cores without a profile (2)")
    p.add_argument("--cycles", type=int, default=None, help="stop after this many cycles")
    p.add_argument("--snakefile", type=Path, default=default_snakefile(), help=argparse.SUPPRESS)
    return p


def run(args: argparse.Namespace) -> None:
    status = watch(WatchOptions(project=args.project, configfile=args.configfile.resolve(),
                                every_s=args.every, profile=args.profile, cores=args.cores,
                                cycles=args.cycles, snakefile=args.snakefile))
    if status:
        raise SystemExit(status)
