"""Particle extraction: box cutting with edge replication, Fourier rescaling, normalisation,
RELION's job layout, coordinate sources, re-extraction and bad input."""

from __future__ import annotations

import dataclasses
import importlib.util
import logging
import subprocess
import sys
import types
from pathlib import Path

import mrcfile
import numpy as np
import pandas as pd
import pytest

from cryopick.cli.main import main
from cryopick.errors import InputError
from cryopick.extraction import (
    CoordinateFiles,
    CoordinateList,
    ExtractJob,
    ExtractParams,
    box_corners,
    coordinate_files_from_suffix_file,
    cut_boxes,
    extract_micrograph,
    gui_bg_radius,
    normalise_boxes,
    params_from_config,
    process_boxes,
    read_reextraction,
    rescale_boxes,
    run_extraction,
)
from cryopick.extraction.kernels import background_mask, crop_by_matrices, remove_dust
from cryopick.fourier import forward_cropped, inverse
from cryopick.io.mrc import write_mrc
from cryopick.io.star import read_micrographs_star, read_star, write_coordinates, write_star

PIXEL_A = 2.0
OPTICS = pd.DataFrame({"rlnOpticsGroupName": ["opticsGroup1"], "rlnOpticsGroup": [1],
                       "rlnMicrographOriginalPixelSize": [PIXEL_A], "rlnVoltage": [300.0],
                       "rlnSphericalAberration": [2.7], "rlnAmplitudeContrast": [0.1],
                       "rlnMicrographPixelSize": [PIXEL_A]})
NAMES = ["MotionCorr/job002/Movies/mic001.mrc", "MotionCorr/job002/Movies/mic002.mrc"]
SHAPES = [(97, 120), (110, 101)]  # (ny, nx): odd and even sizes


