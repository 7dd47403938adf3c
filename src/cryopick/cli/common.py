"""Flags every ``cryopick`` program shares: how many in parallel, and on which device."""

from __future__ import annotations

import argparse

__all__ = ["add_running_flags", "backend_from_flags", "relion_parser"]

BACKENDS = ("auto", "numpy", "cupy")


def relion_parser(program: str, relion_program: str, does: str
                  ) -> tuple[argparse.ArgumentParser, argparse._ArgumentGroup]:
    """The parser of ``cryopick <program>`` (RELION's ``relion_program``, which ``does``) and
    its I/O group, holding ``--i`` (the micrograph STAR file)."""
    p = argparse.ArgumentParser(
        prog=f"cryopick {program}", allow_abbrev=False,
        description=f"{does} as {relion_program} does. Flags are RELION's; a RELION command "
                    "line runs unchanged with `cryopick` in front.")
    io = p.add_argument_group(f"I/O ({relion_program.split()[0]})")
    io.add_argument("--i", required=True, help="micrograph STAR file")
    return p, io


def add_running_flags(run: argparse._ArgumentGroup, jobs_help: str,
                      ours: argparse._ArgumentGroup | None = None,
                      backends: tuple[str, ...] = BACKENDS) -> None:
    """RELION's ``--j`` and ``--gpu`` in the group ``run``; cryopick's ``--backend`` in
    ``ours`` (``run`` when not given)."""
    run.add_argument("--j", type=int, default=1, help=jobs_help)
    run.add_argument("--gpu", nargs="?", const="", default=None,
                     help="use the GPU (CuPy); device ids are taken from CUDA_VISIBLE_DEVICES")
    (ours or run).add_argument("--backend", choices=list(backends), default=None,
                               help="array backend (default: cupy with --gpu, else numpy)")


def backend_from_flags(args: argparse.Namespace) -> str:
    """The backend the flags ask for: ``--backend``, else CuPy with ``--gpu``, else NumPy."""
    return args.backend or ("cupy" if args.gpu is not None else "numpy")
