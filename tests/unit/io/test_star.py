"""RELION STAR I/O: 3.1 and 3.0 micrograph tables, CTF, pipeline names, RELION's layout."""

import numpy as np
import pandas as pd
import pytest

from cryopick.errors import InputError
from cryopick.io.star import (
    format_star,
    iter_star,
    post_name,
    read_coordinates,
    read_micrographs_star,
    read_star,
    write_coordinates,
    write_star,
)

OPTICS = pd.DataFrame({"rlnOpticsGroupName": ["opticsGroup1"], "rlnOpticsGroup": [1],
                       "rlnMicrographOriginalPixelSize": [0.885], "rlnVoltage": [300.0],
                       "rlnSphericalAberration": [2.7], "rlnAmplitudeContrast": [0.1],
                       "rlnMicrographPixelSize": [0.885]})
MICS = pd.DataFrame({"rlnMicrographName": ["MotionCorr/job002/Movies/a.mrc",
                                           "MotionCorr/job002/Movies/b.mrc"],
                     "rlnOpticsGroup": [1, 1], "rlnDefocusU": [12000.0, 20000.0],
                     "rlnDefocusV": [11500.0, 19800.0], "rlnDefocusAngle": [30.0, -12.0]})


def test_relion31_micrographs_read_back_with_pixel_size_and_ctf(tmp_path):
    path = tmp_path / "mics.star"
    write_star(path, {"optics": OPTICS, "micrographs": MICS})
    mics = read_micrographs_star(path)
    assert mics.names == list(MICS["rlnMicrographName"])
    assert mics.pixel_size_a == pytest.approx(0.885)
    ctf = mics.ctf(1)
    assert (ctf.defocus_u_a, ctf.voltage_kv, ctf.cs_mm) == (20000.0, 300.0, 2.7)


def test_written_star_has_relion_version_lines_and_numbered_labels():
    text = format_star({"optics": OPTICS})
    assert "# version 30001" in text and "data_optics" in text
    assert "_rlnOpticsGroupName #1" in text and "_rlnMicrographPixelSize #7" in text
    assert "    0.885000" in text


def test_relion30_single_block_is_read_with_its_pixel_size(tmp_path):
    path = tmp_path / "old.star"
    table = MICS.drop(columns="rlnOpticsGroup").assign(
        rlnVoltage=300.0, rlnSphericalAberration=2.7, rlnAmplitudeContrast=0.1,
        rlnDetectorPixelSize=5.0, rlnMagnification=50000.0)
    write_star(path, {"": table})
    mics = read_micrographs_star(path)
    assert mics.pixel_size_a == pytest.approx(1.0)
    assert mics.ctf(0).voltage_kv == 300.0


def test_missing_micrograph_name_is_named_in_the_error(tmp_path):
    path = tmp_path / "bad.star"
    write_star(path, {"optics": OPTICS, "micrographs": MICS.drop(columns="rlnMicrographName")})
    with pytest.raises(InputError, match=f"{path}.*rlnMicrographName"):
        read_micrographs_star(path)


def test_no_pixel_size_needs_angpix(tmp_path):
    path = tmp_path / "nopix.star"
    write_star(path, {"": MICS[["rlnMicrographName"]]})
    with pytest.raises(InputError, match="angpix"):
        read_micrographs_star(path)
    assert read_micrographs_star(path, angpix=1.5).pixel_size_a == 1.5


def test_optics_groups_with_different_pixel_sizes_are_refused(tmp_path):
    path = tmp_path / "two.star"
    optics = pd.concat([OPTICS, OPTICS.assign(rlnOpticsGroup=2, rlnMicrographPixelSize=1.2)])
    write_star(path, {"optics": optics, "micrographs": MICS})
    with pytest.raises(InputError, match="different pixel sizes"):
        read_micrographs_star(path)


def test_ctf_without_defocus_labels_is_refused(tmp_path):
    path = tmp_path / "noctf.star"
    write_star(path, {"optics": OPTICS, "micrographs": MICS[["rlnMicrographName",
                                                              "rlnOpticsGroup"]]})
    with pytest.raises(InputError, match="rlnDefocusU"):
        read_micrographs_star(path).ctf(0)


def test_missing_and_garbage_star_files(tmp_path):
    with pytest.raises(InputError, match="not found"):
        read_star(tmp_path / "nothing.star")
    garbage = tmp_path / "garbage.star"
    garbage.write_bytes(b"\x00\x01 this is not a star file")
    with pytest.raises(InputError, match=str(garbage)):
        read_micrographs_star(garbage)


def test_post_name_strips_the_pipeline_job():
    assert post_name("MotionCorr/job002/Movies/mic001.mrc") == "Movies/mic001.mrc"
    assert post_name("Movies/mic001.mrc") == "Movies/mic001.mrc"
    assert post_name("/data/mic001.mrc") == "data/mic001.mrc"


def test_coordinates_round_trip_and_empty_files(tmp_path):
    picks = pd.DataFrame({"rlnCoordinateX": [10.5, 200.0], "rlnCoordinateY": [3.25, 99.0],
                          "rlnAutopickFigureOfMerit": [1.5, 0.7],
                          "rlnClassNumber": [0, 0], "rlnAnglePsi": [0.0, 0.0]})
    write_coordinates(tmp_path / "c.star", picks)
    back = read_coordinates(tmp_path / "c.star")
    np.testing.assert_allclose(back[["rlnCoordinateX", "rlnCoordinateY"]], picks.iloc[:, :2])
    write_coordinates(tmp_path / "empty.star", picks.iloc[:0])
    assert len(read_coordinates(tmp_path / "empty.star")) == 0


def test_star_text_is_the_same_in_chunks_and_streamed_to_disk(tmp_path):
    """Loop rows are formatted a chunk at a time; the bytes do not depend on the chunk."""
    rows = pd.DataFrame({"rlnImageName": [f"{k:06d}@Extract/a b.mrcs" for k in range(1, 8)],
                         "rlnCoordinateX": np.linspace(-3.5, 1e6, 7),
                         "rlnClassNumber": np.arange(1, 8), "rlnAnglePsi": np.full(7, 1e-4)})
    blocks = {"optics": OPTICS, "general": {"rlnNrClasses": 3, "rlnTau2FudgeFactor": 2.0},
              "particles": rows, "empty": rows.iloc[:0]}
    whole = "".join(iter_star(blocks, chunk_rows=10**6))
    assert "".join(iter_star(blocks, chunk_rows=2)) == whole == format_star(blocks)
    write_star(tmp_path / "x.star", blocks)
    assert (tmp_path / "x.star").read_text() == whole
    lines = whole.splitlines()
    assert lines[:6] == ["", "# version 30001", "", "data_optics", "", "loop_ "]
    first = lines.index("_rlnAnglePsi #4") + 1
    assert lines[first] == ('"000001@Extract/a b.mrcs"     -3.50000            1 '
                            '1.000000e-04 ')
    assert lines[first + 7] == " " and lines[-1] == " "
    assert any(line.startswith("_rlnNrClasses ") and line.split() == ["_rlnNrClasses", "3"]
               for line in lines)
