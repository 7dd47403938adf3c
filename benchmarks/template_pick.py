"""Benchmark: template picking, cryopick against RELION on the same micrographs, in one run.

Simulates tutorial-size micrographs (about 3838 × 3710 px at 0.885 Å/px, ~100 particles each;
``--small``: 1920 × 1856 px, ~25 particles),
makes 4 references the way the tutorial gets them (white, CTF-free projections of the particle
at 3.54 Å/px in a 64 px box, masked at 200 Å), then times RELION's best on this machine
(``mpirun -np J relion_autopick_mpi``) and ``cryopick autopick --j J`` with the tutorial's
flags (5°, low-pass 20 Å, shrink 0, CTF on), alternately and best of ``--repeats``, and
re-picking from saved FOM maps. Prints times, ratios, peak memory and F1 of both against the
ground truth. Usage::

    python benchmarks/template_pick.py --n-mics 24 --j 2 [--threshold 0.5] [--min-avg-noise -0.2]
    python benchmarks/template_pick.py --n-mics 24 --j 2 --threshold 0 --min-avg-noise -999 \
        --small --repeats 2 --no-extras
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
from common import benchmark_parser, best_alternating, cryopick_cmd, run_in_project, \
    score_job, timed

from cryopick.io.mrc import write_mrc
from cryopick.io.star import write_star
from cryopick.simulate import make_blobs, project_blobs, simulate_project

STAR = "CtfFind/job003/micrographs_ctf.star"
VIEWS_DEG = [(0.0, 0.0, 0.0), (0.0, 90.0, 0.0), (90.0, 90.0, 0.0), (45.0, 45.0, 30.0)]


def write_references(project: Path) -> str:
    """Four masked white projections at 3.54 Å/px (box 64) as a class_averages.star."""
    box, pixel = 64, 3.54
    images = project_blobs(make_blobs(), np.array(VIEWS_DEG), box, pixel)
    images = images / images.std()
    yy, xx = np.mgrid[:box, :box] - box // 2
    images = images * ((yy**2 + xx**2) < (200 / pixel / 2) ** 2)
    write_mrc(project / "Select/refs/class_averages.mrcs", images.astype(np.float32), pixel,
              stack=True)
    write_star(project / "Select/refs/class_averages.star", {"": pd.DataFrame({
        "rlnReferenceImage": [f"{i:06d}@Select/refs/class_averages.mrcs" for i in range(1, 5)],
        "rlnClassNumber": [1, 2, 3, 4]})})
    return "Select/refs/class_averages.star"


def main() -> None:
    parser = benchmark_parser(__doc__)
    parser.add_argument("--n-mics", type=int, default=24)
    parser.add_argument("--j", type=int, default=2, help="MPI ranks / cryopick workers")
    parser.add_argument("--threshold", type=float, default=0.5)
    parser.add_argument("--min-distance", type=float, default=100.0, help="Å")
    parser.add_argument("--min-avg-noise", type=float, default=-0.2,
                        help="as tuned on the optimisation pass (-999: off, the tutorial's)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--small", action="store_true", help="1920 × 1856 px micrographs")
    parser.add_argument("--repeats", type=int, default=1,
                        help="alternate RELION and cryopick this many times, best of each")
    parser.add_argument("--no-extras", action="store_true",
                        help="skip the LoG, FOM-map writing and re-picking rows")
    args = parser.parse_args()
    run_in_project(run, args, "cryopick-bench-tpl-")


def run(project: Path, args: argparse.Namespace) -> None:
    started = time.perf_counter()
    size = {"nx": 1920, "ny": 1856, "particles_per_micrograph": 25} if args.small else {}
    simulate_project(project, preset="tutorial", n_micrographs=args.n_mics, seed=args.seed,
                     **size)
    refs = write_references(project)
    shape = "1920 × 1856" if args.small else "3838 × 3710"
    print(f"simulated {args.n_mics} micrographs of {shape} px in "
          f"{time.perf_counter() - started:.1f} s under {project}")
    flags = ["--ref", refs, "--invert", "--ctf", "--ang", "5", "--lowpass", "20", "--shrink",
             "0", "--threshold", f"{args.threshold:g}", "--min_distance",
             f"{args.min_distance:g}", "--max_stddev_noise", "-1", "--min_avg_noise",
             f"{args.min_avg_noise:g}"]
    relion = ["mpirun", "-np", str(args.j), "relion_autopick_mpi"] if args.j > 1 \
        else ["relion_autopick"]
    ours = [*cryopick_cmd("autopick"), "--i", STAR, "--pickname", "autopick", *flags,
            "--j", str(args.j), "--backend", "numpy"]
    best = best_alternating({
        "relion": ([*relion, "--i", STAR, "--odir", "AutoPick/relion/", "--pickname",
                    "autopick", *flags], Path("AutoPick/relion")),
        "cryopick": ([*ours, "--odir", "AutoPick/cryopick/"], Path("AutoPick/cryopick"))},
        project, args.repeats)
    (t_rel, m_rel), (t_our, m_our) = best["relion"], best["cryopick"]
    radius_px = 0.25 * 150 / 0.885
    scores = {name: score_job(project, STAR, f"AutoPick/{name}/", radius_px)
              for name in ("relion", "cryopick")}
    n = args.n_mics
    print(f"\nTemplate picking, {n} micrographs of {shape} px, 4 references, 5°, CTF, "
          f"threshold {args.threshold:g}, {args.j} processes, best of {args.repeats} "
          "(run alternately)")
    print(f"{'':26s} {'time (s)':>9s} {'s/mic':>7s} {'peak MiB':>9s} {'picks':>6s} "
          f"{'prec':>5s} {'recall':>6s} {'F1':>5s}")
    for name, t, m, s in (("RELION", t_rel, m_rel, scores["relion"]),
                          ("cryopick", t_our, m_our, scores["cryopick"])):
        print(f"{name:26s} {t:9.2f} {t / n:7.3f} {m:9.0f} {s.n_picks:6d} {s.precision:5.3f} "
              f"{s.recall:6.3f} {s.f1:5.3f}")
    if not args.no_extras:
        _extras(project, args, ours, flags)
    print(f"speed-up cryopick/RELION: {t_rel / t_our:.2f}x (F1 {scores['cryopick'].f1:.3f} vs "
          f"RELION {scores['relion'].f1:.3f}, {scores['cryopick'].n_picks} vs "
          f"{scores['relion'].n_picks} picks)")


def _extras(project: Path, args: argparse.Namespace, ours: list[str], flags: list[str]) -> None:
    """LoG on the same micrographs, writing FOM maps, and re-picking from them."""
    n = args.n_mics
    t_log, _ = timed([*cryopick_cmd("autopick"), "--i", STAR, "--odir", "AutoPick/LoG/",
                      "--LoG", "--LoG_diam_min", "150", "--LoG_diam_max", "180", "--shrink",
                      "0", "--lowpass", "20", "--LoG_upper_threshold", "5", "--j",
                      str(args.j)], project, project / "log.log")
    t_wri, _ = timed([*ours, "--odir", "AutoPick/maps/", "--write_fom_maps", "--no_fom_limit"],
                     project, project / "maps.log")
    repick = [*cryopick_cmd("repick"), "--i", STAR, "--odir", "AutoPick/maps/", *flags[:-8],
              "--threshold", f"{args.threshold + 0.1:g}", "--min_distance",
              f"{args.min_distance:g}", "--min_avg_noise", f"{args.min_avg_noise:g}",
              "--j", str(args.j)]
    t_rep, m_rep = timed(repick, project, project / "repick.log")
    s = score_job(project, STAR, "AutoPick/LoG/", 0.25 * 150 / 0.885)
    print(f"{'cryopick LoG (reference)':26s} {t_log:9.2f} {t_log / n:7.3f} {'':9s} "
          f"{s.n_picks:6d} {s.precision:5.3f} {s.recall:6.3f} {s.f1:5.3f}")
    print(f"{'cryopick writing FOM maps':26s} {t_wri:9.2f} {t_wri / n:7.3f}")
    print(f"{'cryopick re-pick from maps':26s} {t_rep:9.2f} {t_rep / n:7.3f} {m_rep:9.0f}")


if __name__ == "__main__":
    main()
