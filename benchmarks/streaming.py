"""Benchmark: micrographs arriving during collection, rerun against from-scratch runs.

Simulates a project of ``--first + --batches × --batch`` micrographs, runs the workflow on the
first ``--first``, then appends the others in batches and reruns after each. For every batch
it prints the rerun's wall time, a from-scratch run's on the same micrographs (a fresh project
folder), and the rerun's overhead: the DAG build (a dry run, which also syncs the subset's copy
of the STAR file) and the per-micrograph work in the logs (picking and extraction seconds,
summed over micrographs). Usage::

    python benchmarks/streaming.py --preset demo --first 8 --batches 4 --batch 4 --cores 2
    python benchmarks/streaming.py --preset tutorial ...      # tutorial-size micrographs
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cryopick.simulate import simulate_project
from cryopick.workflow.incremental import collecting_project, write_first_micrographs

REPO = Path(__file__).resolve().parents[1]
STAR = "CtfFind/job003/micrographs_ctf.star"
PER_MICROGRAPH = re.compile(r"Movies/\S+: \d+ (?:picks|particles).* in ([0-9.]+) s")


def _snakemake(root: Path, cores: int, *extra: str) -> float:
    """Wall seconds of one Snakemake run in ``root`` (its output in ``root``/bench.log)."""
    started = time.perf_counter()
    with open(root / "bench.log", "a") as log:
        subprocess.run([sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"),
                        "--directory", str(root), "--configfile", str(root / "config.yaml"),
                        "--cores", str(cores), *extra], stdout=log, stderr=subprocess.STDOUT,
                       check=True)
    return time.perf_counter() - started


def _work_seconds(root: Path) -> float:
    """Per-micrograph picking and extraction seconds in the final stages' last logs."""
    logs = [root / "logs/extract_template.log",
            *sorted((root / "logs/autopick_template").glob("*"))]
    return sum(float(m[1]) for log in logs if log.is_file()
               for m in PER_MICROGRAPH.finditer(log.read_text()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="demo", choices=["demo", "tutorial"])
    parser.add_argument("--first", type=int, default=8, help="micrographs of the first run")
    parser.add_argument("--batches", type=int, default=4)
    parser.add_argument("--batch", type=int, default=4, help="micrographs appended per batch")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--iter", type=int, default=25, help="2D classification iterations")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--skip-scratch", action="store_true", help="time only the reruns")
    parser.add_argument("--out-dir", default=None, help="work folder (default: temporary)")
    args = parser.parse_args()

    work = Path(args.out_dir or tempfile.mkdtemp(prefix="cryopick-streaming-"))
    total = args.first + args.batches * args.batch
    simulate_project(work / "simulated", args.preset, seed=args.seed, n_micrographs=total)
    # a subset of the first 5 micrographs, fixed however many follow (refresh_templates: never)
    config = {"micrographs_star": "stream.star", "backend": "numpy",
              "select": {"first_n": 5}, "class2d": {"n_iter": args.iter}}
    stream = collecting_project(work / "stream", work / "simulated", args.first, config)
    first = _snakemake(stream, args.cores)
    print(f"{args.preset} preset, {total} micrographs: first run on {args.first} in {first:.1f} s")
    print(f"{'batch':>5} {'new':>4} {'all':>4} {'rerun s':>8} {'scratch s':>10} {'ratio':>6} "
          f"{'DAG s':>6} {'work s':>7} {'rest s':>7}")
    for batch in range(1, args.batches + 1):
        n = args.first + batch * args.batch
        write_first_micrographs(stream / STAR, stream / "stream.star", n)
        dag = _snakemake(stream, args.cores, "--dry-run", "--quiet", "rules")
        rerun = _snakemake(stream, args.cores)
        work_s = _work_seconds(stream)
        scratch = float("nan")
        if not args.skip_scratch:
            fresh = collecting_project(work / f"scratch{batch}", work / "simulated", n, config)
            scratch = _snakemake(fresh, args.cores)
        print(f"{batch:>5} {args.batch:>4} {n:>4} {rerun:>8.1f} {scratch:>10.1f} "
              f"{rerun / scratch:>6.2f} {dag:>6.1f} {work_s:>7.1f} {rerun - work_s:>7.1f}",
              flush=True)
    print("rest s: the rerun less its per-micrograph work (Snakemake start, DAG build, "
          "templates read, gathering, particles.star and the pictures)")
    if not args.out_dir:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
