"""The workflow stage (config section → job folder, pictures) and the pictures themselves."""

from __future__ import annotations

import numpy as np
import pytest

from cryopick.classification.plots import plot_class_gallery, plot_convergence
from cryopick.workflow.class2d import output_root, run_class2d_stage
from cryopick.workflow.templates import ignored_ctf_first_peak
from cryopick.errors import InputError

CONFIG = {"n_classes": 3, "tau2_fudge": 2, "n_iter": 2, "mask_diameter_a": 80,
          "zero_mask": True, "ctf": False, "ctf_intact_first_peak": False, "psi_step_deg": 6,
          "offset_range_px": 3, "offset_step_px": 1, "fast_subsets": False,
          "strict_highres_exp_a": -1, "random_seed": 1, "preread_images": True, "pool": 30,
          "mpi_ranks": 1}


def test_stage_writes_the_job_folder_and_both_pictures(no_ctf_shapes, monkeypatch):
    project, _ = no_ctf_shapes
    monkeypatch.chdir(project)
    command = run_class2d_stage("Extract/job007/particles.star", CONFIG, "numpy",
                                "Class2D/LoG/run_it002_model.star", "Class2D/LoG/classes.png",
                                "Class2D/LoG/convergence.png")
    for name in ("run_it002_model.star", "run_it002_data.star", "run_it002_classes.mrcs",
                 "classes.png", "convergence.png"):
        assert (project / "Class2D/LoG" / name).stat().st_size > 0
    # the GUI's 6° and 1 px reach relion_refine doubled
    assert command[command.index("--psi_step") + 1] == "12"
    assert command[command.index("--offset_step") + 1] == "2"


def test_a_collapsed_run_stops_and_the_particles_are_classified_again_ignoring_the_ctfs(
        three_shapes, monkeypatch):
    """rerun_when_collapsed F: a CTF-corrected run stops once one class holds F of the
    particles, its iterations move to collapsed/ (with its pictures), and the job's files come
    from a full run that ignores the CTFs until their first peak. With 2 classes one of them
    always holds half, so F 0.5 stops after the first iteration."""
    project, _ = three_shapes
    monkeypatch.chdir(project)
    config = {**CONFIG, "n_classes": 2, "n_iter": 3, "ctf": True,
              "rerun_when_collapsed": 0.5}
    decisions: list[str] = []
    command = run_class2d_stage("Extract/job007/particles.star", config, "numpy",
                                "Class2D/c/run_it003_model.star", "Class2D/c/classes.png",
                                "Class2D/c/convergence.png", decisions=decisions)
    aside = project / "Class2D/c/collapsed"
    assert sorted(p.name for p in aside.glob("*_model.star")) == \
        ["run_it000_model.star", "run_it001_model.star"]
    for name in ("classes.png", "convergence.png"):
        assert (aside / name).stat().st_size > 0
    assert ignored_ctf_first_peak("Class2D/c/run_it003_model.star")
    assert "--ctf_intact_first_peak" in command and "--stop_when_collapsed" not in command
    assert len(decisions) == 1 and "at iteration 1 one class held" in decisions[0]
    # without the option every iteration runs, as in RELION
    off = run_class2d_stage("Extract/job007/particles.star", {**config, "rerun_when_collapsed": 0},
                            "numpy", "Class2D/d/run_it003_model.star", "Class2D/d/classes.png",
                            "Class2D/d/convergence.png")
    assert not ignored_ctf_first_peak("Class2D/d/run_it003_model.star")
    assert "--stop_when_collapsed" not in off and not (project / "Class2D/d/collapsed").exists()


def test_stage_refuses_an_unknown_config_key(no_ctf_shapes, monkeypatch):
    monkeypatch.chdir(no_ctf_shapes[0])
    with pytest.raises(InputError, match="n_clases"):
        run_class2d_stage("Extract/job007/particles.star", {**CONFIG, "n_clases": 3}, "numpy",
                          "Class2D/x/run_it002_model.star", "a.png", "b.png")


def test_output_root_must_match_the_iteration_count():
    assert output_root("Class2D/LoG/run_it025_model.star", 25) == "Class2D/LoG/run"
    with pytest.raises(InputError, match="_it025_model"):
        output_root("Class2D/LoG/run_it024_model.star", 25)


def test_gallery_and_convergence_pictures_are_written(tmp_path):
    images = np.random.default_rng(0).normal(size=(5, 16, 16)).astype(np.float32)
    plot_class_gallery(images, np.array([0.1, 0.4, 0.2, 0.3, 0.0]), np.full(5, 20.0),
                       tmp_path / "gallery.png")
    history = {"iteration": np.arange(4.0), "log_likelihood": np.array([0, 1.0, 2.0, 2.5]),
               "changes_classes": np.array([np.nan, 1.0, 0.4, 0.1]),
               "resolution_a": np.array([40.0, 30.0, 20.0, 18.0])}
    plot_convergence(history, tmp_path / "convergence.png")
    assert (tmp_path / "gallery.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "convergence.png").read_bytes()[:4] == b"\x89PNG"
