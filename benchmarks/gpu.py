"""Benchmark: the GPU rows, every stage on CuPy against NumPy on the same data, in one run.

Simulates tutorial-size micrographs (3838 × 3710 px at 0.885 Å/px, ~100 particles each) and
synthetic particles, then times, for each stage, ``cryopick … --backend cupy`` against
``--backend numpy --j J`` (all CPU cores by default) and checks that both give the same
result:

- template picking, the workflow's final pass (4 references, 5°, CTF, threshold 0,
  minimum distance 100 Å, no noise filter): whole command, and micrographs per second in one
  process once warm (FOM maps and peaks, the micrograph already read);
- LoG picking with the tutorial's flags;
- extraction of the template picks, box 256 → 64, normalised, inverted;
- 2D classification, ``--n-particles`` × K ``--k`` × ``--iter`` iterations on CuPy (the
  headline: 10 000 × 50 × 25), against NumPy's seconds per iteration over ``--numpy-iter``.

RELION is not run (the CPU benchmarks time it); ``--other numpy`` runs the script's logic
without a GPU. Usage::

    python benchmarks/gpu.py --n-mics 12 --n-particles 10000 --k 50 --iter 25
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from common import benchmark_parser, cryopick_cmd, run_in_project, score_job, timed
from template_pick import write_references

from cryopick.io.star import post_name, read_coordinates, read_micrographs_star, read_star

STAR = "CtfFind/job003/micrographs_ctf.star"
MANY = "CtfFind/job003/micrographs_copies.star"
TEMPLATE = ["--invert", "--ctf", "--ang", "5", "--lowpass", "20", "--shrink", "0",
            "--threshold", "0", "--min_distance", "100", "--max_stddev_noise", "-1",
            "--min_avg_noise", "-999"]
LOG = ["--LoG", "--LoG_diam_min", "150", "--LoG_diam_max", "180", "--shrink", "0",
       "--lowpass", "20", "--LoG_adjust_threshold", "0", "--LoG_upper_threshold", "5"]
EXTRACT = ["--extract", "--extract_size", "256", "--scale", "64", "--norm", "--bg_radius", "25",
           "--white_dust", "-1", "--black_dust", "-1", "--invert_contrast"]


def main() -> None:
    parser = benchmark_parser(__doc__)
    parser.add_argument("--n-mics", type=int, default=12)
    parser.add_argument("--j", type=int, default=os.cpu_count(), help="NumPy's processes")
    parser.add_argument("--n-particles", type=int, default=10000)
    parser.add_argument("--k", type=int, default=50)
    parser.add_argument("--iter", type=int, default=25)
    parser.add_argument("--numpy-iter", type=int, default=2,
                        help="NumPy's 2D iterations (its seconds per iteration are compared)")
    parser.add_argument("--class2d-timeout", type=float, default=300.0,
                        help="stop the GPU 2D run after this many seconds (its finished "
                             "iterations are still reported)")
    parser.add_argument("--other", default="cupy", choices=["cupy", "numpy"],
                        help="the backend compared with NumPy (numpy: a dry run without a GPU)")
    parser.add_argument("--skip", nargs="*", default=[],
                        choices=["template", "log", "extract", "class2d"])
    parser.add_argument("--copies", type=int, default=4,
                        help="template-pick each micrograph this many times over (links) in "
                             "one more whole-command row (1: no such row)")
    parser.add_argument("--gpu-j", type=int, nargs="+", default=[4],
                        help="GPU processes in that row (they share the device); several "
                             "values: one run each")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    run_in_project(run, args, "cryopick-bench-gpu-")


def run(project: Path, args: argparse.Namespace) -> None:
    rows: list[tuple[str, float, float, str]] = []
    if {"template", "log", "extract"} - set(args.skip):
        started = time.perf_counter()
        from cryopick.simulate import simulate_project

        simulate_project(project, preset="tutorial", n_micrographs=args.n_mics, seed=args.seed)
        print(f"simulated {args.n_mics} tutorial-size micrographs in "
              f"{time.perf_counter() - started:.1f} s under {project}", flush=True)
    if "template" not in args.skip:
        rows += template_rows(project, args)
    if "log" not in args.skip:
        rows += picking_rows(project, args, "LoG", LOG, "log")
    if "extract" not in args.skip and "template" not in args.skip:
        rows += extract_rows(project, args)
    if "class2d" not in args.skip:
        rows += class2d_rows(project, args)
    print(f"\nNumPy on {args.j} processes against {args.other} (one process); "
          f"{args.n_mics} micrographs of 3838 × 3710 px")
    print(f"{'stage':58s} {'numpy':>9s} {args.other:>9s} {'ratio':>7s}  agreement")
    for name, t_np, t_other, note in rows:
        ratio = f"{t_np / t_other:6.1f}x" if t_other > 0 and t_np > 0 else ""
        print(f"{name:58s} {_seconds(t_np)} {_seconds(t_other)} {ratio:>7s}  {note}")


def _seconds(t: float) -> str:
    """A time column: ``—`` where a backend was not timed (NaN)."""
    return f"{'—':>9s}" if math.isnan(t) else f"{t:9.2f}"


def _backend_cmd(program: str, backend: str, j: int) -> list[str]:
    return [*cryopick_cmd(program), "--j", str(j), "--backend", backend]


def _same_picks(project: Path, a: str, b: str, tolerance_px: float = 1.0) -> str:
    """How many picks of job folder ``a`` have a pick of ``b`` within ``tolerance_px``."""
    from scipy.spatial import cKDTree

    n_a = n_b = matched = 0
    fom_diff = 0.0
    for name in read_micrographs_star(project / STAR).names:
        stem = os.path.splitext(post_name(name))[0] + "_autopick.star"
        ta, tb = (read_coordinates(project / d / stem) for d in (a, b))
        xa = ta[["rlnCoordinateX", "rlnCoordinateY"]].to_numpy(float)
        xb = tb[["rlnCoordinateX", "rlnCoordinateY"]].to_numpy(float)
        n_a, n_b = n_a + len(xa), n_b + len(xb)
        if len(xa) and len(xb):
            dist, idx = cKDTree(xb).query(xa)
            ok = dist <= tolerance_px
            matched += int(ok.sum())
            fa = ta["rlnAutopickFigureOfMerit"].to_numpy(float)[ok]
            fb = tb["rlnAutopickFigureOfMerit"].to_numpy(float)[idx[ok]]
            if len(fa):
                fom_diff = max(fom_diff, float(np.max(np.abs(fa - fb) /
                                                      np.maximum(np.abs(fa), 1e-6))))
    return (f"{n_a} vs {n_b} picks, {matched} within {tolerance_px:g} px, "
            f"FOM rel. diff ≤ {fom_diff:.1e}")


def picking_rows(project: Path, args, label: str, flags: list[str], tag: str,
                 extra: list[str] = ()) -> list[tuple[str, float, float, str]]:
    base = [STAR, "--pickname", "autopick", *flags, *extra]
    t_np, m_np = timed([*_backend_cmd("autopick", "numpy", args.j), "--i", *base, "--odir",
                        f"AutoPick/{tag}_numpy/"], project, project / f"{tag}_numpy.log")
    t_gpu, m_gpu = timed([*_backend_cmd("autopick", args.other, 1), "--i", *base, "--odir",
                          f"AutoPick/{tag}_gpu/"], project, project / f"{tag}_gpu.log")
    radius_px = 0.25 * 150 / 0.885
    f1 = [score_job(project, STAR, f"AutoPick/{tag}_{b}/", radius_px).f1
          for b in ("numpy", "gpu")]
    note = (_same_picks(project, f"AutoPick/{tag}_numpy/", f"AutoPick/{tag}_gpu/")
            + f"; F1 {f1[0]:.3f} / {f1[1]:.3f}; peak MiB {m_np:.0f} / {m_gpu:.0f}")
    print(f"{label}: numpy {t_np:.2f} s, {args.other} {t_gpu:.2f} s; {note}", flush=True)
    return [(f"{label}, whole command", t_np, t_gpu, note)]


def template_rows(project: Path, args) -> list[tuple[str, float, float, str]]:
    refs = write_references(project)
    rows = picking_rows(project, args, "template picking (threshold 0)", TEMPLATE, "tpl",
                        ["--ref", refs])
    per_mic = {b: steady_state(project, refs, b) for b in ("numpy", args.other)}
    for b, (t, n) in per_mic.items():
        print(f"template picking in one process, warm, {b}: {t / n * 1000:.1f} ms per "
              f"micrograph ({n / t:.1f} micrographs/s)", flush=True)
    (t_np, n), (t_gpu, _) = per_mic["numpy"], per_mic[args.other]
    rows.append(("template picking, one process, warm: s per micrograph", t_np / n, t_gpu / n,
                 f"{n / t_gpu:.1f} micrographs/s on {args.other}"))
    if args.copies > 1:
        rows += many_micrographs(project, args, refs)
    return rows


def many_micrographs(project: Path, args, refs: str) -> list[tuple[str, float, float, str]]:
    """The whole command on ``--copies`` links to each micrograph, on the GPU with each of
    ``--gpu-j`` processes (they overlap one another's reading and host peak search with GPU
    work)."""
    blocks = read_star(project / STAR)
    table = blocks["micrographs"]
    rows = []
    for copy in range(args.copies):
        for _, row in table.iterrows():
            name = Path(row["rlnMicrographName"])
            link = name.with_name(f"{name.stem}_c{copy}{name.suffix}")
            if not (project / link).exists():
                os.symlink(name.name, project / link)
            rows.append({**row.to_dict(), "rlnMicrographName": str(link)})
    import pandas as pd

    from cryopick.io.star import write_star

    write_star(project / MANY, {"optics": blocks["optics"], "micrographs": pd.DataFrame(rows)})
    n = len(rows)
    base = ["--i", MANY, "--pickname", "autopick", *TEMPLATE, "--ref", refs]
    t_np, _ = timed([*_backend_cmd("autopick", "numpy", args.j), *base, "--odir",
                     "AutoPick/many_numpy/"], project, project / "many_numpy.log")
    out = []
    for j in args.gpu_j:
        t_gpu, _ = timed([*_backend_cmd("autopick", args.other, j), *base, "--odir",
                          f"AutoPick/many_gpu{j}/"], project, project / f"many_gpu{j}.log")
        note = (f"{n} micrographs: numpy {n / t_np:.1f}/s, {args.other} --j {j} "
                f"{n / t_gpu:.1f}/s, start-up included")
        print(f"template picking, {note}", flush=True)
        out.append((f"template picking, {n} micrographs, whole command, GPU --j {j}", t_np,
                    t_gpu, note))
    return out


@dataclasses.dataclass
class TemplateRun:
    """What the final template pass needs in one process, micrographs already in memory."""

    bk: object
    mics: object
    params: object
    templates: object
    size: object  # the working size of the (equal-sized) micrographs
    rotations: list
    images: list[np.ndarray]


def template_run(refs: str, backend: str) -> TemplateRun:
    """The final pass's setup (4 references, 5°, CTF, threshold 0, 100 Å) in the project
    folder that is the current directory."""
    from cryopick.backend import get_backend
    from cryopick.io.mrc import read_micrograph
    from cryopick.picking.references import prepare_templates
    from cryopick.picking.template import TemplatePickParams, prepare_rotations
    from cryopick.picking.working_size import working_size

    bk = get_backend(backend)
    mics = read_micrographs_star(STAR)
    params = TemplatePickParams(lowpass_a=20, angular_sampling_deg=5, shrink=0, threshold=0.0,
                                min_distance_a=100, ctf=True)
    templates = prepare_templates(refs, mics.pixel_size_a, invert=True)
    images = [np.array(read_micrograph(name)) for name in mics.names]
    ny, nx = images[0].shape
    size = working_size(nx, ny, mics.pixel_size_a, params.lowpass_a, params.shrink,
                        params.optimise_size)
    return TemplateRun(bk, mics, params, templates, size,
                       prepare_rotations(templates, size, params, bk), images)


def steady_state(project: Path, refs: str, backend: str) -> tuple[float, int]:
    """Seconds for FOM maps + peaks of every micrograph but the first, in this process."""
    from cryopick.picking.template import compute_fom_maps, peaks_from_maps

    cwd = os.getcwd()
    os.chdir(project)
    try:
        run = template_run(refs, backend)
        pixel = run.mics.pixel_size_a
        sync = synchroniser(backend)
        elapsed = fom_time = 0.0
        for i, image in enumerate(run.images):
            ny, nx = image.shape
            started = time.perf_counter()
            maps = compute_fom_maps(image, pixel, run.mics.ctf(i), run.templates, run.rotations,
                                    run.params, run.bk, i)
            sync()
            fom_done = time.perf_counter()
            peaks_from_maps(maps, nx, ny, pixel, run.templates, run.params)
            if i:
                elapsed += time.perf_counter() - started
                fom_time += fom_done - started
        n = len(run.images) - 1
        print(f"  {backend}: FOM maps {fom_time / n * 1000:.1f} ms, peaks (host) "
              f"{(elapsed - fom_time) / n * 1000:.1f} ms per micrograph", flush=True)
        return elapsed, n
    finally:
        os.chdir(cwd)


def synchroniser(backend: str):
    """A call that waits for the device's queued work (nothing to wait for on the host)."""
    if backend == "cupy":
        import cupy

        return cupy.cuda.Device().synchronize
    return lambda: None


