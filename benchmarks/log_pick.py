"""Benchmark: LoG picking, cryopick against RELION on the same micrographs, in one run.

Simulates tutorial-size micrographs (about 3838 × 3710 px at 0.885 Å/px, ~100 particles each,
with CTF, contamination and a carbon edge), then times RELION's best on this machine
(``mpirun -np J relion_autopick_mpi``) and ``cryopick autopick --j J`` with the tutorial's
flags, alternately and best of ``--repeats``, and prints times, the throughput ratio, F1 of
both against the ground truth and peak memory. Usage::

    python benchmarks/log_pick.py --n-mics 24 --j 2 [--repeats 2] [--out-dir DIR] [--keep]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from common import benchmark_parser, best_alternating, cryopick_cmd, run_in_project, \
    score_job, timed

from cryopick.simulate import simulate_project

FLAGS = ["--LoG", "--LoG_diam_min", "150", "--LoG_diam_max", "180", "--shrink", "0",
         "--lowpass", "20", "--LoG_adjust_threshold", "0", "--LoG_upper_threshold", "5"]
STAR = "CtfFind/job003/micrographs_ctf.star"


def main() -> None:
    parser = benchmark_parser(__doc__)
    parser.add_argument("--n-mics", type=int, default=24)
    parser.add_argument("--j", type=int, default=2, help="MPI ranks / cryopick workers")
    parser.add_argument("--reuse", action="store_true",
                        help="pick the project already simulated in --out-dir (same --n-mics)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeats", type=int, default=1,
                        help="alternate RELION and cryopick this many times, best of each")
    args = parser.parse_args()
    run_in_project(run, args, "cryopick-bench-log-")


def run(project: Path, args: argparse.Namespace) -> None:
    started = time.perf_counter()
    if not args.reuse:
        simulate_project(project, preset="tutorial", n_micrographs=args.n_mics, seed=args.seed)
    print(f"simulated {args.n_mics} tutorial-size micrographs in "
          f"{time.perf_counter() - started:.1f} s under {project}")
    relion = ["mpirun", "-np", str(args.j), "relion_autopick_mpi"] if args.j > 1 \
        else ["relion_autopick"]
    best = best_alternating({
        "relion": ([*relion, "--i", STAR, "--odir", "AutoPick/relion/", "--pickname",
                    "autopick", *FLAGS], Path("AutoPick/relion")),
        "cryopick": ([*cryopick_cmd("autopick"), "--i", STAR, "--odir", "AutoPick/cryopick/",
                      "--pickname", "autopick", *FLAGS, "--j", str(args.j), "--backend",
                      "numpy"], Path("AutoPick/cryopick"))}, project, args.repeats)
    (t_rel, m_rel), (t_our, m_our) = best["relion"], best["cryopick"]
    t_flt, m_flt = timed([*cryopick_cmd("autopick"), "--i", STAR, "--odir", "AutoPick/filtered/",
                          "--pickname", "autopick", *FLAGS, "--LoG_noise_filters",
                          "--min_avg_noise", "-0.2", "--j", str(args.j), "--backend", "numpy"],
                         project, project / "filtered.log")
    radius_px = 0.25 * 150 / 0.885  # a pick matches a particle within a quarter diameter
    s_rel = score_job(project, STAR, "AutoPick/relion/", radius_px)
    s_our = score_job(project, STAR, "AutoPick/cryopick/", radius_px)
    s_flt = score_job(project, STAR, "AutoPick/filtered/", radius_px)
    n = args.n_mics
    print(f"\nLoG picking, {n} micrographs, {args.j} processes each, best of {args.repeats} "
          "(run alternately)")
    print(f"{'':22s} {'time (s)':>9s} {'mic/s':>7s} {'peak MiB':>9s} {'picks':>6s} "
          f"{'prec':>5s} {'recall':>6s} {'F1':>5s}")
    rows = (("RELION", t_rel, m_rel, s_rel), ("cryopick (RELION flags)", t_our, m_our, s_our),
            ("cryopick (+noise filter)", t_flt, m_flt, s_flt))
    for name, t, m, s in rows:
        print(f"{name:22s} {t:9.2f} {n / t:7.2f} {m:9.0f} {s.n_picks:6d} {s.precision:5.3f} "
              f"{s.recall:6.3f} {s.f1:5.3f}")
    print(f"throughput ratio cryopick/RELION: {t_rel / t_our:.2f}x "
          f"(F1 {s_our.f1:.3f} vs {s_rel.f1:.3f})")


if __name__ == "__main__":
    main()
