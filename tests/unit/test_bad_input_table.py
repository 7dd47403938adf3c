"""Bad input, as a user's data would be: a clear message naming the file and the problem, a
non-zero exit, and nothing half-written. One row per malformed input, across the stages."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cryopick.cli.main import main
from cryopick.io.mrc import write_mrc
from cryopick.io.spider import write_spider
from cryopick.io.star import read_star, write_star

PIXEL_A = 2.0
OPTICS = pd.DataFrame({"rlnOpticsGroupName": ["g1"], "rlnOpticsGroup": [1],
                       "rlnMicrographOriginalPixelSize": [PIXEL_A], "rlnVoltage": [300.0],
                       "rlnSphericalAberration": [2.7], "rlnAmplitudeContrast": [0.1],
                       "rlnMicrographPixelSize": [PIXEL_A]})
LOG = ["--LoG", "--LoG_diam_min", "110", "--LoG_diam_max", "140", "--lowpass", "20",
       "--shrink", "0"]
REF = ["--ref", "refs.mrcs", "--invert", "--ang", "30", "--lowpass", "20", "--shrink", "0"]


def _mics(names, **columns):
    return pd.DataFrame({"rlnMicrographName": names, "rlnOpticsGroup": 1, **columns})


@pytest.fixture
def project(tmp_path, monkeypatch, blob_micrograph):
    monkeypatch.chdir(tmp_path)
    image, _ = blob_micrograph
    write_mrc("Movies/good.mrc", image, PIXEL_A)
    write_star("mics.star", {"optics": OPTICS, "micrographs": _mics(["Movies/good.mrc"])})
    yy, xx = np.mgrid[:64, :64] - 32
    ref = np.exp(-(yy**2 + xx**2) / 100.0) * ((yy**2 + xx**2) < 576)
    write_mrc("refs.mrcs", ref[None].astype(np.float32), PIXEL_A, stack=True)
    return tmp_path


def case_missing_micrograph():
    write_star("in.star", {"optics": OPTICS, "micrographs": _mics(["Movies/none.mrc"])})
    return ["autopick", "--i", "in.star", *LOG], "Movies/none.mrc: micrograph not found"


def case_truncated_mrc():
    write_mrc("Movies/t.mrc", np.ones((64, 64), np.float32) * np.arange(64), PIXEL_A)
    data = Path("Movies/t.mrc").read_bytes()
    Path("Movies/t.mrc").write_bytes(data[:3000])
    write_star("in.star", {"optics": OPTICS, "micrographs": _mics(["Movies/t.mrc"])})
    return ["autopick", "--i", "in.star", *LOG], "Movies/t.mrc: not a valid MRC"


def case_header_only_mrc():
    Path("Movies/h.mrc").write_bytes(b"\x00" * 500)
    write_star("in.star", {"optics": OPTICS, "micrographs": _mics(["Movies/h.mrc"])})
    return ["autopick", "--i", "in.star", *LOG], "Movies/h.mrc: not a valid MRC"


def case_complex_mode_mrc():
    import mrcfile

    with mrcfile.new("Movies/c.mrc", overwrite=True) as mrc:
        mrc.set_data(np.ones((32, 32), np.complex64))
    write_star("in.star", {"optics": OPTICS, "micrographs": _mics(["Movies/c.mrc"])})
    return ["autopick", "--i", "in.star", *LOG], "Movies/c.mrc: complex MRC modes"


def case_nan_pixels():
    image = np.ones((64, 64), np.float32) * np.arange(64)
    image[3, 3] = np.nan
    write_mrc("Movies/n.mrc", image, PIXEL_A)
    write_star("in.star", {"optics": OPTICS, "micrographs": _mics(["Movies/n.mrc"])})
    return ["autopick", "--i", "in.star", *LOG], "Movies/n.mrc: contains NaN"


def case_inf_pixels():
    image = np.ones((64, 64), np.float32) * np.arange(64)
    image[5, 1] = np.inf
    write_mrc("Movies/i.mrc", image, PIXEL_A)
    write_star("in.star", {"optics": OPTICS, "micrographs": _mics(["Movies/i.mrc"])})
    return ["autopick", "--i", "in.star", *LOG], "Movies/i.mrc: contains NaN or infinite"


def case_zero_variance_micrograph():
    write_mrc("Movies/z.mrc", np.full((64, 64), 3.0, np.float32), PIXEL_A)
    write_star("in.star", {"optics": OPTICS, "micrographs": _mics(["Movies/z.mrc"])})
    return ["autopick", "--i", "in.star", *LOG], "Movies/z.mrc: micrograph is constant"


def case_stack_given_as_micrograph():
    write_mrc("Movies/s.mrc", np.random.default_rng(0).normal(size=(3, 64, 64))
              .astype(np.float32), PIXEL_A, stack=True)
    write_star("in.star", {"optics": OPTICS, "micrographs": _mics(["Movies/s.mrc"])})
    return ["autopick", "--i", "in.star", *LOG], "Movies/s.mrc: expected a 2D micrograph"


def case_star_without_micrograph_names():
    write_star("in.star", {"optics": OPTICS, "micrographs": pd.DataFrame({"rlnOpticsGroup": [1]})})
    return ["autopick", "--i", "in.star", *LOG], "in.star: data_micrographs has no rlnMicrographName"


def case_star_without_optics_or_pixel_size():
    write_star("in.star", {"": pd.DataFrame({"rlnMicrographName": ["Movies/good.mrc"]})})
    return ["autopick", "--i", "in.star", *LOG], "in.star: RELION 3.0-style STAR without a pixel"


def case_optics_without_group_column():
    write_star("in.star", {"optics": OPTICS.drop(columns="rlnOpticsGroup"),
                           "micrographs": _mics(["Movies/good.mrc"])})
    return ["autopick", "--i", "in.star", *LOG], "in.star: data_optics has no rlnOpticsGroup"


def case_mismatched_pixel_sizes():
    optics = pd.concat([OPTICS, OPTICS.assign(rlnOpticsGroup=2, rlnMicrographPixelSize=1.0)])
    write_star("in.star", {"optics": optics, "micrographs": _mics(["Movies/good.mrc"])})
    return ["autopick", "--i", "in.star", *LOG], "in.star: optics groups have different pixel"


def case_garbage_star():
    Path("in.star").write_bytes(b"\x00\xff\x00 not a star file \x00")
    return ["autopick", "--i", "in.star", *LOG], "in.star: "


def case_missing_star():
    return ["autopick", "--i", "nothing.star", *LOG], "nothing.star: STAR file not found"


def case_empty_micrograph_list():
    write_star("in.star", {"optics": OPTICS, "micrographs": _mics([])})
    return ["autopick", "--i", "in.star", *LOG], "in.star: no micrographs listed"


def case_diameters_out_of_order():
    flags = [f if f != "110" else "300" for f in LOG]
    return ["autopick", "--i", "mics.star", *flags], "larger than --LoG_diam_max"


def case_negative_shrink():
    return ["autopick", "--i", "mics.star", *LOG[:-1], "-0.5"], "--shrink must be ≥ 0"


def case_references_not_square():
    write_mrc("refs.mrcs", np.ones((1, 64, 60), np.float32), PIXEL_A, stack=True)
    return ["autopick", "--i", "mics.star", *REF], "refs.mrcs: references must be square"


def case_empty_reference_list():
    write_star("refs.star", {"": pd.DataFrame({"rlnReferenceImage": []})})
    return ["autopick", "--i", "mics.star", "--ref", "refs.star", *REF[2:]], \
        "refs.star: no reference images"


def case_reference_index_past_the_stack():
    write_star("refs.star", {"": pd.DataFrame({"rlnReferenceImage": ["000005@refs.mrcs"]})})
    return ["autopick", "--i", "mics.star", "--ref", "refs.star", *REF[2:]], \
        "refs.star: 000005@refs.mrcs points past the end"


def case_mask_larger_than_reference_box():
    return ["autopick", "--i", "mics.star", *REF, "--particle_diameter", "400"], \
        "refs.mrcs: mask diameter 400.0 Å is larger than the reference box"


def case_fom_maps_missing_on_read():
    return ["autopick", "--i", "mics.star", *REF, "--read_fom_maps"], "FOM map not found"


def case_fom_maps_of_another_size():
    assert main(["autopick", "--i", "mics.star", "--odir", "Out/", *REF,
                 "--write_fom_maps"]) == 0
    write_spider("Out/Movies/good_autopick_stddevNoise.spi", np.ones((10, 10), np.float32))
    return ["repick", "--i", "mics.star", *REF, "--threshold", "0.5"], \
        "good_autopick_stddevNoise.spi: FOM maps are 10 px"


def case_ctf_without_defocus():
    return ["autopick", "--i", "mics.star", *REF, "--ctf"], "mics.star: --ctf needs rlnDefocusU"


def case_3d_reference_with_unsupported_symmetry():
    vol = np.random.default_rng(0).normal(size=(32, 32, 32)).astype(np.float32)
    write_mrc("map.mrc", vol, PIXEL_A)
    return ["autopick", "--i", "mics.star", "--ref", "map.mrc", *REF[2:], "--sym", "D2"], \
        "--sym D2: only cyclic symmetries"


def case_both_read_and_write_fom_maps():
    return ["autopick", "--i", "mics.star", *REF, "--read_fom_maps", "--write_fom_maps"], \
        "exclude each other"


def case_neither_log_nor_references():
    return ["autopick", "--i", "mics.star"], "give --LoG"


CASES = {name[5:]: fn for name, fn in globals().items() if name.startswith("case_")}


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input_is_refused_clearly_and_cleanly(project, caplog, name):
    argv, message = CASES[name]()
    before = {p for p in project.rglob("*") if p.is_file()}
    assert main([*argv[:1], "--odir", "Out/", *argv[1:]] if "--odir" not in argv else argv) == 1
    assert message in caplog.text, caplog.text
    new = {p for p in project.rglob("*") if p.is_file()} - before
    assert not [p for p in new if p.name.startswith(".") or "tmp" in p.name]
    assert not [p for p in new if p.suffix == ".star" and p.parent.name == "Out"]


def test_there_are_at_least_25_cases():
    assert len(CASES) >= 25


def test_relion30_star_is_read_not_refused(project):
    table = read_star("mics.star")["micrographs"].drop(columns="rlnOpticsGroup").assign(
        rlnDetectorPixelSize=5.0, rlnMagnification=25000.0, rlnVoltage=300.0)
    write_star("old.star", {"": table})
    assert main(["autopick", "--i", "old.star", "--odir", "Old/", *LOG]) == 0