def extract_rows(project: Path, args) -> list[tuple[str, float, float, str]]:
    import mrcfile

    coords = ["--coord_dir", "AutoPick/tpl_numpy/", "--coord_suffix", "_autopick.star"]
    times = {}
    for b, j in (("numpy", args.j), (args.other, 1)):
        odir = f"Extract/{b}_{j}/"
        times[b] = timed([*_backend_cmd("preprocess", b, j), "--i", STAR, *coords,
                          "--part_star", odir + "particles.star", "--part_dir", odir, *EXTRACT],
                         project, project / f"extract_{b}.log")[0]
    n = len(read_star(project / f"Extract/numpy_{args.j}/particles.star")["particles"])
    diff = 0.0
    for stack in sorted((project / f"Extract/numpy_{args.j}").rglob("*.mrcs")):
        other = project / f"Extract/{args.other}_1" / stack.relative_to(
            project / f"Extract/numpy_{args.j}")
        diff = max(diff, float(np.abs(mrcfile.read(stack) - mrcfile.read(other)).max()))
    note = f"{n} particles, max abs difference {diff:.1e} (background σ = 1)"
    print(f"extraction: numpy {times['numpy']:.2f} s, {args.other} {times[args.other]:.2f} s; "
          f"{note}", flush=True)
    return [("extraction 256 → 64, whole command", times["numpy"], times[args.other], note)]


