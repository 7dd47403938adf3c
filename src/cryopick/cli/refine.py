"""``cryopick refine``: relion_refine's flags for 2D classification (``--K`` classes, no ``--ref``)."""

from __future__ import annotations

import argparse
import logging
import shlex
import sys

from cryopick.backend import cupy_available
from cryopick.classification.job import Class2DJob, continued_params, run_class2d
from cryopick.classification.params import Class2DParams
from cryopick.cli.common import BACKENDS, add_running_flags, backend_from_flags
from cryopick.errors import InputError

__all__ = ["build_parser", "run"]

logger = logging.getLogger(__name__)

# flag → (Class2DParams field, type, RELION's default)
_OPTIONS = {
    "K": ("n_classes", int, 1), "iter": ("n_iter", int, 50),
    "tau2_fudge": ("tau2_fudge", float, 1.0),
    "particle_diameter": ("particle_diameter_a", float, -1.0),
    "psi_step": ("psi_step_deg", float, -1.0), "offset_range": ("offset_range_px", float, 6.0),
    "offset_step": ("offset_step_px", float, 2.0),
    "strict_highres_exp": ("strict_highres_exp_a", float, -1.0),
    "random_seed": ("random_seed", int, -1), "oversampling": ("oversampling", int, 1),
    "offset": ("sigma_offset_a", float, 10.0), "maskedge": ("mask_edge_px", float, 5.0),
    "incr_size": ("incr_size", int, 10), "adaptive_fraction": ("adaptive_fraction", float, 0.999),
    "perturb": ("perturb", float, 0.5), "batch_size": ("batch_size", int, 0),
}
_SWITCHES = {"zero_mask": "zero_mask", "ctf": "ctf", "ctf_intact_first_peak":
             "ctf_intact_first_peak", "fast_subsets": "fast_subsets", "flatten_solvent":
             "flatten_solvent", "norm": "norm", "scale": "scale", "preread_images":
             "preread_images", "center_classes": "center_classes",
             "consistent_offset_prior": "consistent_offset_prior"}
# accepted for compatibility, no effect here (logged)
_IGNORED = {"dont_combine_weights_via_disc": "sums are combined in memory (and over MPI)",
            "no_parallel_disc_io": "every rank reads its own particles",
            "dont_check_norm": "no background-normalisation check is made"}


def build_parser() -> argparse.ArgumentParser:
    """An argparse parser that accepts relion_refine's 2D-classification flag names."""
    p = argparse.ArgumentParser(
        prog="cryopick refine", allow_abbrev=False,
        description="Bayesian 2D classification as relion_refine does it (--K classes, random "
                    "initial references). A RELION command line runs unchanged with `cryopick` "
                    "in front; the files are RELION's.")
    io = p.add_argument_group("I/O (relion_refine)")
    io.add_argument("--i", default=None, help="particles.star (new runs)")
    io.add_argument("--o", required=True, help="output root, e.g. Class2D/job008/run")
    io.add_argument("--continue", dest="continue_from", default=None,
                    help="continue from this run_itNNN_optimiser.star")
    opt = p.add_argument_group("optimisation")
    for flag, (_, kind, default) in _OPTIONS.items():
        opt.add_argument(f"--{flag}", type=kind, default=None,
                         help=f"(RELION default {default})")
    for flag in _SWITCHES:
        opt.add_argument(f"--{flag}", action="store_true", default=None)
    opt.add_argument("--no_norm", action="store_true", help="switch --norm off")
    opt.add_argument("--no_scale", action="store_true", help="switch --scale off")
    run = p.add_argument_group("running")
    add_running_flags(run, "threads: E-step batches in parallel (same results for any value)",
                      backends=(*BACKENDS, "strict"))
    run.add_argument("--pool", type=int, default=1, help="pooled particles (batches are sized "
                     "from a memory budget instead)")
    run.add_argument("--memory_budget_mb", type=float, default=None,
                     help="memory for one E-step batch (MiB; default 256)")
    run.add_argument("--pad", type=float, default=2.0,
                     help="oversampling of the references' Fourier grid: only RELION's "
                          "default 2 is implemented")
    run.add_argument("--verbose", action="store_true")
    own = p.add_argument_group("cryopick's own (not relion_refine's)")
    own.add_argument("--stop_when_collapsed", type=float, default=None, metavar="F",
                     help="stop once one class holds at least this share of the particles (a "
                          "collapsed classification does not recover); default 0: off, as in "
                          "RELION")
    for flag in _IGNORED:
        p.add_argument(f"--{flag}", nargs="?", const=True, default=None, help=argparse.SUPPRESS)
    return p


def _given(args: argparse.Namespace) -> dict[str, object]:
    """Options given on the command line, as Class2DParams fields."""
    out: dict[str, object] = {}
    for flag, (field, _, _) in _OPTIONS.items():
        if getattr(args, flag) is not None:
            out[field] = getattr(args, flag)
    for flag, field in _SWITCHES.items():
        if getattr(args, flag):
            out[field] = True
    if args.no_norm:
        out["norm"] = False
    if args.no_scale:
        out["scale"] = False
    for field in ("memory_budget_mb", "stop_when_collapsed"):
        if getattr(args, field) is not None:
            out[field] = getattr(args, field)
    if out.get("psi_step_deg", 1.0) <= 0:
        out["psi_step_deg"] = 10.0  # RELION: -1 means its default of 10°
    return out


def _log_ignored(args: argparse.Namespace) -> None:
    if args.pad != 2:
        raise InputError(f"--pad {args.pad:g}: the references are interpolated on a 2× padded "
                         "Fourier grid (RELION's default, and the GUI's); other paddings are "
                         "not implemented")
    for flag, why in _IGNORED.items():
        if getattr(args, flag) is not None:
            logger.info("--%s accepted, no effect: %s", flag, why)
    if args.pool != 1:
        logger.info("--pool %d accepted, no effect: E-step batches are sized from a memory "
                    "budget (--memory_budget_mb)", args.pool)


def run(args: argparse.Namespace) -> None:
    """Run the classification described by parsed RELION flags."""
    _log_ignored(args)
    backend = backend_from_flags(args)
    if backend == "cupy" and not cupy_available():
        raise InputError("--gpu/--backend cupy: no usable CUDA GPU or CuPy here; leave out --gpu "
                         "or give --backend numpy")
    given = _given(args)
    if args.continue_from:
        params = continued_params(args.continue_from, given)
    else:
        if "n_classes" not in given:
            raise InputError("--K (number of classes) is required for 2D classification")
        params = Class2DParams(**given)
    command = shlex.join(sys.argv[1:]) if sys.argv else ""
    run_class2d(Class2DJob(output_root=args.o, params=params, particles_star=args.i,
                           continue_from=args.continue_from, backend=backend, command=command,
                           threads=max(1, args.j)))
