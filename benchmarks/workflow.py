"""Benchmark: the whole tutorial chain, the cryopick workflow against RELION's commands, in one run.

Simulates a project of tutorial-size micrographs (3838 × 3710 px at 0.885 Å/px, ~100 particles
each), then times, alternately and best of ``--repeats``:

- cryopick: ``snakemake --cores J`` on the whole DAG (selection of the first 5 micrographs, the
  tutorial's subset, or ``--first-n auto``, the default config's, LoG picking and extraction on
  them, 2D classification, template selection, the optimisation pass on the subset with FOM
  maps and threshold sweep, template picking and extraction on all);
- RELION 3.1: the same chain as commands with the same settings (``mpirun -np J
  relion_autopick_mpi`` / ``relion_preprocess_mpi``, ``relion_refine --j J``, the optimisation
  pass as one ``relion_autopick --write_fom_maps`` process like the GUI's). Selections are
  made by hand in RELION's GUI: its subset and templates are the files cryopick chose.

Prints each stage's time and share for both and the ratio. Usage::

    python benchmarks/workflow.py --n-mics 12 --j 2 --k 20 --iter 15 [--repeats 1]
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import yaml
from common import benchmark_parser, run_in_project, timed

from cryopick.io.star import read_micrographs_star
from cryopick.simulate import simulate_project

REPO = Path(__file__).resolve().parents[1]
STAR = "CtfFind/job003/micrographs_ctf.star"
SUBSET = "Select/5mics/micrographs_selected.star"
TEMPLATES = "Select/templates4autopick/class_averages.star"
LOG = ["--LoG", "--LoG_diam_min", "150", "--LoG_diam_max", "180", "--shrink", "0", "--lowpass",
       "20", "--LoG_adjust_threshold", "0", "--LoG_upper_threshold", "5"]
EXTRACT = ["--extract", "--extract_size", "256", "--scale", "64", "--norm", "--bg_radius", "25",
           "--white_dust", "-1", "--black_dust", "-1", "--invert_contrast"]
TEMPLATE = ["--ref", TEMPLATES, "--invert", "--ctf", "--ang", "5", "--lowpass", "20", "--shrink",
            "0", "--max_stddev_noise", "-1", "--min_avg_noise", "-0.2"]


def main() -> None:
    parser = benchmark_parser(__doc__)
    parser.add_argument("--n-mics", type=int, default=12)
    parser.add_argument("--j", type=int, default=2, help="cores for both programs")
    parser.add_argument("--k", type=int, default=20, help="2D classes")
    parser.add_argument("--iter", type=int, default=15, help="2D iterations")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--skip-relion", action="store_true")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--first-n", default="5",
                        help="the subset: the first N micrographs (the tutorial's 5), or auto "
                             "(the default config's: enough for 1000 LoG picks)")
    args = parser.parse_args()
    run_in_project(run, args, "cryopick-bench-wf-")


def write_config(project: Path, args: argparse.Namespace) -> Path:
    first_n = args.first_n if args.first_n == "auto" else int(args.first_n)
    config = {"micrographs_star": STAR, "backend": "numpy", "shards": 1,
              "select": {"first_n": first_n},
              "class2d": {"n_classes": args.k, "n_iter": args.iter}}
    path = project / "benchmark_config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def run_cryopick(project: Path, args: argparse.Namespace, config: Path) -> dict[str, float]:
    """One full workflow run from scratch; seconds per rule (from Snakemake's log) and total."""
    for folder in ("Select", "AutoPick", "Extract", "Class2D", "logs", ".snakemake"):
        shutil.rmtree(project / folder, ignore_errors=True)
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory",
           str(project), "--configfile", str(config), "--cores", str(args.j)]
    started = time.perf_counter()
    with open(project / "snakemake.out", "w") as out:
        subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, check=True)
    times = {"total": time.perf_counter() - started}
    log = sorted((project / ".snakemake/log").glob("*.snakemake.log"))[-1].read_text()
    times.update(rule_times(log))
    return times


def rule_times(log: str) -> dict[str, float]:
    """Seconds per rule from a Snakemake log: each job from its start stamp to its finish."""
    stamp = r"\[(\w{3} \w{3} +\d+ [\d:]{8} \d{4})\]"
    starts, names, out = {}, {}, {}
    for match in re.finditer(stamp + r"\n(?:local)?rule (\w+):\n(?:.*\n)*?\s+jobid: (\d+)", log):
        when, rule, jobid = match.groups()
        starts[jobid], names[jobid] = _when(when), rule
    for match in re.finditer(stamp + r"\nFinished job(?:id:)? (\d+)", log):
        when, jobid = match.groups()
        if jobid in starts:
            rule = names[jobid]
            out[rule] = out.get(rule, 0.0) + (_when(when) - starts[jobid])
    return out


def _when(text: str) -> float:
    return datetime.strptime(" ".join(text.split()), "%a %b %d %H:%M:%S %Y").timestamp()