def class2d_rows(project: Path, args) -> list[tuple[str, float, float, str]]:
    from class2d import flags as refine_flags
    from class2d import iteration_seconds

    from cryopick.classification.synthetic import write_synthetic_particles

    started = time.perf_counter()
    write_synthetic_particles(project, n_particles=args.n_particles, n_shapes=5, box_px=64,
                              pixel_size_a=3.54, snr=0.3,
                              n_micrographs=max(1, args.n_particles // 100), seed=11)
    print(f"simulated {args.n_particles} particles in {time.perf_counter() - started:.1f} s",
          flush=True)
    ns = argparse.Namespace(iter=args.iter, diameter=200.0, k=args.k, j=1, seed=1)
    gpu = _refine(project, [*refine_flags(ns)], args.other, "gpu", args.class2d_timeout)
    done = _iterations_done(project, "Class2D/gpu/run")
    per_gpu = iteration_seconds(project, "Class2D/gpu/run", done) if done else np.array([0.0])
    ns = argparse.Namespace(iter=args.numpy_iter, diameter=200.0, k=args.k, j=args.j, seed=1)
    t_np = _refine(project, [*refine_flags(ns)], "numpy", "numpy", None)
    per_np = iteration_seconds(project, "Class2D/numpy/run", args.numpy_iter)
    note = (f"{args.other}: {done}/{args.iter} iterations in {gpu:.1f} s (first {per_gpu[0]:.1f} s,"
            f" median {np.median(per_gpu):.1f} s); numpy --j {args.j}: {args.numpy_iter} "
            f"iterations in {t_np:.1f} s")
    print(f"2D classification: {note}", flush=True)
    return [(f"2D, {args.n_particles} × K {args.k}: s per iteration (median)",
             float(np.median(per_np)), float(np.median(per_gpu)), note),
            (f"2D, {args.n_particles} × K {args.k} × {args.iter} iterations, whole command",
             math.nan, gpu if done == args.iter else math.nan,
             "NumPy not run this long" if done == args.iter
             else f"stopped after {done} of {args.iter} iterations")]


def _refine(project: Path, flags: list[str], backend: str, tag: str, timeout) -> float:
    (project / f"Class2D/{tag}").mkdir(parents=True, exist_ok=True)
    cmd = [*cryopick_cmd("refine"), "--o", f"Class2D/{tag}/run", *flags, "--backend", backend]
    started = time.perf_counter()
    with open(project / f"class2d_{tag}.log", "w") as log:
        try:
            subprocess.run(cmd, cwd=project, stdout=log, stderr=subprocess.STDOUT, check=True,
                           timeout=timeout)
        except subprocess.TimeoutExpired:
            print(f"2D classification on {backend} stopped after {timeout:g} s", file=sys.stderr)
    return time.perf_counter() - started


def _iterations_done(project: Path, root: str) -> int:
    done = 0
    while (project / f"{root}_it{done + 1:03d}_model.star").is_file():
        done += 1
    return done


if __name__ == "__main__":
    main()