def _micrograph(shape: tuple[int, int], seed: int) -> np.ndarray:
    """Noise on a tilted plane, with a few dark Gaussian blobs."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    image = rng.normal(10.0, 2.0, shape) + 0.05 * xx - 0.03 * yy
    for y, x in rng.uniform(10, np.array(shape) - 10, size=(4, 2)):
        image -= 3.0 * np.exp(-((yy - y) ** 2 + (xx - x) ** 2) / 50.0)
    return image.astype(np.float32)


def _coords(shape: tuple[int, int], seed: int, n: int = 12) -> pd.DataFrame:
    """LoG-style coordinates: interior ones, plus two boxes hanging over the edges."""
    rng = np.random.default_rng(seed)
    xy = rng.uniform([16, 16], [shape[1] - 16, shape[0] - 16], size=(n, 2))
    xy[0] = [1.7, 2.2]
    xy[1] = [shape[1] - 0.4, shape[0] - 3.9]
    return pd.DataFrame({"rlnCoordinateX": xy[:, 0], "rlnCoordinateY": xy[:, 1],
                         "rlnAutopickFigureOfMerit": rng.normal(size=n), "rlnClassNumber": 0,
                         "rlnAnglePsi": 0.0})


@pytest.fixture
def project(tmp_path, monkeypatch) -> Path:
    """Two micrographs with coordinate files and a RELION 3.1 micrograph STAR with CTF."""
    monkeypatch.chdir(tmp_path)
    for k, (name, shape) in enumerate(zip(NAMES, SHAPES)):
        write_mrc(name, _micrograph(shape, k), PIXEL_A)
        write_coordinates(f"AutoPick/job006/Movies/mic00{k + 1}_autopick.star", _coords(shape, k))
    mics = pd.DataFrame({"rlnMicrographName": NAMES, "rlnOpticsGroup": [1, 1],
                         "rlnDefocusU": [15000.0, 21000.0], "rlnDefocusV": [14500.0, 20500.0],
                         "rlnDefocusAngle": [10.0, 80.0], "rlnCtfFigureOfMerit": [0.2, 0.1],
                         "rlnCtfMaxResolution": [4.0, 3.5]})
    write_star("mics.star", {"optics": OPTICS, "micrographs": mics})
    Path("AutoPick/job006/coords_suffix_autopick.star").write_text("mics.star\n")
    return tmp_path


PARAMS = ExtractParams(box_size_px=32, rescaled_size_px=16, normalise=True, bg_radius_px=6,
                       invert_contrast=True)
SOURCE = CoordinateFiles("AutoPick/job006/", "_autopick.star")


def _job(**kw) -> ExtractJob:
    return ExtractJob(part_dir="Extract/job007/", part_star="Extract/job007/particles.star", **kw)


def _run(params=PARAMS, source=SOURCE, **kw) -> pd.DataFrame:
    return run_extraction(read_micrographs_star("mics.star"), source, params,
                          _job(**kw)).to_frame()


# --- kernels ---------------------------------------------------------------------------

def test_box_centre_is_the_truncated_coordinate():
    corners = box_corners(np.array([10.9, -0.5, 3.0]), np.array([7.99, 2.5, -1.2]), 4)
    assert corners.tolist() == [[5, 8], [0, -2], [-3, 1]]  # (y0, x0) = (long)c − B/2


@pytest.mark.parametrize("shape", [(37, 50), (40, 41)])
def test_boxes_replicate_edge_pixels(backend, shape):
    image = np.random.default_rng(0).normal(size=shape).astype(np.float32)
    corners = np.array([[-5, -3], [shape[0] - 10, shape[1] - 4], [10, 12], [-11, 20]])
    boxes = backend.to_numpy(cut_boxes(backend.asarray(image), corners, 12))
    padded = np.pad(image, 12, mode="edge")
    for box, (y0, x0) in zip(boxes, corners):
        np.testing.assert_array_equal(box, padded[y0 + 12: y0 + 24, x0 + 12: x0 + 24])


def test_no_coordinates_give_an_empty_stack(backend):
    boxes = cut_boxes(backend.asarray(np.ones((20, 20), np.float32)), np.zeros((0, 2), int), 8)
    assert tuple(boxes.shape) == (0, 8, 8)
    assert process_boxes(boxes, ExtractParams(8, 4))[0].shape == (0, 4, 4)


@pytest.mark.parametrize("size", [8, 16, 24])
def test_rescaling_keeps_the_grey_scale(backend, size):
    boxes = backend.asarray(np.full((3, 16, 16), 4.25, np.float32))
    out = backend.to_numpy(rescale_boxes(boxes, size))
    assert out.shape == (3, size, size)
    np.testing.assert_allclose(out, 4.25, rtol=1e-5)


def test_rescaling_is_a_crop_of_relions_normalised_transform(backend):
    boxes = np.random.default_rng(1).normal(size=(2, 32, 32)).astype(np.float32)
    f = np.fft.rfft2(boxes) / 32**2  # RELION: forward divided by the pixel count
    cropped = np.concatenate([f[:, :9, :9], f[:, 32 - 7:, :9]], axis=1)
    expected = np.fft.irfft2(cropped, s=(16, 16)) * 16**2  # unnormalised inverse
    out = backend.to_numpy(rescale_boxes(backend.asarray(boxes), 16))
    np.testing.assert_allclose(out, expected, atol=1e-5)


@pytest.mark.parametrize("n, m", [(32, 16), (32, 15), (40, 24), (64, 10), (256, 64)])
def test_matrix_crop_equals_the_fft_crop(backend, n, m):
    """The crop as matrix products (boxes up to 384 px) is the FFT route's linear map."""
    boxes = np.random.default_rng(n + m).normal(size=(3, n, n)).astype(np.float32)
    expected = inverse(forward_cropped(boxes, m), (m, m))
    out = backend.to_numpy(crop_by_matrices(backend.asarray(boxes), m))
    assert out.shape == (3, m, m)
    np.testing.assert_allclose(out, expected, atol=2e-6)