def relion_chain(args: argparse.Namespace, n_subset: int) -> list[tuple[str, list[str], str]]:
    """(stage, command, output folder) of RELION's chain with the workflow's settings, on the
    subset of ``n_subset`` micrographs cryopick chose."""
    mpi = ["mpirun", "-np", str(args.j)]
    return [
        (f"LoG picking ({n_subset})", [*mpi, "relion_autopick_mpi", "--i", SUBSET, "--odir",
                             "Relion/LoG/", "--pickname", "autopick", *LOG], "Relion/LoG"),
        (f"extraction ({n_subset})", [*mpi, "relion_preprocess_mpi", "--i", STAR, "--coord_dir",
                            "Relion/LoG/", "--coord_suffix", "_autopick.star", "--part_star",
                            "Relion/Extract/particles.star", "--part_dir", "Relion/Extract/",
                            *EXTRACT], "Relion/Extract"),
        ("2D classification", ["relion_refine", "--o", "Relion/Class2D/run", "--i",
                               "Relion/Extract/particles.star", "--dont_combine_weights_via_disc",
                               "--preread_images", "--pool", "30", "--pad", "2", "--ctf",
                               "--iter", str(args.iter), "--tau2_fudge", "2",
                               "--particle_diameter", "200", "--K", str(args.k),
                               "--flatten_solvent", "--zero_mask", "--oversampling", "1",
                               "--psi_step", "12", "--offset_range", "5", "--offset_step", "2",
                               "--norm", "--scale", "--j", str(args.j), "--random_seed", "1"],
         "Relion/Class2D"),
        (f"optimisation pass ({n_subset})", ["relion_autopick", "--i", SUBSET, "--odir",
                                   "Relion/optimise/", "--pickname", "autopick", *TEMPLATE,
                                   "--threshold", "0.8", "--min_distance", "200",
                                   "--write_fom_maps"], "Relion/optimise"),
        ("template picking (all)", [*mpi, "relion_autopick_mpi", "--i", STAR, "--odir",
                                    "Relion/template/", "--pickname", "autopick", *TEMPLATE,
                                    "--threshold", "0", "--min_distance", "100"],
         "Relion/template"),
        ("extraction (all)", [*mpi, "relion_preprocess_mpi", "--i", STAR, "--coord_dir",
                              "Relion/template/", "--coord_suffix", "_autopick.star",
                              "--part_star", "Relion/Extract2/particles.star", "--part_dir",
                              "Relion/Extract2/", *EXTRACT], "Relion/Extract2"),
    ]


def run_relion(project: Path, args: argparse.Namespace) -> dict[str, float]:
    times = {}
    for stage, cmd, odir in relion_chain(args, subset_size(project)):
        shutil.rmtree(project / odir, ignore_errors=True)
        (project / odir).mkdir(parents=True)
        times[stage], _ = timed(cmd, project, project / f"{Path(odir).name}.log")
    times["total"] = sum(times.values())
    return times


def subset_size(project: Path) -> int:
    """Micrographs in the subset cryopick chose (LoG, 2D and the optimisation pass)."""
    return len(read_micrographs_star(project / SUBSET).names)


def report(ours: dict[str, float], relion: dict[str, float] | None, args, n_subset: int
           ) -> None:
    print(f"\nThe tutorial chain, {args.n_mics} micrographs (LoG and 2D on the first "
          f"{n_subset}, select.first_n {args.first_n}), "
          f"K {args.k}, {args.iter} iterations, {args.j} cores, best of {args.repeats}")
    total = ours["total"]
    print(f"\ncryopick (snakemake --cores {args.j}), seconds per job:")
    for rule, seconds in sorted(ours.items(), key=lambda kv: -kv[1]):
        if rule != "total":
            print(f"  {rule:28s} {seconds:7.1f}  {100 * seconds / total:5.1f} %")
    jobs = sum(v for k, v in ours.items() if k != "total")
    print(f"  {'Snakemake between jobs':28s} {total - jobs:7.1f}  "
          f"{100 * (total - jobs) / total:5.1f} %")
    print(f"  {'total':28s} {total:7.1f}")
    if relion is None:
        return
    print("\nRELION 3.1 commands:")
    for stage, seconds in relion.items():
        if stage != "total":
            print(f"  {stage:28s} {seconds:7.1f}  {100 * seconds / relion['total']:5.1f} %")
    print(f"  {'total':28s} {relion['total']:7.1f}")
    print(f"\nspeed-up cryopick/RELION, whole chain: {relion['total'] / total:.2f}x")


def run(project: Path, args: argparse.Namespace) -> None:
    started = time.perf_counter()
    simulate_project(project, preset="tutorial", n_micrographs=args.n_mics, seed=args.seed)
    config = write_config(project, args)
    print(f"simulated {args.n_mics} tutorial-size micrographs in "
          f"{time.perf_counter() - started:.1f} s under {project}")
    best_ours, best_relion = None, None
    for _ in range(args.repeats):  # alternately, so a shared machine's load falls on both
        ours = run_cryopick(project, args, config)
        if best_ours is None or ours["total"] < best_ours["total"]:
            best_ours = ours
        if not args.skip_relion:
            relion = run_relion(project, args)
            if best_relion is None or relion["total"] < best_relion["total"]:
                best_relion = relion
    report(best_ours, best_relion, args, subset_size(project))


if __name__ == "__main__":
    main()
