"""Hands-free template selection never ends in a dead end: retry on confident picks, blob."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from class_junk import JUNK_SIZES, MASK_A, PIXEL_A, junk

from cryopick.workflow.class2d import auto_n_classes
from cryopick.errors import InputError
from cryopick.io.mrc import read_image_stack, write_mrc
from cryopick.io.star import read_star, write_star
import cryopick.workflow.templates as templates_stage
from cryopick.classification.class_selection import COLLAPSED
from cryopick.workflow import with_picking_settings, write_picking_settings
from cryopick.workflow.templates import TemplateStage, blob_template, confident_subset, \
    select_templates_stage

OPTS = {"classes": [], "n_templates": 4, "recenter": True, "min_distribution": 0.01,
        "max_resolution_a": 30, "max_similarity": 0.85, "min_pmax_fraction": 0.25}
OPTICS = pd.DataFrame({"rlnOpticsGroup": [1], "rlnImagePixelSize": [PIXEL_A],
                       "rlnImageSize": [64]})


def _particles(path: str, foms: list[float]) -> None:
    write_star(path, {"optics": OPTICS, "particles": pd.DataFrame({
        "rlnImageName": [f"{i:06d}@Extract/x.mrcs" for i in range(1, len(foms) + 1)],
        "rlnAutopickFigureOfMerit": foms, "rlnOpticsGroup": 1})})


def _junk_model(path: str) -> None:
    images = np.stack([junk(kind, size) for kind in ("disc", "carbon", "noise")
                       for size in JUNK_SIZES[:2]])
    stack = path.replace("_model.star", "_classes.mrcs")
    write_mrc(stack, images, PIXEL_A, stack=True)
    write_star(path, {"model_general": {"rlnReferenceDimensionality": 2},
                      "model_classes": pd.DataFrame({
                          "rlnReferenceImage": [f"{i:06d}@{stack}" for i in range(1, 7)],
                          "rlnClassDistribution": [0.5, 0.1, 0.1, 0.1, 0.1, 0.1],
                          "rlnEstimatedResolution": [14.0] * 6})})


def test_k_follows_the_particle_count_within_bounds():
    assert auto_n_classes(0) == 6 and auto_n_classes(240) == 6
    assert auto_n_classes(900) == 22 and auto_n_classes(10_000) == 50


def test_confident_subset_keeps_the_top_of_the_fom_distribution(tmp_path):
    _particles(tmp_path / "p.star", [float(v) for v in range(300)])
    assert confident_subset(tmp_path / "p.star", tmp_path / "top.star") == 150
    foms = read_star(tmp_path / "top.star")["particles"]["rlnAutopickFigureOfMerit"]
    assert foms.min() == 150 and list(foms) == sorted(foms)  # original order kept
    assert confident_subset(tmp_path / "p.star", tmp_path / "t2.star", minimum=200) == 200
    write_star(tmp_path / "bad.star", {"particles": pd.DataFrame({"rlnImageName": ["1@a"]})})
    with pytest.raises(InputError, match="bad.star"):
        confident_subset(tmp_path / "bad.star", tmp_path / "t3.star")


def test_blob_template_has_the_particle_diameter():
    blob = blob_template(150.0, PIXEL_A, 64)
    across = np.count_nonzero(blob[32] > 0.5)
    assert abs(across - 150.0 / PIXEL_A) <= 1.5


def test_junk_only_classes_end_with_a_blob_template_and_say_so(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _junk_model("Class2D/LoG/run_it025_model.star")
    _particles("Extract/LoG/particles.star", [1.0, 2.0, 3.0])  # too few for a retry
    stage = TemplateStage("Class2D/LoG/run_it025_model.star", "Extract/LoG/particles.star",
                          "Select/t/class_averages.star", "Select/t/templates.png", 150.0,
                          MASK_A, {"n_iter": 25})
    decisions, picking = select_templates_stage(stage, OPTS)
    assert picking == {}
    assert decisions[0].startswith("no particle-like class")
    assert "retry skipped" in decisions[1] and decisions[-1].startswith("fallback: one blob")
    rows = read_star("Select/t/class_averages.star")[""]
    assert rows["rlnReferenceImage"].tolist() == ["000001@Select/t/class_averages.mrcs"]
    assert read_image_stack("Select/t/class_averages.mrcs").shape == (1, 64, 64)
    assert (tmp_path / "Select/t/templates.png").stat().st_size > 0


def _optimiser(model_star: str, first_peak: bool) -> None:
    """The run's ``_optimiser.star``: what the template stage reads of how it classified."""
    write_star(model_star.replace("_model.star", "_optimiser.star"),
               {"optimiser_general": {"rlnDoIgnoreCtfUntilFirstPeak": int(first_peak)}})


def _collapsed_model(path: str, view: np.ndarray, first_peak: bool = False) -> None:
    """Six classes, one holding 95 % of the particles (an average of everything)."""
    _optimiser(path, first_peak)
    images = np.stack([view] + [junk("noise", JUNK_SIZES[0])] * 5)
    stack = path.replace("_model.star", "_classes.mrcs")
    write_mrc(stack, images.astype(np.float32), PIXEL_A, stack=True)
    write_star(path, {"model_general": {"rlnReferenceDimensionality": 2},
                      "model_classes": pd.DataFrame({
                          "rlnReferenceImage": [f"{i:06d}@{stack}" for i in range(1, 7)],
                          "rlnClassDistribution": [0.95, 0.01, 0.01, 0.01, 0.01, 0.01],
                          "rlnEstimatedResolution": [14.0] * 6})})


