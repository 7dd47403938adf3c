"""Benchmark: peak memory of 2D classification at scale (100 000 particles of 64² by default).

Simulates the particles (CTF, noise; 3.54 Å/px as in the tutorial after extraction), then runs
``cryopick refine`` with the tutorial's 2D options (K 50, T 2, mask 200 Å, psi 12°, offsets
5 / 2 px) with particles streamed from disk (no ``--preread_images``), and prints the peak
RSS, the time and the memory bound the README states: the E-step batches
(``--memory_budget_mb`` per thread) plus what grows with the particle count (the particle
table and per-particle state) and with K (class averages, M-step sums). One iteration
classifies every particle once: about 15 min for 100 000 particles on 2 cores. Usage::

    python benchmarks/class2d_memory.py [--n-particles 100000] [--k 50] [--j 2]
    python benchmarks/class2d_memory.py --preread   # the same with --preread_images
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

from common import benchmark_parser, cryopick_cmd, run_in_project, timed

from cryopick.classification.synthetic import write_synthetic_particles

STAR = "Extract/job007/particles.star"


def main() -> None:
    parser = benchmark_parser(__doc__)
    parser.add_argument("--n-particles", type=int, default=100_000)
    parser.add_argument("--k", type=int, default=50, help="number of classes")
    parser.add_argument("--box", type=int, default=64, help="box size (px)")
    parser.add_argument("--iter", type=int, default=1, help="iterations (later ones see more "
                        "frequencies)")
    parser.add_argument("--j", type=int, default=2, help="threads")
    parser.add_argument("--memory-budget-mb", type=float, default=256.0,
                        help="cryopick's --memory_budget_mb (E-step arrays per thread)")
    parser.add_argument("--preread", action="store_true", help="add --preread_images")
    args = parser.parse_args()
    run_in_project(run, args, "cryopick-bench-class2d-mem-")


def run(project: Path, args: argparse.Namespace) -> None:
    started = time.perf_counter()
    if not (project / STAR).is_file():
        write_synthetic_particles(project, n_particles=args.n_particles, n_shapes=5,
                                  box_px=args.box, pixel_size_a=3.54, snr=0.3,
                                  n_micrographs=max(1, args.n_particles // 100), seed=11)
    stack_mib = args.n_particles * args.box**2 * 4 / 2**20
    print(f"{args.n_particles} particles of {args.box}² ({stack_mib:.0f} MiB of images on "
          f"disk) ready in {time.perf_counter() - started:.1f} s under {project}")
    cmd = [*cryopick_cmd("refine"), "--o", "Class2D/mem/run", "--i", STAR, "--ctf", "--iter",
           str(args.iter), "--tau2_fudge", "2", "--particle_diameter", "200", "--K", str(args.k),
           "--flatten_solvent", "--zero_mask", "--psi_step", "12", "--offset_range", "5",
           "--offset_step", "2", "--norm", "--scale", "--j", str(args.j), "--random_seed", "1",
           "--memory_budget_mb", f"{args.memory_budget_mb:g}", "--backend", "numpy"]
    if args.preread:
        cmd.append("--preread_images")
    shutil.rmtree(project / "Class2D/mem", ignore_errors=True)
    (project / "Class2D/mem").mkdir(parents=True)
    wall, peak = timed(cmd, project, project / "class2d_memory.log")
    budget = args.j * args.memory_budget_mb
    images = "--preread_images" if args.preread else "streamed from disk"
    print(f"\ncryopick refine, K={args.k}, {args.iter} iteration(s) over all {args.n_particles} "
          f"particles, --j {args.j}, {images}")
    print(f"time {wall:.1f} s; peak memory {peak:.0f} MiB (of which the E-step budget is "
          f"{budget:.0f} MiB = {args.j} threads × {args.memory_budget_mb:g} MiB)")


if __name__ == "__main__":
    main()
