"""Independent closing steps run side by side in a fork pool: results in order, the same
files as one after the other, and an error in one step raised after the others end."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cryopick.errors import InputError
from cryopick.tasks import side_by_side


def _write(path: str, text: str) -> tuple[str, int]:
    Path(path).write_text(text)
    return text, os.getpid()


def _fail(path: str) -> None:
    raise InputError(f"{path}: cannot draw it")


@pytest.mark.parametrize("jobs", [1, 2, 3])
def test_results_come_back_in_order_with_the_same_files(tmp_path, jobs):
    calls = [(_write, (str(tmp_path / f"{i}.txt"), f"step {i}")) for i in range(5)]
    results = side_by_side(calls, jobs)
    assert [text for text, _ in results] == [f"step {i}" for i in range(5)]
    assert all((tmp_path / f"{i}.txt").read_text() == f"step {i}" for i in range(5))
    pids = {pid for _, pid in results}
    assert (pids == {os.getpid()}) == (jobs == 1)  # with jobs > 1 they ran in other processes


def test_an_error_is_raised_after_the_other_steps_end(tmp_path):
    calls = [(_fail, ("a.png",)), (_write, (str(tmp_path / "b.txt"), "b")),
             (_write, (str(tmp_path / "c.txt"), "c"))]
    with pytest.raises(InputError, match="a.png: cannot draw it"):
        side_by_side(calls, 2)
    assert (tmp_path / "b.txt").read_text() == "b" and (tmp_path / "c.txt").read_text() == "c"
