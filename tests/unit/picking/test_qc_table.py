"""The per-micrograph QC table of a template-picking job (qc.star, qc.csv) and its figures."""

import dataclasses

import numpy as np
import pandas as pd
import pytest

from cryopick.io.loop import read_star_loops
from cryopick.io.star import read_coordinates, read_micrographs_star
from cryopick.picking.job import AutopickJob
from cryopick.picking.qc import DARK_BLOCK_PX, flag_micrographs, image_statistics, read_record, \
    record_path, write_record
from cryopick.picking.template import TemplatePickParams
from cryopick.picking.template_job import TemplateSpec, run_autopick_template
from test_template_job import project  # noqa: F401 -- the fixture: two micrographs, a reference

PARAMS = TemplatePickParams(lowpass_a=20, angular_sampling_deg=15, shrink=0, threshold=0.3,
                            min_distance_a=60)


def _pick(params, odir="A/", record_qc=True):
    job = AutopickJob(odir=odir, jobs=1, backend="numpy", record_qc=record_qc)
    run_autopick_template(read_micrographs_star("mics.star"), params,
                          TemplateSpec(references="refs.mrcs", invert=True), job)
    return read_star_loops(f"{odir}qc.star")


def test_dark_fraction_is_the_share_of_dark_blocks():
    rng = np.random.default_rng(0)
    image = rng.normal(0.0, 1.0, (8 * DARK_BLOCK_PX, 8 * DARK_BLOCK_PX)).astype(np.float32)
    stats = image_statistics(image)
    assert stats["dark_fraction"] == 0.0
    assert abs(stats["mean"]) < 0.01 and abs(stats["std"] - 1.0) < 0.01
    image[: 4 * DARK_BLOCK_PX, : 4 * DARK_BLOCK_PX] -= 3.0  # a dark quarter (contamination)
    assert image_statistics(image)["dark_fraction"] == 0.25
    assert image_statistics(image[:10, :10])["dark_fraction"] == 0.0  # smaller than a block


def test_flags_name_what_stands_out():
    picks = np.array([30, 31, 29, 0, 90, 30, np.nan])
    dark = np.array([0.0, 0.3, 0.0, 0.0, 0.0, np.nan, np.nan])
    reasons = ["", "", "", "", "", "", "Movies/x.mrc: not a valid MRC file"]
    assert flag_micrographs(picks, dark, reasons) == [
        [], ["dark_area"], [], ["no_picks"], ["extreme_density"], [], ["bad_input"]]


def test_qc_star_has_one_row_per_micrograph_with_its_picks_and_figures(project):
    loops = _pick(PARAMS)
    assert len(loops["skipped_micrographs"]) == 0  # the block every picking job writes
    table = loops["micrographs"]
    assert list(table["rlnMicrographName"]) == ["Movies/m0.mrc", "Movies/m1.mrc"]
    for i, name in enumerate(table["rlnMicrographName"]):
        picks = read_coordinates(f"A/Movies/m{i}_autopick.star")
        assert table["cryopickTemplatePicks"][i] == len(picks) == 4
        assert table["rlnAutopickFigureOfMerit"][i] == pytest.approx(
            picks["rlnAutopickFigureOfMerit"].mean(), abs=1e-6)
        assert record_path("A/", name).is_file()
    assert (table["cryopickRemovedByStddevNoise"] == 0).all()  # both filters off
    assert (table["cryopickImageStd"] > 0.9).all()
    assert list(table["cryopickFlags"]) == ["none", "none"]
    csv = pd.read_csv(project / "A/qc.csv")
    assert list(csv["rlnMicrographName"]) == list(table["rlnMicrographName"])
    assert list(csv["cryopickTemplatePicks"]) == [4, 4]


def test_removed_counts_are_the_picks_each_filter_drops(project):
    unfiltered = _pick(PARAMS, "A/")["micrographs"]["cryopickTemplatePicks"]
    strict = dataclasses.replace(PARAMS, max_stddev_noise=1e-3)  # every background is noisier
    table = _pick(strict, "B/")["micrographs"]
    assert (table["cryopickTemplatePicks"] == 0).all()
    assert list(table["cryopickRemovedByStddevNoise"]) == list(unfiltered)
    assert (table["cryopickRemovedByAvgNoise"] == 0).all()
    assert list(table["cryopickFlags"]) == ["no_picks", "no_picks"]


def test_without_qc_records_qc_star_lists_only_the_skipped(project):
    loops = _pick(PARAMS, record_qc=False)
    assert set(loops) == {"skipped_micrographs"}
    assert not (project / "A/qc.csv").exists()


def test_a_repick_from_fom_maps_keeps_the_recorded_image_statistics(project):
    job = AutopickJob(odir="A/", backend="numpy", record_qc=True)
    mics = read_micrographs_star("mics.star")
    run_autopick_template(mics, PARAMS, TemplateSpec(references="refs.mrcs", invert=True,
                                                     write_fom_maps=True), job)
    record = read_record("A/", "Movies/m0.mrc")
    marked = {**record["image"], "mean": 123.0}  # what the re-pick must not recompute
    write_record("A/", "Movies/m0.mrc", marked, record["removed"])
    run_autopick_template(mics, dataclasses.replace(PARAMS, threshold=1e9),
                          TemplateSpec(references="refs.mrcs", invert=True, read_fom_maps=True),
                          job)
    assert read_record("A/", "Movies/m0.mrc")["image"] == marked
    table = read_star_loops("A/qc.star")["micrographs"]
    assert list(table["cryopickTemplatePicks"]) == [0, 0]
    assert table["cryopickImageMean"][0] == 123.0