def test_background_circle_is_strictly_outside_the_radius():
    mask = background_mask(8, 2)  # centre (4, 4)
    assert not mask[4, 6] and not mask[2, 4]  # r = 2 exactly: inside
    assert mask[4, 7] and mask[1, 4] and mask[2, 2]  # r = 3, 3, √8 > 2


def _plane_stack(n: int, size: int) -> np.ndarray:
    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[:size, :size]
    ramps = rng.normal(size=(n, 3))
    planes = ramps[:, :1, None] * xx + ramps[:, 1:2, None] * yy + 5 * ramps[:, 2:, None]
    return (planes + rng.normal(size=(n, size, size))).astype(np.float32)


@pytest.mark.parametrize("ramp", [True, False])
def test_background_has_mean_0_and_std_1(backend, ramp):
    params = ExtractParams(24, normalise=True, bg_radius_px=8, ramp=ramp)
    out, flat = normalise_boxes(backend.asarray(_plane_stack(4, 24)), params)
    out, mask = backend.to_numpy(out), background_mask(24, 8)
    np.testing.assert_allclose(out[:, mask].mean(axis=1), 0.0, atol=1e-5)
    np.testing.assert_allclose(out[:, mask].std(axis=1), 1.0, atol=1e-5)
    assert not backend.to_numpy(flat).any()


def test_ramp_subtraction_removes_the_background_plane(backend):
    stack = _plane_stack(4, 24)
    with_ramp = ExtractParams(24, normalise=True, bg_radius_px=8)
    out = backend.to_numpy(normalise_boxes(backend.asarray(stack), with_ramp)[0])
    no_ramp = ExtractParams(24, normalise=True, bg_radius_px=8, ramp=False)
    flat = backend.to_numpy(normalise_boxes(backend.asarray(stack), no_ramp)[0])
    xx = np.broadcast_to(np.arange(24.0), (24, 24))
    mask = background_mask(24, 8)
    for k in range(4):  # no left-over slope with the ramp; a clear one without
        assert abs(np.corrcoef(out[k][mask], xx[mask])[0, 1]) < 1e-5
        assert abs(np.corrcoef(flat[k][mask], xx[mask])[0, 1]) > 0.2


def test_constant_background_is_left_unnormalised(backend):
    params = ExtractParams(16, normalise=True, bg_radius_px=4)
    out, flat = normalise_boxes(backend.asarray(np.full((2, 16, 16), 3.0, np.float32)), params)
    np.testing.assert_allclose(backend.to_numpy(out), 0.0, atol=1e-5)  # ramp took the 3 away
    assert backend.to_numpy(flat).all()


def test_invert_negates_the_normalised_image(backend):
    stack = backend.asarray(_plane_stack(3, 16))
    plain = ExtractParams(16, normalise=True, bg_radius_px=5)
    inverted = ExtractParams(16, normalise=True, bg_radius_px=5, invert_contrast=True)
    np.testing.assert_array_equal(backend.to_numpy(process_boxes(stack, inverted)[0]),
                                  -backend.to_numpy(process_boxes(stack, plain)[0]))


def test_dust_removal_replaces_only_outliers_with_seeded_noise(backend):
    stack = np.random.default_rng(4).normal(size=(2, 24, 24)).astype(np.float32)
    stack[0, 3, 4], stack[1, 20, 2], stack[1, 12, 12] = 40.0, -40.0, 30.0
    mask = background_mask(24, 8)
    cleaned = backend.to_numpy(remove_dust(backend.asarray(stack), mask, 5.0, 5.0,
                                           np.random.default_rng(1)))
    changed = sorted(map(tuple, np.argwhere(cleaned != stack).tolist()))
    assert changed == [(0, 3, 4), (1, 12, 12), (1, 20, 2)]
    assert np.abs(cleaned).max() < 6
    white_only = backend.to_numpy(remove_dust(backend.asarray(stack), mask, 5.0, -1.0,
                                              np.random.default_rng(1)))
    assert white_only[1, 20, 2] == -40.0 and white_only[1, 12, 12] != 30.0


