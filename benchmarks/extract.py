"""Benchmark: particle extraction, cryopick against RELION on the same micrographs, in one run.

Simulates tutorial-size micrographs (about 3838 × 3710 px at 0.885 Å/px, ~100 particles
each), writes coordinate files (the simulated particle centres plus a few random picks, some
hanging over the edges), then times RELION's best on this machine
(``mpirun -np J relion_preprocess_mpi``) and ``cryopick preprocess --j J`` with the tutorial's
options (box 256 → 64, --norm --bg_radius 25, --invert_contrast), and prints both times, the
ratio, peak memory and the per-particle Pearson r between the two outputs. Usage::

    python benchmarks/extract.py --n-mics 24 --j 2 [--out-dir DIR] [--keep]
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

import mrcfile
import numpy as np
import pandas as pd
from common import benchmark_parser, cryopick_cmd, run_in_project, timed

from cryopick.io.star import read_coordinates, read_star, write_coordinates
from cryopick.simulate import CTF_STAR, TRUTH_DIR, simulate_project

FLAGS = ["--extract", "--extract_size", "256", "--scale", "64", "--norm", "--bg_radius", "25",
         "--white_dust", "-1", "--black_dust", "-1", "--invert_contrast"]
COORDS = ["--coord_dir", "AutoPick/job006/", "--coord_suffix", "_autopick.star"]


def main() -> None:
    parser = benchmark_parser(__doc__)
    parser.add_argument("--n-mics", type=int, default=24)
    parser.add_argument("--j", type=int, default=2, help="MPI ranks / cryopick workers")
    parser.add_argument("--repeats", type=int, default=2,
                        help="time each program this many times and keep the fastest")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    run_in_project(run, args, "cryopick-bench-extract-")


def write_picks(project: Path, n_mics: int, seed: int) -> int:
    """Coordinate files in AutoPick/job006/: the true centres plus 10 random picks each."""
    rng = np.random.default_rng(seed)
    total = 0
    for k in range(1, n_mics + 1):
        truth = read_coordinates(project / TRUTH_DIR / f"mic{k:03d}_truth.star")
        extra = rng.uniform([-40, -40], [3838 + 40, 3710 + 40], size=(10, 2))
        xy = np.concatenate([truth[["rlnCoordinateX", "rlnCoordinateY"]].to_numpy(), extra])
        write_coordinates(project / f"AutoPick/job006/Movies/mic{k:03d}_autopick.star",
                          pd.DataFrame({"rlnCoordinateX": xy[:, 0], "rlnCoordinateY": xy[:, 1],
                                        "rlnAutopickFigureOfMerit": 1.0, "rlnClassNumber": 0,
                                        "rlnAnglePsi": 0.0}))
        total += len(xy)
    return total


def compare(project: Path) -> tuple[int, np.ndarray, float]:
    """Particles (same order in both), per-particle Pearson r, max abs difference."""
    ours = read_star(project / "Extract/cryopick/particles.star")["particles"]
    theirs = read_star(project / "Extract/relion/particles.star")["particles"]
    if len(ours) != len(theirs) or not np.allclose(ours["rlnCoordinateX"],
                                                   theirs["rlnCoordinateX"]):
        raise SystemExit(f"particle lists differ: {len(ours)} vs {len(theirs)} particles")
    r, max_diff = [], 0.0
    for stack in sorted((project / "Extract/relion/Movies").glob("*.mrcs")):
        a = mrcfile.read(stack).reshape(-1, 64 * 64).astype(np.float64)
        b = mrcfile.read(project / "Extract/cryopick/Movies" / stack.name).reshape(-1, 64 * 64)
        a, b = a - a.mean(1, keepdims=True), b - b.mean(1, keepdims=True)
        r.extend((a * b).sum(1) / np.sqrt((a * a).sum(1) * (b * b).sum(1)))
        max_diff = max(max_diff, float(np.abs(mrcfile.read(stack) - mrcfile.read(
            project / "Extract/cryopick/Movies" / stack.name)).max()))
    return len(ours), np.asarray(r), max_diff


def best_of(repeats: int, cmd: list[str], project: Path, name: str) -> tuple[float, float]:
    """Fastest of ``repeats`` runs (wall s, peak MiB of that run); output folder reset each time."""
    runs = []
    for _ in range(repeats):
        shutil.rmtree(project / "Extract" / name, ignore_errors=True)
        runs.append(timed(cmd, project, project / f"{name}.log"))
    return min(runs)


def run(project: Path, args: argparse.Namespace) -> None:
    started = time.perf_counter()
    simulate_project(project, preset="tutorial", n_micrographs=args.n_mics, seed=args.seed)
    n_picks = write_picks(project, args.n_mics, args.seed)
    print(f"simulated {args.n_mics} tutorial-size micrographs and {n_picks} picks in "
          f"{time.perf_counter() - started:.1f} s under {project}")
    relion = ["mpirun", "-np", str(args.j), "relion_preprocess_mpi"] if args.j > 1 \
        else ["relion_preprocess"]
    t_rel, m_rel = best_of(args.repeats, [*relion, "--i", CTF_STAR, *COORDS, "--part_star",
                                          "Extract/relion/particles.star", "--part_dir",
                                          "Extract/relion/", *FLAGS], project, "relion")
    ours = [*cryopick_cmd("preprocess"), "--i", CTF_STAR, *COORDS, "--part_star",
            "Extract/cryopick/particles.star", "--part_dir", "Extract/cryopick/", *FLAGS,
            "--j", str(args.j), "--backend", "numpy"]
    t_our, m_our = best_of(args.repeats, ours, project, "cryopick")
    t_start, _ = best_of(args.repeats, [*cryopick_cmd("preprocess"), "--help"], project, "help")
    n, r, max_diff = compare(project)
    print(f"\nparticle extraction, {args.n_mics} micrographs, {n} particles, box 256 → 64, "
          f"{args.j} processes each, best of {args.repeats}")
    print(f"{'':28s} {'time (s)':>9s} {'mic/s':>7s} {'peak MiB':>9s}")
    for name, t, m in (("RELION (relion_preprocess)", t_rel, m_rel),
                       ("cryopick preprocess", t_our, m_our)):
        print(f"{name:28s} {t:9.2f} {args.n_mics / t:7.2f} {m:9.0f}")
    print(f"speed-up cryopick vs RELION: {t_rel / t_our:.2f}x end to end; cryopick's fixed "
          f"start-up (Python imports, `cryopick preprocess --help`) is {t_start:.2f} s of its "
          f"{t_our:.2f} s; RELION's time / cryopick's time after start-up: "
          f"{t_rel / max(t_our - t_start, 1e-9):.2f}x")
    print(f"per-particle Pearson r vs RELION: min {r.min():.7f}, median {np.median(r):.7f}; "
          f"max abs difference {max_diff:.2e}")


if __name__ == "__main__":
    main()
