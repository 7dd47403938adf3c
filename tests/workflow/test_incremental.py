"""Micrographs arriving during collection: a rerun picks and extracts only the new ones, keeps
the subset stages, and gives the files of a from-scratch run; `cryopick watch` keeps up."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from compare_runs import compare_trees
from cryopick.io.loop import read_star_loops
from cryopick.workflow.incremental import collecting_project, write_first_micrographs
from test_workflow_project import SNAKEMAKE

pytestmark = pytest.mark.workflow

STAR = "CtfFind/job003/micrographs_ctf.star"
# a subset of the first 5 micrographs (target 150 LoG picks), fixed however many follow
CONFIG = {"micrographs_star": "stream.star", "backend": "numpy",
          "select": {"target_picks": 150}}
SUBSET_JOBS = {"copy_subset_source", "select_micrographs", "autopick_log", "extract_log",
               "class2d", "select_templates", "autopick_optimise"}
PER_MICROGRAPH = ("AutoPick/template/Movies", "AutoPick/template/pictures",
                  "Extract/template/Movies")


def _snakemake(root: Path, *extra: str) -> str:
    run = subprocess.run([*SNAKEMAKE, "--directory", str(root), "--configfile",
                          str(root / "config.yaml"), "--cores", "2", *extra],
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, (run.stdout + run.stderr)[-3000:]
    return run.stdout + run.stderr


def _planned(root: Path) -> set[str]:
    """The rules a rerun would run (a dry run's job counts)."""
    counts = set()
    for line in _snakemake(root, "--dry-run", "--quiet", "rules").splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit() and parts[0] != "total":
            counts.add(parts[0])
    # the review page (rules/review.smk) is written again at the end of every run that did work
    return counts - {"all", "review", "review_screenshot"}


def _project(root: Path, simulated: Path, n: int, config: dict = CONFIG) -> Path:
    """A project whose collection has reached micrograph ``n`` of the simulated 12."""
    return collecting_project(root, simulated, n, config, STAR)


def _stamps(root: Path) -> dict[str, tuple[bytes, int]]:
    return {str(p.relative_to(root)): (p.read_bytes(), p.stat().st_mtime_ns)
            for folder in PER_MICROGRAPH for p in sorted((root / folder).rglob("*.*"))
            if not p.name.startswith(".snakemake")}  # Snakemake's own folder stamp


def _particle_micrographs(root: Path) -> set[str]:
    table = read_star_loops(root / "Extract/template/particles.star")["particles"]
    return {os.path.basename(str(name)) for name in table["rlnMicrographName"]}


@pytest.fixture(scope="module")
def simulated(tmp_path_factory) -> Path:
    """The demo preset's first 12 micrographs (simulated once)."""
    root = tmp_path_factory.mktemp("simulated")
    (root / "config.yaml").write_text(yaml.safe_dump({"demo": {"n_micrographs": 12}}))
    _snakemake(root, "--until", "simulate_demo")
    return root


@pytest.fixture(scope="module")
def appended(simulated, tmp_path_factory):
    """A finished run on 8 micrographs, then 4 appended: (project, plan, stamps before)."""
    root = _project(tmp_path_factory.mktemp("appended"), simulated, 8)
    _snakemake(root)
    before = _stamps(root)
    write_first_micrographs(root / STAR, root / "stream.star", 12)
    plan = _planned(root)
    _snakemake(root)
    return root, plan, before


@pytest.fixture(scope="module")
def scratch(simulated, tmp_path_factory) -> Path:
    """A from-scratch run on all 12 micrographs."""
    root = _project(tmp_path_factory.mktemp("scratch"), simulated, 12)
    _snakemake(root)
    return root


def test_appended_micrographs_rerun_only_per_micrograph_stages(appended):
    root, plan, before = appended
    assert plan == {"autopick_template", "extract_template"}
    after = _stamps(root)
    assert {k: v for k, v in after.items() if k in before} == before  # bytes and times kept
    new = sorted(k for k in after if k not in before)
    assert len([k for k in new if k.endswith("_autopick.star")]) == 4
    assert len([k for k in new if k.endswith(".mrcs")]) == 4
    assert len(_particle_micrographs(root)) == 12


def test_appended_run_equals_a_from_scratch_run(appended, scratch):
    root = appended[0]
    assert (root / "Extract/template/particles.star").read_bytes() == \
        (scratch / "Extract/template/particles.star").read_bytes()
    assert compare_trees(root, scratch) == []  # every file, the per-micrograph ones too
    note = (root / "AutoPick/template/note.txt").read_text()
    assert "templates: Select/templates4autopick/class_averages.star (sha256 " in note
    assert "picked all 12 micrograph(s) listed" in note


def test_a_new_optimisation_threshold_repicks_from_the_saved_maps(scratch, tmp_path):
    """The optimisation pass keeps its FOM maps: a new threshold there re-picks from them, and
    the final pass borrows them for the subset again."""
    root = tmp_path / "o"
    shutil.copytree(scratch, root, symlinks=True)
    maps = {p: p.stat().st_mtime_ns
            for p in (root / "AutoPick/optimise_params/Movies").glob("*.spi")}
    assert len(maps) > 10
    config = yaml.safe_load((root / "config.yaml").read_text())
    config["autopick_template"] = {"optimise": {"threshold": 0.3}}
    (root / "config.yaml").write_text(yaml.safe_dump(config))
    _snakemake(root)
    assert {p: p.stat().st_mtime_ns for p in maps} == maps  # read, not computed again
    log = (root / "logs/autopick_template/shard0.log").read_text()
    assert "re-picked from the FOM maps of AutoPick/optimise_params/" in log


def test_threshold_exclusion_and_removal_rerun_only_template_picking(scratch, tmp_path):
    root = tmp_path / "p"
    shutil.copytree(scratch, root, symlinks=True)
    upstream = {p: p.stat().st_mtime_ns for p in (root / "Class2D/LoG").glob("*")}
    config = yaml.safe_load((root / "config.yaml").read_text())
    # the final pass keeps its FOM maps; a lower threshold then re-picks from them: more picks
    config["autopick_template"] = {"final": {"write_fom_maps": True}}
    (root / "config.yaml").write_text(yaml.safe_dump(config))
    _snakemake(root)
    maps = {p: p.stat().st_mtime_ns for p in (root / "AutoPick/template/Movies").glob("*.spi")}
    assert {p.name.split("_")[0] for p in maps} == {f"mic{i:03d}" for i in range(1, 13)}
    picks = len(read_star_loops(root / "Extract/template/particles.star")["particles"])
    config["autopick_template"]["final"]["threshold"] = -0.5
    (root / "config.yaml").write_text(yaml.safe_dump(config))
    assert _planned(root) == {"autopick_template", "extract_template"}
    _snakemake(root)
    assert len(read_star_loops(root / "Extract/template/particles.star")["particles"]) > picks
    assert {p: p.stat().st_mtime_ns for p in maps} == maps  # read, not computed again
    # a micrograph excluded (as a review would), then one removed from the STAR file
    config["exclude_micrographs"] = ["mic003.mrc"]
    (root / "config.yaml").write_text(yaml.safe_dump(config))
    assert _planned(root) == {"autopick_template", "extract_template"}
    before = _stamps(root)
    _snakemake(root)
    assert "mic003.mrc" not in _particle_micrographs(root)
    kept = {k: v for k, v in _stamps(root).items() if "mic003" not in k}
    assert kept == {k: v for k, v in before.items() if "mic003" not in k}
    write_first_micrographs(root / STAR, root / "stream.star", 12,
                            leave_out=["MotionCorr/job002/Movies/mic012.mrc"])
    assert _planned(root) == {"autopick_template", "extract_template"}
    _snakemake(root)
    assert _particle_micrographs(root) == {f"mic{i:03d}.mrc" for i in range(1, 12)} - {
        "mic003.mrc"}
    assert {p: p.stat().st_mtime_ns for p in (root / "Class2D/LoG").glob("*")} == upstream


def _watch(root: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "cryopick.cli.main", "watch", "--project", str(root),
         "--configfile", str(root / "config.yaml"), "--every", "1", "--cycles", "60"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)


def test_watch_picks_up_an_appended_micrograph_and_stops_on_sigterm(scratch, tmp_path):
    root = tmp_path / "w"
    shutil.copytree(scratch, root, symlinks=True)
    write_first_micrographs(root / STAR, root / "stream.star", 11)
    lines = []

    def cycle() -> str:  # the next line the watch writes (its stdout holds only these)
        lines.append(watch.stdout.readline())
        return lines[-1]

    watch = _watch(root)
    try:
        assert "0 new micrograph(s) picked, 11 in all" in cycle(), lines  # mic012 left the list
        write_first_micrographs(root / STAR, root / "stream.star", 12)
        deadline = time.time() + 120
        while "12 in all" not in cycle() and time.time() < deadline:
            pass
        assert "1 new micrograph(s) picked, 12 in all" in lines[-1], lines
        watch.send_signal(signal.SIGTERM)  # between cycles
        assert watch.wait(timeout=60) == 0
    finally:
        watch.kill()
    assert "mic012.mrc" in _particle_micrographs(root)
    assert not [p for p in root.rglob("*") if p.name.startswith(".") and ".tmp" in p.name]
    assert _planned(root) == set()  # nothing half-done: the next start has nothing to redo
    # SIGTERM during a cycle (two micrographs removed: picks gathered and extracted again)
    write_first_micrographs(root / STAR, root / "stream.star", 10)
    watch = _watch(root)
    try:
        locks = root / ".snakemake/locks"
        while not (locks.is_dir() and any(locks.iterdir())) and watch.poll() is None:
            time.sleep(0.05)
        time.sleep(1.0)  # inside the run
        watch.send_signal(signal.SIGTERM)
        assert watch.wait(timeout=120) == 0
        assert watch.stdout.read().rstrip().endswith("; stopped")
    finally:
        watch.kill()
    assert not [p for p in root.rglob("*") if p.name.startswith(".") and ".tmp" in p.name]
    _snakemake(root)  # the next start resumes, no unlock needed
    assert _particle_micrographs(root) == {f"mic{i:03d}.mrc" for i in range(1, 11)}