def test_dust_removal_in_normalisation_is_reproducible(backend):
    stack = np.random.default_rng(5).normal(size=(2, 24, 24)).astype(np.float32)
    stack[0, 3, 4] = 400.0
    params = ExtractParams(24, normalise=True, bg_radius_px=8, white_dust=5, black_dust=5)

    def run(seed):
        out = normalise_boxes(backend.asarray(stack), params, np.random.default_rng(seed))[0]
        return backend.to_numpy(out)

    np.testing.assert_array_equal(run(1), run(1))
    assert not np.array_equal(run(1), run(2))
    kept = backend.to_numpy(normalise_boxes(backend.asarray(stack), dataclasses.replace(
        params, white_dust=-1, black_dust=-1))[0])
    assert kept[0, 3, 4] > 15 and abs(run(1)[0, 3, 4]) < 0.5 * kept[0, 3, 4]


# --- options ---------------------------------------------------------------------------

def test_gui_background_radius():
    assert gui_bg_radius(200, 256, 64) == 25  # the tutorial
    assert gui_bg_radius(-1, 128, None) == 48  # 75 % of the box, halved
    assert gui_bg_radius(-1, 128, 64) == 24


@pytest.mark.parametrize("kwargs, message", [
    ({"box_size_px": 33}, "only even box sizes"),
    ({"box_size_px": 32, "normalise": True}, "--norm needs --bg_radius"),
    ({"box_size_px": 32, "rescaled_size_px": 16, "normalise": True, "bg_radius_px": 9},
     "2 × radius is larger"),
])
def test_bad_options_are_refused(kwargs, message):
    with pytest.raises(InputError, match=message):
        ExtractParams(**kwargs)


def test_odd_rescaled_size_is_bumped_as_relion_does():
    assert ExtractParams(32, rescaled_size_px=15).final_size_px == 16


def test_config_section_becomes_relion_options():
    params = params_from_config({"box_size_px": 256, "rescale": True, "rescaled_size_px": 64,
                                 "invert_contrast": True, "normalise": True,
                                 "bg_diameter_px": 200, "white_dust": -1, "black_dust": -1})
    assert (params.final_size_px, params.bg_radius_px, params.invert_contrast) == (64, 25, True)
    with pytest.raises(InputError, match="unknown key"):
        params_from_config({"box_size_px": 64, "boxsize": 1})


# --- the job -------------------------------------------------------------------------------

def test_job_writes_relions_extract_layout(project):
    particles = _run()
    assert sorted(p.as_posix() for p in Path("Extract/job007").rglob("*")) == [
        "Extract/job007/Movies", "Extract/job007/Movies/mic001.mrcs",
        "Extract/job007/Movies/mic001_extract.star", "Extract/job007/Movies/mic002.mrcs",
        "Extract/job007/Movies/mic002_extract.star", "Extract/job007/particles.star"]
    blocks = read_star("Extract/job007/particles.star")
    assert list(blocks["optics"].columns) == [
        "rlnOpticsGroupName", "rlnOpticsGroup", "rlnMicrographOriginalPixelSize", "rlnVoltage",
        "rlnSphericalAberration", "rlnAmplitudeContrast", "rlnImagePixelSize", "rlnImageSize",
        "rlnImageDimensionality"]
    assert blocks["optics"].iloc[0][["rlnImagePixelSize", "rlnImageSize"]].tolist() == [4.0, 16]
    assert list(blocks["particles"].columns) == [
        "rlnCoordinateX", "rlnCoordinateY", "rlnAutopickFigureOfMerit", "rlnClassNumber",
        "rlnAnglePsi", "rlnImageName", "rlnMicrographName", "rlnOpticsGroup",
        "rlnCtfMaxResolution", "rlnCtfFigureOfMerit", "rlnDefocusU", "rlnDefocusV",
        "rlnDefocusAngle", "rlnCtfBfactor", "rlnCtfScalefactor", "rlnPhaseShift"]
    assert particles["rlnImageName"].iloc[[0, 11, 12]].tolist() == [
        "000001@Extract/job007/Movies/mic001.mrcs", "000012@Extract/job007/Movies/mic001.mrcs",
        "000001@Extract/job007/Movies/mic002.mrcs"]
    with mrcfile.open("Extract/job007/Movies/mic002.mrcs") as mrc:
        assert mrc.data.shape == (12, 16, 16) and mrc.voxel_size.x == pytest.approx(4.0)
    per_mic = read_star("Extract/job007/Movies/mic001_extract.star")
    assert list(per_mic) == ["images"] and len(per_mic["images"]) == 12


