"""The autopick job and CLI: RELION's file layout, job-level files, bad input, no partial output."""

import numpy as np
import pandas as pd
import pytest

from cryopick.cli.main import main
from cryopick.io.mrc import write_mrc
from cryopick.io.star import read_coordinates, read_star, write_star

PIXEL_A = 2.0


@pytest.fixture
def project(tmp_path, monkeypatch, blob_micrograph):
    """A tiny RELION project: three micrographs under MotionCorr/job002/Movies and a 3.1 STAR."""
    monkeypatch.chdir(tmp_path)
    image, _ = blob_micrograph
    names = []
    for i in range(3):
        name = f"MotionCorr/job002/Movies/mic{i + 1:03d}.mrc"
        write_mrc(name, np.roll(image, 40 * i, axis=1), PIXEL_A)
        names.append(name)
    optics = pd.DataFrame({"rlnOpticsGroupName": ["opticsGroup1"], "rlnOpticsGroup": [1],
                           "rlnMicrographPixelSize": [PIXEL_A], "rlnVoltage": [300.0],
                           "rlnSphericalAberration": [2.7], "rlnAmplitudeContrast": [0.1]})
    mics = pd.DataFrame({"rlnMicrographName": names, "rlnOpticsGroup": [1, 1, 1]})
    write_star("mics.star", {"optics": optics, "micrographs": mics})
    return tmp_path


LOG_FLAGS = ["--LoG", "--LoG_diam_min", "110", "--LoG_diam_max", "140", "--lowpass", "20",
             "--shrink", "0", "--LoG_upper_threshold", "5"]


def test_relion_command_line_writes_relions_layout(project):
    rc = main(["autopick", "--i", "mics.star", "--odir", "AutoPick/job006/", "--pickname",
               "autopick", *LOG_FLAGS, "--j", "2", "--png_dir", "AutoPick/job006/pictures"])
    assert rc == 0
    for i in (1, 2, 3):
        picks = read_coordinates(project / f"AutoPick/job006/Movies/mic{i:03d}_autopick.star")
        assert list(picks.columns) == ["rlnCoordinateX", "rlnCoordinateY",
                                       "rlnAutopickFigureOfMerit", "rlnClassNumber",
                                       "rlnAnglePsi"]
        assert len(picks) >= 5
        assert (project / f"AutoPick/job006/pictures/Movies/mic{i:03d}_autopick.png").is_file()
    assert (project / "AutoPick/job006/coords_suffix_autopick.star").read_text() == "mics.star\n"
    listing = read_star(project / "AutoPick/job006/autopick.star")["coordinate_files"]
    assert len(listing) == 3
    summary = read_star(project / "AutoPick/job006/summary.star")[""]
    assert summary["rlnGroupNrParticles"].min() >= 5


def test_parallel_and_serial_runs_write_identical_files(project):
    assert main(["autopick", "--i", "mics.star", "--odir", "A/", *LOG_FLAGS, "--j", "1"]) == 0
    assert main(["autopick", "--i", "mics.star", "--odir", "B/", *LOG_FLAGS, "--j", "2"]) == 0
    for i in (1, 2, 3):
        a = (project / f"A/Movies/mic{i:03d}_autopick.star").read_bytes()
        assert a == (project / f"B/Movies/mic{i:03d}_autopick.star").read_bytes()


def test_only_do_unfinished_skips_picked_micrographs(project):
    assert main(["autopick", "--i", "mics.star", "--odir", "A/", *LOG_FLAGS]) == 0
    done = project / "A/Movies/mic002_autopick.star"
    done.write_text(done.read_text() + "# picked before\n")
    before = done.read_text()
    assert main(["autopick", "--i", "mics.star", "--odir", "A/", *LOG_FLAGS,
                 "--only_do_unfinished"]) == 0
    assert done.read_text() == before


def _outputs(project):
    return sorted(p.relative_to(project) for p in (project / "A").rglob("*") if p.is_file()) \
        if (project / "A").exists() else []


def test_missing_micrograph_fails_before_writing_anything(project, caplog):
    (project / "MotionCorr/job002/Movies/mic003.mrc").unlink()
    assert main(["autopick", "--i", "mics.star", "--odir", "A/", *LOG_FLAGS]) == 1
    assert "mic003.mrc: micrograph not found" in caplog.text
    assert _outputs(project) == []


def test_corrupt_micrograph_fails_naming_it(project, caplog):
    path = project / "MotionCorr/job002/Movies/mic002.mrc"
    path.write_bytes(b"\x00" * 100)
    assert main(["autopick", "--i", "mics.star", "--odir", "A/", *LOG_FLAGS]) == 1
    assert "mic002.mrc: not a valid MRC file" in caplog.text
    assert _outputs(project) == []


def test_nan_micrograph_fails_and_leaves_no_partial_files(project, caplog):
    path = project / "MotionCorr/job002/Movies/mic002.mrc"
    image = np.ones((64, 64), np.float32) * np.arange(64)
    image[5, 5] = np.nan
    write_mrc(path, image, PIXEL_A)
    assert main(["autopick", "--i", "mics.star", "--odir", "A/", *LOG_FLAGS]) == 1
    assert "mic002.mrc: contains NaN" in caplog.text
    assert not (project / "A/coords_suffix_autopick.star").exists()
    assert not any(p.name.startswith(".") for p in (project / "A").rglob("*"))


def test_star_without_micrograph_names_is_named(project, caplog):
    write_star("bad.star", {"optics": read_star("mics.star")["optics"],
                            "micrographs": pd.DataFrame({"rlnOpticsGroup": [1]})})
    assert main(["autopick", "--i", "bad.star", "--odir", "A/", *LOG_FLAGS]) == 1
    assert "bad.star: data_micrographs has no rlnMicrographName" in caplog.text


def test_diameters_out_of_order_exit_non_zero(project, caplog):
    flags = [f if f != "110" else "200" for f in LOG_FLAGS]
    assert main(["autopick", "--i", "mics.star", "--odir", "A/", *flags]) == 1
    assert "larger than --LoG_diam_max" in caplog.text
    assert _outputs(project) == []
