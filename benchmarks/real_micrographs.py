"""Sanity run on real micrographs: the FEI and EPU images in mrcfile's source distribution.

mrcfile's sdist (``pip download --no-deps --no-binary :all: mrcfile``) ships two real
micrographs in ``tests/test_data``: ``fei-extended.mrc`` (3710 × 3838 px, K2 size, FEI1
extended header, 0.854 Å/px) and ``epu2.9_example.mrc`` (4096² px, FEI2 extended header,
0.667 Å/px), both unsigned 16-bit. For each, this builds a one-micrograph RELION project
(``Import/job001/micrographs.star``: optics from the header's pixel size, 300 kV, Cs 2.7, no
CTF), runs the whole workflow with CTF correction off and the particle diameter a user would
read off the image, and prints the pick counts and where the pictures are. There is no truth:
look at the pictures. Usage::

    python benchmarks/real_micrographs.py [--sdist mrcfile-X.tar.gz|DIR] [--out-dir DIR] [--j 2]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import pandas as pd
from hands_free import describe_picks_count, merged_config, run_workflow, user_values

from cryopick.io.mrc import read_mrc_header_pixel_size
from cryopick.io.star import read_star, write_star

# file in the sdist, particle diameter (Å) judged by eye on a low-pass view of the image
MICROGRAPHS = {"fei": ("fei-extended.mrc", 150.0), "epu": ("epu2.9_example.mrc", 100.0)}
STAR = "Import/job001/micrographs.star"


def find_test_data(sdist: str | None, scratch: Path) -> Path:
    """``tests/test_data`` of mrcfile's sdist: the given archive or folder, else downloaded."""
    if sdist is None:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary",
                        ":all:", "mrcfile", "-d", str(scratch)], check=True,
                       stdout=subprocess.DEVNULL)
        sdist = str(next(scratch.glob("mrcfile-*.tar.gz")))
    path = Path(sdist)
    if path.is_file():
        with tarfile.open(path) as archive:
            archive.extractall(scratch, filter="data")
        path = scratch
    found = sorted(path.rglob("tests/test_data"))
    if not found:
        raise SystemExit(f"{sdist}: no tests/test_data folder (not mrcfile's sdist?)")
    return found[0]


def make_project(project: Path, micrograph: Path) -> float:
    """A one-micrograph RELION 3.1 project around ``micrograph``; returns its pixel size."""
    pixel = read_mrc_header_pixel_size(micrograph)
    name = f"Import/job001/Movies/{micrograph.name}"
    (project / name).parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(micrograph, project / name)
    write_star(project / STAR, {
        "optics": pd.DataFrame([{
            "rlnOpticsGroupName": "opticsGroup1", "rlnOpticsGroup": 1,
            "rlnMicrographOriginalPixelSize": pixel, "rlnVoltage": 300.0,
            "rlnSphericalAberration": 2.7, "rlnAmplitudeContrast": 0.1,
            "rlnMicrographPixelSize": pixel}]),
        "micrographs": pd.DataFrame([{"rlnMicrographName": name, "rlnOpticsGroup": 1}])})
    return pixel


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sdist", default=None, help="mrcfile sdist (.tar.gz or unpacked)")
    parser.add_argument("--out-dir", default=None, help="where the projects go")
    parser.add_argument("--j", type=int, default=2)
    args = parser.parse_args()
    root = Path(args.out_dir or tempfile.mkdtemp(prefix="cryopick-real-"))
    data = find_test_data(args.sdist, root / "sdist")
    for key, (filename, diameter_a) in MICROGRAPHS.items():
        project = root / key
        pixel = make_project(project, data / filename)
        user = user_values(diameter_a, diameter_a, pixel, False, STAR)
        config = merged_config(user)
        started = time.perf_counter()
        try:
            wall = run_workflow(project, user, args.j)
            status = f"finished in {wall:.0f} s"
        except subprocess.CalledProcessError:
            status = f"FAILED after {time.perf_counter() - started:.0f} s: see {project}/workflow.log"
        print(f"\n=== {filename}: {pixel:.4f} Å/px, particle {diameter_a:.0f} Å; workflow {status}")
        for alias in ("autopick_log", "autopick_optimise", "autopick_template"):
            print(f"    {config['aliases'][alias]}: {describe_picks_count(project, config, alias)}")
        chosen = project / config["aliases"]["select_templates"] / "class_averages.star"
        if chosen.is_file():
            classes = list(read_star(chosen)[""]["rlnClassNumber"])
            print(f"    templates: classes {classes}; pictures: "
                  f"{chosen.parent / 'templates.png'}, "
                  f"{project / config['aliases']['autopick_template'] / 'pictures'}")
    print(f"\nprojects under {root}")


if __name__ == "__main__":
    main()