def test_particles_follow_the_coordinate_files(project, backend):
    particles = _run(backend=backend.name)
    coords = pd.concat([read_star(f"AutoPick/job006/Movies/mic00{k}_autopick.star")[""]
                        for k in (1, 2)], ignore_index=True)
    np.testing.assert_allclose(particles["rlnCoordinateX"], coords["rlnCoordinateX"])
    assert particles["rlnMicrographName"].tolist() == [NAMES[0]] * 12 + [NAMES[1]] * 12
    assert particles["rlnDefocusU"].tolist() == [15000.0] * 12 + [21000.0] * 12


def test_stack_is_the_processed_boxes(project):
    _run()
    coords = read_star("AutoPick/job006/Movies/mic002_autopick.star")[""]
    image = _micrograph(SHAPES[1], 1)
    corners = box_corners(coords["rlnCoordinateX"], coords["rlnCoordinateY"], 32)
    expected = process_boxes(cut_boxes(image, corners, 32), PARAMS)[0]
    np.testing.assert_allclose(mrcfile.read("Extract/job007/Movies/mic002.mrcs"), expected,
                               atol=1e-6)


def test_parallel_workers_write_the_same_files(project):
    _run(jobs=1)
    first = {p: p.read_bytes() for p in Path("Extract/job007").rglob("*.*")}
    _run(jobs=2)
    assert {p: p.read_bytes() for p in Path("Extract/job007").rglob("*.*")} == first


def test_missing_coordinate_file_skips_the_micrograph(project, caplog):
    Path("AutoPick/job006/Movies/mic001_autopick.star").unlink()
    with caplog.at_level(logging.WARNING):
        particles = _run()
    assert "mic001_autopick.star does not exist" in caplog.text
    assert set(particles["rlnMicrographName"]) == {NAMES[1]}
    assert not Path("Extract/job007/Movies/mic001.mrcs").exists()


def test_coordinate_list_and_suffix_file_find_the_same_files(project):
    assert coordinate_files_from_suffix_file("AutoPick/job006/coords_suffix_autopick.star") \
        == SOURCE
    listed = pd.DataFrame({"rlnMicrographName": NAMES, "rlnMicrographCoordinates": [
        f"AutoPick/job006/Movies/mic00{k}_autopick.star" for k in (1, 2)]})
    write_star("AutoPick/job006/autopick.star", {"coordinate_files": listed})
    by_list = _run(source=CoordinateList.read("AutoPick/job006/autopick.star"))
    pd.testing.assert_frame_equal(by_list, _run())


def test_only_unfinished_keeps_done_micrographs_and_joins_them(project):
    _run()
    done = Path("Extract/job007/Movies/mic001.mrcs")
    done.write_bytes(b"kept")  # would be overwritten if redone
    Path("Extract/job007/Movies/mic002_extract.star").unlink()
    particles = _run(only_unfinished=True)
    assert done.read_bytes() == b"kept" and len(particles) == 24


