"""The whole tutorial DAG on simulated demo data: seven stages, RELION-readable, reported."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
import yaml

from cryopick.io.star import read_coordinates, read_star
from support import needs_relion
from test_workflow_project import SNAKEMAKE

pytestmark = pytest.mark.workflow
N_ITER = 5


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("demo")
    (root / "config.yaml").write_text(yaml.safe_dump({
        "backend": "numpy", "demo": {"preset": "demo", "seed": 2, "n_micrographs": 3},
        "select": {"first_n": 2},
        "class2d": {"n_classes": 4, "n_iter": N_ITER},
        "select_templates": {"max_resolution_a": 100}}))  # few iterations: coarse classes
    run = subprocess.run([*SNAKEMAKE, "--directory", str(root), "--configfile",
                          str(root / "config.yaml"), "--cores", "2"], capture_output=True,
                         text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-4000:]
    return root


STAGES = ["Select/5mics/micrographs_selected.star", "AutoPick/LoG/coords_suffix_autopick.star",
          "Extract/LoG/particles.star", f"Class2D/LoG/run_it{N_ITER:03d}_model.star",
          "Select/templates4autopick/class_averages.star",
          "AutoPick/optimise_params/coords_suffix_autopick.star",
          "AutoPick/template/coords_suffix_autopick.star", "Extract/template/particles.star"]


def test_all_seven_stages_write_their_relion_files_and_notes(demo):
    for path in STAGES:
        assert (demo / path).is_file(), path
        assert (demo / Path(path).parent / "note.txt").is_file(), path
    picks = [read_coordinates(p) for p in (demo / "AutoPick/template/Movies").glob("*.star")]
    assert len(picks) == 3 and all(len(p) > 5 for p in picks)  # every micrograph picked
    particles = read_star(demo / "Extract/template/particles.star")
    assert len(particles["particles"]) == sum(len(p) for p in picks)
    assert {"rlnImagePixelSize", "rlnImageSize"} <= set(particles["optics"].columns)
    assert list((demo / "AutoPick/optimise_params/Movies").glob("*_bestCCF.spi"))


@needs_relion
def test_relion_reads_the_pipelines_files(demo):
    def relion(*args):
        run = subprocess.run(list(args), cwd=demo, capture_output=True, text=True, timeout=600)
        assert run.returncode == 0, (args, run.stdout[-2000:], run.stderr[-2000:])

    relion("relion_star_handler", "--i", "Extract/template/particles.star", "--o", "x1.star")
    relion("relion_star_handler", "--i", f"Class2D/LoG/run_it{N_ITER:03d}_data.star",
           "--o", "x2.star")
    relion("relion_autopick", "--i", "Select/5mics/micrographs_selected.star", "--odir",
           "RelionCheck/", "--pickname", "autopick", "--ref",
           "Select/templates4autopick/class_averages.star", "--invert", "--ctf", "--ang", "30",
           "--lowpass", "20", "--shrink", "0", "--threshold", "0.2", "--min_distance", "100")
    assert list((demo / "RelionCheck/Movies").glob("*_autopick.star"))


def test_report_gathers_every_stages_pictures(demo):
    run = subprocess.run([*SNAKEMAKE, "--directory", str(demo), "--configfile",
                          str(demo / "config.yaml"), "--report", "report.html"],
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    html = (demo / "report.html").read_text(errors="replace")
    for picture in ("mic001_autopick.png", "particles.png", "classes.png", "convergence.png",
                    "templates.png", "threshold_sweep.png", "summary.png", "subset.png",
                    "fom_histogram.png"):
        assert picture in html, picture


def test_no_final_pick_lies_on_contamination_or_carbon(demo):
    from cryopick.simulate import junk_mask

    picks_on_junk, n_picks = [], 0
    for star in sorted((demo / "AutoPick/template/Movies").glob("*_autopick.star")):
        stem = star.name.replace("_autopick.star", "")
        mask = junk_mask(demo, stem, kinds=("contamination", "carbon"))
        xy = read_coordinates(star)[["rlnCoordinateX", "rlnCoordinateY"]].to_numpy(float)
        n_picks += len(xy)
        x, y = np.rint(xy).astype(int).T
        picks_on_junk += [(stem, int(a), int(b)) for a, b in zip(x, y) if mask[b, a]]
    # a large, faint blob on mic002 (its background uniform, only a little darker than the
    # ice) held 8 of 106 picks while the micrograph's area was the filter's only reference
    assert n_picks > 40 and not picks_on_junk, picks_on_junk
    note = (demo / "AutoPick/template/note.txt").read_text()
    assert "threshold auto:" in note  # the automatic threshold is stated where it was used


def _outputs(root: Path) -> dict[str, bytes]:
    """Every STAR, MRC and SPIDER file the pipeline wrote, by path, but the shards' own
    bookkeeping (hidden ``.shards/``, whose number follows the sharding). The optimiser STAR
    files record the command line, which names the threads (``--j``): that line is left out."""
    folders = ["MotionCorr", "CtfFind", "Demo", "Select", "AutoPick", "Extract", "Class2D"]
    files = {str(p.relative_to(root)): p.read_bytes() for folder in folders
             for p in sorted((root / folder).rglob("*"))
             if p.suffix in (".star", ".mrc", ".mrcs", ".spi") and ".shards" not in p.parts}
    for name in [n for n in files if n.endswith("_optimiser.star")]:
        lines = files[name].split(b"\n")
        assert lines[1].startswith(b"# refine ") and b" --j " in lines[1]
        files[name] = b"\n".join([lines[0], *lines[2:]])
    return files


def test_a_rerun_with_other_sharding_and_cores_writes_identical_files(demo, tmp_path):
    config = yaml.safe_load((demo / "config.yaml").read_text())
    (tmp_path / "config.yaml").write_text(yaml.safe_dump({**config, "shards": 2}))
    run = subprocess.run([*SNAKEMAKE, "--directory", str(tmp_path), "--configfile",
                          str(tmp_path / "config.yaml"), "--cores", "1"], capture_output=True,
                         text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-4000:]
    first, again = _outputs(demo), _outputs(tmp_path)
    assert len(first) > 40 and sorted(first) == sorted(again)
    assert [name for name in first if first[name] != again[name]] == []


def test_the_final_pass_repicks_the_subset_from_the_optimisation_maps(demo, tmp_path):
    """The subset's FOM maps are computed once (optimisation pass) and the final pass picks
    from them what its own command, run afresh, picks."""
    import shlex

    from cryopick.cli.main import main

    log = (demo / "logs/autopick_template/shard0.log").read_text()
    assert "2 micrograph(s) re-picked from the FOM maps of AutoPick/optimise_params/" in log
    command = shlex.split((demo / "AutoPick/template/note.txt").read_text().splitlines()[2])
    assert command[:2] == ["cryopick", "autopick"]
    args = command[2:command.index("--png_dir")]
    args[args.index("--odir") + 1] = str(tmp_path / "fresh") + "/"
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(demo)
        assert main(["autopick", *args]) == 0
    for star in sorted((demo / "AutoPick/template/Movies").glob("*_autopick.star")):
        fresh = read_coordinates(tmp_path / "fresh/Movies" / star.name)
        assert read_coordinates(star).equals(fresh), star.name
