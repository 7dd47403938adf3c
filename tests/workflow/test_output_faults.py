"""A read-only or full output directory: a clear error naming the path, nothing half-written."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from test_workflow_project import SNAKEMAKE, TARGETS, make_project

pytestmark = pytest.mark.workflow


def _mount(where: Path, options: str) -> None:
    where.mkdir(parents=True, exist_ok=True)
    mount = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)],
                           capture_output=True, text=True, timeout=30)
    if mount.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({mount.stderr.strip()})")


@pytest.fixture
def mounts():
    """Mount small tmpfs folders; unmount them after the test whatever happens."""
    mounted = []

    def mount(where: Path, options: str) -> None:
        _mount(where, options)
        mounted.append(where)

    yield mount
    for where in reversed(mounted):
        subprocess.run(["umount", "-l", str(where)], check=False, timeout=30)


def _run(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run([*SNAKEMAKE, "--directory", str(root), "--configfile",
                           str(root / "config.yaml"), "--cores", "1", *TARGETS],
                          capture_output=True, text=True, timeout=300)


def _half_written(job: Path) -> list[Path]:
    return [p for p in job.rglob("*") if ".tmp" in p.name]


def test_a_read_only_output_folder_is_named_and_nothing_is_half_written(tmp_path, mounts):
    root = make_project(tmp_path)
    movies = root / "AutoPick/LoG/Movies"
    mounts(movies, "ro,size=1m")
    run = _run(root)
    assert run.returncode != 0
    assert f"{movies.relative_to(root)}/mic001_autopick.star: cannot write " \
           "(Read-only file system)" in run.stderr, run.stderr[-3000:]
    assert not _half_written(root / "AutoPick/LoG") and not list(movies.iterdir())


def test_a_full_output_folder_is_named_and_nothing_is_half_written(tmp_path, mounts):
    root = make_project(tmp_path)
    pictures = root / "AutoPick/LoG/.pictures"
    mounts(pictures, "size=16k")  # the STAR files fit, no picture does
    run = _run(root)
    assert run.returncode != 0
    assert ".pictures/shard0/Movies/mic001_autopick.png: cannot write (No space left on " \
           "device)" in run.stderr, run.stderr[-3000:]
    assert not _half_written(root / "AutoPick/LoG")
    assert not list((root / "AutoPick/LoG/Movies").glob("*.star"))  # the picture comes first