def test_recentring_moves_coordinates_by_whole_pixels_and_keeps_the_rest(project):
    _run()
    data = read_star("Extract/job007/particles.star")
    data["particles"]["rlnOriginXAngst"] = 5.0  # 2.5 micrograph pixels
    data["particles"]["rlnOriginYAngst"] = -3.0  # -1.5 pixels
    write_star("run_data.star", data)
    source = read_reextraction("run_data.star", recenter=True)
    particles = run_extraction(read_micrographs_star("mics.star"), source, PARAMS,
                               ExtractJob("Extract/job010/", "Extract/job010/particles.star"))
    before = data["particles"]
    np.testing.assert_allclose(particles["rlnCoordinateX"], before["rlnCoordinateX"] - 3)
    np.testing.assert_allclose(particles["rlnCoordinateY"], before["rlnCoordinateY"] + 2)
    np.testing.assert_allclose(particles["rlnOriginXAngst"], -1.0)  # (2.5 − 3) × 2 Å
    np.testing.assert_allclose(particles["rlnOriginYAngst"], 1.0)
    reset = read_reextraction("run_data.star", reset_offsets=True).table(NAMES[0], PIXEL_A)
    assert (reset["rlnOriginXAngst"] == 0).all() and (reset["rlnOriginYAngst"] == 0).all()


