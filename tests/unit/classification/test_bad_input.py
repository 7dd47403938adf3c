"""Bad input to a classification: InputError naming the file, and no iteration files written."""

from __future__ import annotations

import shutil

import mrcfile
import numpy as np
import pandas as pd
import pytest

from cryopick.classification import Class2DJob, Class2DParams, run_class2d
from cryopick.errors import InputError
from cryopick.io.mrc import write_mrc
from cryopick.io.star import read_star, write_star

PARAMS = Class2DParams(n_classes=2, n_iter=1, particle_diameter_a=80.0, ctf=True,
                       zero_mask=True, psi_step_deg=30.0, offset_range_px=2.0)


@pytest.fixture
def project(three_shapes, tmp_path, monkeypatch):
    """A private copy of the CTF particle set (tests edit it)."""
    source, _ = three_shapes
    shutil.copytree(source / "Extract", tmp_path / "Extract")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _run(star: str, params: Class2DParams = PARAMS) -> None:
    run_class2d(Class2DJob("Class2D/job001/run", params, particles_star=star))


def _nothing_written(project) -> bool:
    return not (project / "Class2D").exists() or not any((project / "Class2D").rglob("*"))


def _edit(project, change) -> str:
    blocks = read_star(project / "Extract/job007/particles.star")
    change(blocks)
    write_star(project / "bad.star", blocks)
    return "bad.star"


def test_ctf_without_defocus_labels_is_refused(project):
    star = _edit(project, lambda b: b.__setitem__(
        "particles", b["particles"].drop(columns=["rlnDefocusU", "rlnDefocusV"])))
    with pytest.raises(InputError, match=r"bad\.star.*rlnDefocusU"):
        _run(star)
    assert _nothing_written(project)


def test_mixed_box_sizes_are_refused(project):
    def two_groups(blocks):
        optics = blocks["optics"]
        second = optics.copy()
        second["rlnOpticsGroup"] = 2
        second["rlnImageSize"] = 64
        blocks["optics"] = pd.concat([optics, second], ignore_index=True)
        blocks["particles"].loc[:5, "rlnOpticsGroup"] = 2
    star = _edit(project, two_groups)
    with pytest.raises(InputError, match=r"bad\.star.*box sizes"):
        _run(star)
    assert _nothing_written(project)


def test_more_classes_than_particles_is_refused(project):
    star = _edit(project, lambda b: b.__setitem__("particles", b["particles"].iloc[:3]))
    with pytest.raises(InputError, match=r"bad\.star.*--K 4"):
        _run(star, Class2DParams(**{**PARAMS.__dict__, "n_classes": 4}))
    assert _nothing_written(project)


def test_nan_pixels_are_refused_naming_the_stack(project):
    stack = project / "Extract/job007/Movies/mic002.mrcs"
    with mrcfile.open(stack) as mrc:
        data = np.array(mrc.data)
    data[3, 5, 5] = np.nan
    with pytest.warns(RuntimeWarning):  # mrcfile notices the NaN when writing the header
        write_mrc(stack, data, 3.0, stack=True)
    with pytest.raises(InputError, match=r"mic002\.mrcs.*NaN"):
        _run("Extract/job007/particles.star")
    assert _nothing_written(project)


def test_a_missing_stack_is_refused_naming_it(project):
    (project / "Extract/job007/Movies/mic001.mrcs").unlink()
    with pytest.raises(InputError, match=r"mic001\.mrcs.*not found"):
        _run("Extract/job007/particles.star")


def test_stacks_smaller_than_the_star_says_are_refused(project):
    star = _edit(project, lambda b: b["particles"].__setitem__(
        "rlnImageName", b["particles"]["rlnImageName"].str.replace(
            "000001@", "000999@", regex=False)))
    with pytest.raises(InputError, match=r"mic00\d\.mrcs.*holds \d+ images"):
        _run(star)


def test_options_are_checked_before_reading():
    with pytest.raises(InputError, match="--K"):
        Class2DParams(n_classes=0)
    with pytest.raises(InputError, match="--fast_subsets"):
        Class2DParams(n_classes=2, n_iter=5, fast_subsets=True)
    with pytest.raises(InputError, match="--oversampling"):
        Class2DParams(n_classes=2, oversampling=2)
