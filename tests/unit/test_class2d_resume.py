"""Resuming an interrupted classification stage: which iteration, and only for the same run."""

from __future__ import annotations

from pathlib import Path

from cryopick.workflow.class2d import RESUME_KEY, resume_point, run_key


def _iterations(folder: Path, done: int, partial: bool = False) -> None:
    for it in range(done + 1):
        for suffix in ("model.star", "data.star", "classes.mrcs", "optimiser.star"):
            (folder / f"run_it{it:03d}_{suffix}").write_text("x")
    if partial:  # killed while writing the next iteration: staged files, no optimiser
        (folder / f"run_it{done + 1:03d}_model.star").write_text("x")
        (folder / f".run_it{done + 1:03d}_data.77.tmp.star").write_text("x")


def test_resumes_from_the_last_complete_iteration_of_the_same_run(tmp_path):
    root = str(tmp_path / "run")
    assert resume_point(root, "key-a", 25) is None  # fresh: stamps the folder
    assert (tmp_path / RESUME_KEY).read_text().strip() == "key-a"
    _iterations(tmp_path, 3, partial=True)
    assert resume_point(root, "key-a", 25) == f"{root}_it003_optimiser.star"
    assert not list(tmp_path.glob(".*.tmp*"))


def test_iterations_of_another_run_are_removed_not_resumed(tmp_path):
    root = str(tmp_path / "run")
    resume_point(root, "key-a", 25)
    _iterations(tmp_path, 3)
    assert resume_point(root, "key-b", 25) is None
    assert not list(tmp_path.glob("run_it*"))
    assert (tmp_path / RESUME_KEY).read_text().strip() == "key-b"


def test_a_folder_without_a_key_is_never_resumed(tmp_path):
    _iterations(tmp_path, 2)
    assert resume_point(str(tmp_path / "run"), "key-a", 25) is None
    assert not list(tmp_path.glob("run_it*"))


def test_the_key_changes_with_options_particles_and_stacks(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    stack = Path("Extract/LoG/Movies/m.mrcs")
    stack.parent.mkdir(parents=True)
    stack.write_bytes(b"1234")
    star = Path("particles.star")
    star.write_text("data_particles\nloop_\n_rlnImageName #1\n000001@Extract/LoG/Movies/m.mrcs\n")
    key = run_key(str(star), ["cryopick", "refine", "--K", "2"])
    assert key == run_key(str(star), ["cryopick", "refine", "--K", "2"])
    assert key != run_key(str(star), ["cryopick", "refine", "--K", "3"])
    stack.write_bytes(b"123456")  # re-extracted with other options: same STAR text
    assert key != run_key(str(star), ["cryopick", "refine", "--K", "2"])