def _two_lobes() -> np.ndarray:
    yy, xx = np.mgrid[:64, :64] - 32
    lobe = lambda y, x, s: np.exp(-((yy - y) ** 2 + (xx - x) ** 2) / (2 * s * s))  # noqa: E731
    return (lobe(0, -7, 5) + lobe(0, 7, 5) + 0.8 * lobe(-9, 0, 3)).astype(np.float32)


@pytest.mark.parametrize("ctf, first_peak, ran_first_peak, first_retry", [
    (True, False, False, "retry_first_peak"), (False, False, False, "retry"),
    (True, True, True, "retry"), (True, False, True, "retry")])
def test_a_collapsed_classification_is_retried_ignoring_the_ctfs_until_the_first_peak(
        tmp_path, monkeypatch, ctf, first_peak, ran_first_peak, first_retry):
    """The tutorial's remedy for "all particles get classified together in very few, fuzzy
    classes": classify again ignoring the CTFs until their first peak; template picking then
    does the same (picking.yaml). Without CTF correction, or with the CTFs already ignored (by
    the config, or by the 2D job's own rerun after a collapse), the retry is the most
    confident picks'."""
    monkeypatch.chdir(tmp_path)
    _collapsed_model("Class2D/LoG/run_it025_model.star", _two_lobes(), ran_first_peak)
    _particles("Extract/LoG/particles.star", [float(v) for v in range(300)])
    ran = []

    def classify(stage, particles_star, cfg, folder, decisions):
        ran.append((folder.name, particles_star, cfg.get("ctf_intact_first_peak")))
        model = f"{folder}/run_it025_model.star"
        table = pd.DataFrame({"rlnReferenceImage": [f"{i:06d}@{folder}/c.mrcs"
                                                    for i in range(1, 4)],
                              "rlnClassDistribution": [0.5, 0.3, 0.2],
                              "rlnEstimatedResolution": [14.0] * 3})
        write_mrc(f"{folder}/c.mrcs", np.stack([_two_lobes(), _two_lobes().T,
                                                 junk("noise", JUNK_SIZES[0])]), PIXEL_A,
                  stack=True)
        write_star(model, {"model_general": {"rlnReferenceDimensionality": 2},
                           "model_classes": table})
        _optimiser(model, bool(cfg.get("ctf_intact_first_peak")))
        return model

    monkeypatch.setattr(templates_stage, "_classify", classify)
    stage = TemplateStage("Class2D/LoG/run_it025_model.star", "Extract/LoG/particles.star",
                          "Select/t/class_averages.star", "Select/t/templates.png", 150.0,
                          MASK_A, {"n_iter": 25, "ctf": ctf, "ctf_intact_first_peak": first_peak})
    decisions, picking = select_templates_stage(stage, OPTS)
    assert COLLAPSED in decisions[0]
    assert ran[0][0] == first_retry and len(ran) == 1
    if first_retry == "retry_first_peak":
        assert ran[0][1:] == ("Extract/LoG/particles.star", True)  # the same particles
        assert picking == {"ctf_intact_first_peak": True}
        assert "first peak" in decisions[1]
    else:
        assert picking == {}
    assert decisions[-1].startswith("templates: classes 1")
    write_picking_settings("Select/t/picking.yaml", picking)
    pick = with_picking_settings({"ctf": True, "ctf_intact_first_peak": False},
                                 "Select/t/picking.yaml")
    assert pick["ctf_intact_first_peak"] == (first_retry == "retry_first_peak")


@pytest.mark.parametrize("ran_first_peak", [False, True])
def test_templates_of_the_2d_jobs_rerun_after_a_collapse_are_picked_ignoring_the_ctfs_too(
        tmp_path, monkeypatch, ran_first_peak):
    """When the 2D job itself stopped a collapsed run and classified again ignoring the CTFs
    until their first peak (class2d.rerun_when_collapsed), its classes are judged as they
    come, and template picking ignores the CTFs the same way; the decision says so."""
    monkeypatch.chdir(tmp_path)
    model = "Class2D/LoG/run_it025_model.star"
    write_mrc("Class2D/LoG/c.mrcs", np.stack([_two_lobes(), _two_lobes().T,
                                              junk("noise", JUNK_SIZES[0])]), PIXEL_A, stack=True)
    write_star(model, {"model_general": {"rlnReferenceDimensionality": 2},
                       "model_classes": pd.DataFrame({
                           "rlnReferenceImage": [f"{i:06d}@Class2D/LoG/c.mrcs" for i in (1, 2, 3)],
                           "rlnClassDistribution": [0.5, 0.3, 0.2],
                           "rlnEstimatedResolution": [14.0] * 3})})
    _optimiser(model, ran_first_peak)
    stage = TemplateStage(model, "Extract/LoG/particles.star", "Select/t/class_averages.star",
                          "Select/t/templates.png", 150.0, MASK_A,
                          {"n_iter": 25, "ctf": True, "ctf_intact_first_peak": False})
    decisions, picking = select_templates_stage(stage, OPTS)
    assert decisions[-1].startswith("templates: classes 1")
    assert picking == ({"ctf_intact_first_peak": True} if ran_first_peak else {})
    assert any("first peak" in line for line in decisions) == ran_first_peak
