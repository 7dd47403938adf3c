"""The content checks behind incremental reruns: the subset's copy of the micrograph STAR
file, and the per-micrograph state a job keeps for its next run."""

from __future__ import annotations

import os

import pandas as pd
import pytest

from cryopick.workflow.incremental import KeptMicrographs, micrograph_keys, sync_subset_source, \
    write_first_micrographs
from cryopick.io.star import read_micrographs_star, write_star

AUTO = {"first_n": "auto", "micrographs": []}


def _star(path, n: int, defocus: float = 10000.0) -> str:
    optics = pd.DataFrame({"rlnOpticsGroupName": ["g1"], "rlnOpticsGroup": [1],
                           "rlnMicrographPixelSize": [1.0], "rlnVoltage": [300.0],
                           "rlnSphericalAberration": [2.7], "rlnAmplitudeContrast": [0.1]})
    names = [f"Movies/m{i:02d}.mrc" for i in range(n)]
    write_star(path, {"optics": optics, "micrographs": pd.DataFrame(
        {"rlnMicrographName": names, "rlnOpticsGroup": 1,
         "rlnDefocusU": [defocus + i for i in range(n)]})})
    return str(path)


@pytest.fixture
def chosen(tmp_path):
    """A collection of 8, its subset copy, and a subset of the first ``k`` of them."""
    def make(k: int, select=AUTO, refresh="never", folder="a"):
        root = tmp_path / folder
        root.mkdir()
        star, source = _star(root / "mics.star", 8), root / ".cryopick/source.star"
        selected = root / "selected.star"
        assert sync_subset_source(star, source, selected, select, refresh)  # a first run
        write_first_micrographs(star, selected, k)
        return star, source, selected
    return make


def _appended(star: str, n: int, **kw) -> None:
    _star(star, n, **kw)


def test_appended_micrographs_leave_a_reached_subset_untouched(chosen):
    star, source, selected = chosen(5)
    stamp = os.stat(source).st_mtime_ns
    _appended(star, 12)
    for refresh in ("never", "when_subset_grows"):
        assert not sync_subset_source(star, source, selected, AUTO, refresh)
    assert os.stat(source).st_mtime_ns == stamp
    assert len(read_micrographs_star(source).names) == 8


def test_a_subset_short_of_its_target_grows_only_when_asked(chosen):
    star, source, selected = chosen(8)  # every micrograph taken: the target was not reached
    _appended(star, 12)
    assert not sync_subset_source(star, source, selected, AUTO, "never")
    assert sync_subset_source(star, source, selected, AUTO, "when_subset_grows")
    assert len(read_micrographs_star(source).names) == 12
    named = {"first_n": "auto", "micrographs": ["m01.mrc"]}  # named micrographs never grow
    star, source, selected = chosen(8, named, folder="b")
    _appended(star, 12)
    assert not sync_subset_source(star, source, selected, named, "when_subset_grows")


def test_a_changed_selected_row_rewrites_the_copy(chosen):
    star, source, selected = chosen(5)
    _appended(star, 8, defocus=20000.0)  # every row's defocus changed
    assert sync_subset_source(star, source, selected, AUTO, "never")
    assert read_micrographs_star(source).micrographs["rlnDefocusU"].iloc[0] == 20000.0


def test_kept_micrographs_follow_rows_settings_and_interruptions(tmp_path):
    star = _star(tmp_path / "mics.star", 4)
    keys = micrograph_keys(read_micrographs_star(star))
    state = tmp_path / "job.cryopick-resume"
    every = lambda name: True  # noqa: E731
    first = KeptMicrographs(state, "s1", keys)
    assert first.begin(every) == frozenset()
    first.finish(keys)
    assert KeptMicrographs(state, "s1", keys).begin(every) == frozenset(keys)
    assert KeptMicrographs(state, "s1", keys).begin(lambda n: n != "Movies/m02.mrc") == \
        frozenset(keys) - {"Movies/m02.mrc"}  # its output is gone: redone
    # m02 is being redone; the attempt is interrupted: its old output is no longer vouched for
    assert "Movies/m02.mrc" not in KeptMicrographs(state, "s1", keys).begin(every)
    assert KeptMicrographs(state, "s2", keys).begin(every) == frozenset()  # other settings
    _star(star, 4, defocus=5.0)  # every row changed
    assert not set(micrograph_keys(read_micrographs_star(star)).values()) & set(keys.values())
