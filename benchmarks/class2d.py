"""Benchmark: 2D classification, cryopick against relion_refine on the same particles, in one run.

Simulates particles from a few known shapes (CTF, noise; tutorial-like 64 px at 3.54 Å), runs
``relion_refine --j J`` and ``cryopick refine`` with the tutorial's flags (psi step 12, offset
range 5 / step 2, mask 200 Å, T = 2, zero mask, flatten, norm, scale), and prints the time per
iteration, total time, peak memory and the quality of both (distribution-weighted best NCC of
the class averages with the true shapes, per-shape best NCC, class purity). Usage::

    python benchmarks/class2d.py --n-particles 1000 --k 20 --iter 10 --j 2
    python benchmarks/class2d.py --n-particles 5000 --k 50 --iter 25   # the tutorial's K and iterations
    python benchmarks/class2d.py --backend cupy --skip-relion           # the GPU path alone
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
from common import benchmark_parser, cryopick_cmd, run_in_project, timed

from cryopick.classification.quality import class_quality, purity
from cryopick.classification.synthetic import write_synthetic_particles
from cryopick.io.mrc import read_image_stack
from cryopick.io.star import read_star

STAR = "Extract/job007/particles.star"


def flags(args: argparse.Namespace) -> list[str]:
    """relion_refine's flags as the RELION GUI writes them for the tutorial's 2D job."""
    return ["--i", STAR, "--dont_combine_weights_via_disc", "--preread_images", "--pool", "30",
            "--pad", "2", "--ctf", "--iter", str(args.iter), "--tau2_fudge", "2",
            "--particle_diameter", str(args.diameter), "--K", str(args.k), "--flatten_solvent",
            "--zero_mask", "--oversampling", "1", "--psi_step", "12", "--offset_range", "5",
            "--offset_step", "2", "--norm", "--scale", "--j", str(args.j), "--random_seed",
            str(args.seed)]


def main() -> None:
    parser = benchmark_parser(__doc__)
    parser.add_argument("--n-particles", type=int, default=1000)
    parser.add_argument("--k", type=int, default=20, help="number of classes")
    parser.add_argument("--iter", type=int, default=10, help="iterations")
    parser.add_argument("--n-shapes", type=int, default=5, help="distinct true shapes")
    parser.add_argument("--box", type=int, default=64, help="box size (px)")
    parser.add_argument("--pixel", type=float, default=3.54, help="pixel size (Å)")
    parser.add_argument("--diameter", type=float, default=200.0, help="mask diameter (Å)")
    parser.add_argument("--snr", type=float, default=0.3)
    parser.add_argument("--j", type=int, default=2, help="threads for both programs")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--backend", default="numpy", choices=["numpy", "cupy", "auto"])
    parser.add_argument("--skip-relion", action="store_true")
    args = parser.parse_args()
    run_in_project(run, args, "cryopick-bench-class2d-")


def iteration_seconds(project: Path, root: str, n_iter: int) -> np.ndarray:
    """Seconds per iteration, from the write times of consecutive model files."""
    stamps = [os.path.getmtime(project / f"{root}_it{i:03d}_model.star") for i in range(n_iter + 1)]
    return np.diff(stamps)


def quality(project: Path, root: str, n_iter: int, truth, labels_by_name: dict) -> dict:
    model = read_star(project / f"{root}_it{n_iter:03d}_model.star")["model_classes"]
    data = read_star(project / f"{root}_it{n_iter:03d}_data.star")["particles"]
    averages = read_image_stack(project / f"{root}_it{n_iter:03d}_classes.mrcs")
    dist = model["rlnClassDistribution"].to_numpy()
    q = class_quality(averages, dist, truth.shapes, radius_px=0.4 * averages.shape[-1])
    labels = np.array([labels_by_name[name] for name in data["rlnImageName"]])
    return {"weighted": q.weighted_mean, "per_shape": q.per_shape,
            "purity": purity(data["rlnClassNumber"].to_numpy(), labels),
            "classes_used": int((dist >= 0.01).sum())}


def run(project: Path, args: argparse.Namespace) -> None:
    started = time.perf_counter()
    truth = write_synthetic_particles(project, n_particles=args.n_particles,
                                      n_shapes=args.n_shapes, box_px=args.box,
                                      pixel_size_a=args.pixel, snr=args.snr,
                                      n_micrographs=max(1, args.n_particles // 100), seed=11)
    names = read_star(project / STAR)["particles"]["rlnImageName"]
    labels_by_name = dict(zip(names, truth.labels))
    print(f"simulated {args.n_particles} particles ({args.box} px, {args.pixel} Å, "
          f"{args.n_shapes} shapes, SNR {args.snr}) in {time.perf_counter() - started:.1f} s "
          f"under {project}")
    results = {}
    if not args.skip_relion:
        (project / "Class2D/relion").mkdir(parents=True, exist_ok=True)
        wall, peak = timed(["relion_refine", "--o", "Class2D/relion/run", *flags(args)],
                           project, project / "relion.log")
        results["relion_refine"] = (wall, peak, "Class2D/relion/run")
    wall, peak = timed([*cryopick_cmd("refine"), "--o", "Class2D/cryopick/run", *flags(args),
                        "--backend", args.backend], project, project / "cryopick.log")
    results["cryopick"] = (wall, peak, "Class2D/cryopick/run")
    report(project, args, results, truth, labels_by_name)


def report(project: Path, args, results: dict, truth, labels_by_name: dict) -> None:
    print(f"\nK={args.k}, {args.iter} iterations, {args.n_particles} particles, --j {args.j}")
    print(f"{'program':<14}{'total s':>9}{'s/iter (1st, median, last)':>30}{'peak MiB':>10}"
          f"{'wNCC':>7}{'purity':>8}{'classes':>8}  per-shape NCC")
    for name, (wall, peak, root) in results.items():
        per_iter = iteration_seconds(project, root, args.iter)
        q = quality(project, root, args.iter, truth, labels_by_name)
        timing = f"{per_iter[0]:.1f}, {np.median(per_iter):.1f}, {per_iter[-1]:.1f}"
        print(f"{name:<14}{wall:>9.1f}{timing:>30}{peak:>10.0f}{q['weighted']:>7.3f}"
              f"{q['purity']:>8.3f}{q['classes_used']:>8}  "
              f"{' '.join(f'{v:.3f}' for v in q['per_shape'])}")
    if "relion_refine" in results:
        ratio = results["relion_refine"][0] / results["cryopick"][0]
        print(f"\ncryopick is {ratio:.1f}x faster than relion_refine --j {args.j} (total time)")


if __name__ == "__main__":
    main()