def test_extraction_needs_neither_pandas_nor_the_fft_library(project):
    """Start-up: a RELION-style extraction imports no pandas, starfile or FFT library.

    Each costs 0.1–0.25 s per process, longer than extracting a micrograph.
    """
    heavy = ["pandas", "starfile", "scipy.fft"]
    if np.__array_api_version__ >= "2023.12":
        heavy.append("array_api_compat.numpy")
    code = ("import sys; from cryopick.cli.main import main; rc = main(['preprocess', '--i', "
            "'mics.star', '--coord_dir', 'AutoPick/job006/', '--coord_suffix', "
            "'_autopick.star', '--part_dir', 'E/', '--extract', '--extract_size', '32', "
            "'--scale', '16', '--norm', '--bg_radius', '6', '--j', '2']); "
            f"print([m for m in {heavy!r} if m in sys.modules]); sys.exit(rc)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]", out.stderr
    assert len(read_star("E/particles.star")["particles"]) == 24


def test_command_line_takes_relions_flags(project):
    assert main(["preprocess", "--i", "mics.star", "--coord_dir", "AutoPick/job006/",
                 "--coord_suffix", "_autopick.star", "--part_star", "E/particles.star",
                 "--part_dir", "E/", "--extract", "--extract_size", "32", "--scale", "16",
                 "--norm", "--bg_radius", "6", "--invert_contrast", "--j", "2"]) == 0
    _run()
    assert Path("E/Movies/mic001.mrcs").read_bytes() == \
        Path("Extract/job007/Movies/mic001.mrcs").read_bytes()


def test_snakemake_adapter_writes_particles_and_gallery(project):
    spec = importlib.util.spec_from_file_location(
        "extract_adapter", Path(__file__).parents[2] / "scripts" / "extract.py")
    adapter = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(adapter)
    ns = types.SimpleNamespace
    adapter.main(ns(
        input=ns(micrographs="mics.star", coords="AutoPick/job006/coords_suffix_autopick.star"),
        output=ns(particles="Extract/LoG/particles.star", gallery="Extract/LoG/gallery.png",
                  qc="Extract/LoG/qc.star"),
        params=ns(extract={"box_size_px": 32, "rescale": True, "rescaled_size_px": 16,
                           "invert_contrast": True, "normalise": True, "bg_diameter_px": 24,
                           "white_dust": -1, "black_dust": -1}, backend="numpy",
                  on_bad_micrograph="skip"),
        threads=1, log=["logs/extract.log"]))
    assert len(read_star("Extract/LoG/particles.star")["particles"]) == 24
    assert Path("Extract/LoG/gallery.png").read_bytes()[:4] == b"\x89PNG"
    assert len(read_star("Extract/LoG/qc.star")["skipped_micrographs"]) == 0
    assert "--bg_radius 6" in Path("Extract/LoG/note.txt").read_text()


# --- bad input ---------------------------------------------------------------------------

def _outputs() -> list[str]:
    return sorted(p.as_posix() for p in Path(".").rglob("Extract/**/*") if p.is_file())


def test_odd_box_is_refused_on_the_command_line(project, caplog):
    assert main(["preprocess", "--i", "mics.star", "--coord_suffix", "_autopick.star",
                 "--coord_dir", "AutoPick/job006/", "--extract", "--extract_size", "31"]) == 1
    assert "--extract_size 31: only even box sizes" in caplog.text
    assert _outputs() == []


def test_box_larger_than_the_micrograph_is_refused(project):
    with pytest.raises(InputError, match=f"^{NAMES[0]}: the 128-px box is larger"):
        _run(params=ExtractParams(128))
    assert _outputs() == []


def test_coordinates_fully_outside_are_refused_naming_the_file(project):
    coords = _coords(SHAPES[1], 1)
    coords.loc[5, "rlnCoordinateX"] = 200.0
    write_coordinates("AutoPick/job006/Movies/mic002_autopick.star", coords)
    with pytest.raises(InputError, match="mic002_autopick.star: particle 6 at .* completely "
                                         "outside"):
        _run()
    assert _outputs() == []


def test_corrupt_micrograph_is_refused_naming_it(project):
    data = Path(NAMES[1]).read_bytes()
    Path(NAMES[1]).write_bytes(data[:3000])
    with pytest.raises(InputError, match=f"^{NAMES[1]}: not a valid MRC file"):
        _run()
    assert _outputs() == []


@pytest.mark.filterwarnings("ignore:Data array contains NaN")
def test_nan_pixels_fail_without_a_half_written_stack(project):
    image = _micrograph(SHAPES[1], 1)
    image[50:60, 50:60] = np.nan
    write_mrc(NAMES[1], image, PIXEL_A)
    with pytest.raises(InputError, match=f"^{NAMES[1]}: NaN or infinite pixel values"):
        extract_micrograph(NAMES[1], np.array([55.0]), np.array([55.0]), PARAMS)
    with pytest.raises(InputError, match="NaN or infinite"):
        _run()
    # the first micrograph is complete; nothing of the second, no temporary files
    assert _outputs() == ["Extract/job007/Movies/mic001.mrcs",
                          "Extract/job007/Movies/mic001_extract.star"]


@pytest.mark.filterwarnings("ignore:Data array contains NaN")
@pytest.mark.parametrize("fault", ["truncated", "nan", "missing"])
def test_with_skip_a_bad_micrograph_is_left_out_and_listed(project, fault):
    if fault == "truncated":
        Path(NAMES[0]).write_bytes(Path(NAMES[0]).read_bytes()[:3000])
    elif fault == "nan":
        image = _micrograph(SHAPES[0], 0)
        image[:] = np.nan
        write_mrc(NAMES[0], image, PIXEL_A)
    else:
        Path(NAMES[0]).unlink()
    particles = _run(on_bad_micrograph="skip", qc_star="Extract/job007/qc.star")
    assert set(particles["rlnMicrographName"]) == {NAMES[1]}
    qc = read_star("Extract/job007/qc.star")["skipped_micrographs"]
    assert list(qc["rlnMicrographName"]) == [NAMES[0]]
    assert qc["cryopickSkipReason"][0].startswith(f"{NAMES[0]}: ")
    assert not Path("Extract/job007/Movies/mic001.mrcs").exists()


def test_no_coordinates_at_all_is_an_error_naming_where_they_were_looked_for(project):
    with pytest.raises(InputError, match="no micrograph has coordinates .*looked for e.g. "
                                         "Picks/Movies/mic001_autopick.star"):
        _run(source=CoordinateFiles("Picks/", "_autopick.star"))
    assert _outputs() == []
