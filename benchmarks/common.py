"""Shared pieces of the benchmarks: the project folder, timed runs with peak memory, data
sets, F1 scoring."""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from cryopick.io.star import post_name, read_coordinates, read_micrographs_star
from cryopick.metrics import PickScore, score_picks

MPI_ENV = {"OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
           "OMPI_MCA_rmaps_base_oversubscribe": "1"}


def benchmark_parser(doc: str) -> argparse.ArgumentParser:
    """A benchmark's parser (its description: the first paragraph of ``doc``) with the flags
    of its project folder, ``--out-dir`` and ``--keep``."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--out-dir", default=None, help="project directory (default: temporary)")
    parser.add_argument("--keep", action="store_true", help="keep the project directory")
    return parser


def run_in_project(run: Callable[[Path, argparse.Namespace], None], args: argparse.Namespace,
                   prefix: str) -> None:
    """``run(project, args)`` in ``--out-dir``, or in a temporary folder (named ``prefix``…)
    that is removed afterwards unless ``--keep``."""
    project = Path(args.out_dir or tempfile.mkdtemp(prefix=prefix))
    try:
        run(project, args)
    finally:
        if not args.keep and args.out_dir is None:
            shutil.rmtree(project, ignore_errors=True)


def timed(cmd: list[str], cwd: Path, log: Path) -> tuple[float, float]:
    """Run ``cmd`` in ``cwd``; return (wall seconds, peak RSS in MiB of its largest process).

    Peak memory comes from GNU time's ``%M`` (max RSS over the process tree waited for), so
    for MPI runs it is the largest rank, not the sum.
    """
    env = {**os.environ, **MPI_ENV}
    gnu_time = shutil.which("time") or "/usr/bin/time"
    full = [gnu_time, "-f", "%e %M", "-o", str(log) + ".time", *cmd]
    started = time.perf_counter()
    with open(log, "w") as out:
        subprocess.run(full, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, check=True)
    wall = time.perf_counter() - started
    peak_kib = float(Path(str(log) + ".time").read_text().split()[-1])
    return wall, peak_kib / 1024.0


def cryopick_cmd(program: str) -> list[str]:
    """The cryopick command in this Python environment."""
    return [sys.executable, "-m", "cryopick.cli.main", program]


def truth_positions(project: Path, micrograph: str) -> np.ndarray:
    """Ground-truth (x, y) of a simulated micrograph, from Demo/truth/<stem>_truth.star."""
    stem = Path(micrograph).stem
    table = read_coordinates(project / "Demo" / "truth" / f"{stem}_truth.star")
    return table[["rlnCoordinateX", "rlnCoordinateY"]].to_numpy(float)


def score_job(project: Path, star: str, odir: str, radius_px: float,
              pickname: str = "autopick") -> PickScore:
    """Summed pick score of a picking job against the simulated ground truth."""
    total = PickScore(0, 0, 0)
    for name in read_micrographs_star(project / star).names:
        coords = project / odir / (os.path.splitext(post_name(name))[0] + f"_{pickname}.star")
        picks = read_coordinates(coords)[["rlnCoordinateX", "rlnCoordinateY"]].to_numpy(float) \
            if coords.is_file() else np.zeros((0, 2))
        total = total + score_picks(picks, truth_positions(project, name), radius_px)
    return total


def peak_rss_self_mib() -> float:
    """Peak RSS of this process so far (MiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def best_alternating(commands: dict[str, tuple[list[str], Path]], cwd: Path, repeats: int
                     ) -> dict[str, tuple[float, float]]:
    """Fastest (wall s, peak MiB) of each command over ``repeats`` rounds, run in turn.

    ``commands`` maps a name to (command, output folder); the folder is removed before every
    run. Running the programs alternately, round after round, lets a shared machine's load
    fall on all of them alike.
    """
    runs: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
    for _ in range(repeats):
        for name, (cmd, odir) in commands.items():
            shutil.rmtree(cwd / odir, ignore_errors=True)
            runs[name].append(timed(cmd, cwd, cwd / f"{name}.log"))
    return {name: min(times) for name, times in runs.items()}
