"""How the workflow's planning scales with the number of micrographs: `snakemake -n` (DAG build,
no job run) on micrograph STAR files of 100, 1 000 and 10 000 rows, each row a link to one of a
few real micrograph files. Prints the wall time and peak memory of each dry run.

    .venv/bin/python benchmarks/dag_scale.py                       # 100, 1 000, 10 000, shards 1
    .venv/bin/python benchmarks/dag_scale.py --shards 1 50 --sizes 10000
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import timed  # noqa: E402

from cryopick.io.mrc import write_mrc  # noqa: E402
from cryopick.io.star import write_star  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
N_REAL = 4  # real micrograph files the rows point at (through links)


def make_project(root: Path, n_rows: int, shards: int) -> None:
    """``n_rows`` micrographs (links to ``N_REAL`` small MRC files) in a RELION 3.1 STAR."""
    rng = np.random.default_rng(0)
    real = []
    for k in range(N_REAL):
        real.append(root / f"Real/real{k}.mrc")
        write_mrc(real[-1], rng.normal(size=(512, 512)).astype(np.float32), 1.0)
    movies = root / "MotionCorr/job002/Movies"
    movies.mkdir(parents=True)
    names = []
    for i in range(n_rows):
        link = movies / f"mic{i:06d}.mrc"
        link.symlink_to(real[i % N_REAL])
        names.append(link.relative_to(root).as_posix())
    optics = pd.DataFrame({"rlnOpticsGroupName": ["opticsGroup1"], "rlnOpticsGroup": [1],
                           "rlnMicrographPixelSize": [0.885], "rlnVoltage": [300.0],
                           "rlnSphericalAberration": [2.7], "rlnAmplitudeContrast": [0.1]})
    mics = pd.DataFrame({"rlnMicrographName": names, "rlnOpticsGroup": 1,
                         "rlnDefocusU": 15000.0, "rlnDefocusV": 14000.0,
                         "rlnDefocusAngle": 5.0})
    write_star(root / "CtfFind/job003/micrographs_ctf.star",
               {"optics": optics, "micrographs": mics})
    (root / "config.yaml").write_text(yaml.safe_dump({
        "micrographs_star": "CtfFind/job003/micrographs_ctf.star", "backend": "numpy",
        "shards": shards}))


def dry_run(root: Path) -> tuple[float, float, str]:
    """``snakemake -n`` of the default target: (wall s, peak MiB, the job-count line)."""
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory",
           str(root), "--configfile", str(root / "config.yaml"), "-n", "--quiet", "rules"]
    wall, peak = timed(cmd, root, root / "dry_run.log")
    lines = (root / "dry_run.log").read_text().splitlines()
    total = next((line.split()[-1] for line in lines if line.startswith("total")), "?")
    return wall, peak, total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 10000])
    parser.add_argument("--shards", type=int, nargs="+", default=[1])
    args = parser.parse_args()
    print(f"{'micrographs':>11} {'shards':>6} {'jobs':>5} {'DAG build (s)':>13} "
          f"{'peak memory (MiB)':>17}")
    for shards in args.shards:
        for n_rows in args.sizes:
            with tempfile.TemporaryDirectory(prefix="dag_scale_") as tmp:
                make_project(Path(tmp), n_rows, shards)
                wall, peak, jobs = dry_run(Path(tmp))
            print(f"{n_rows:>11} {shards:>6} {jobs:>5} {wall:>13.2f} {peak:>17.0f}", flush=True)


if __name__ == "__main__":
    main()
