"""Options beyond the basic run: re-centring, noise masks, fast subsets, E-step limit, the CLI."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from cryopick.class_selection import center_of_mass
from cryopick.classification import Class2DJob, Class2DParams, run_class2d
from cryopick.cli.main import main
from cryopick.io.mrc import read_image_stack
from cryopick.io.star import read_star

PARAMS = Class2DParams(n_classes=3, n_iter=3, tau2_fudge=2.0, particle_diameter_a=80.0,
                       zero_mask=True, ctf=False, psi_step_deg=12.0, offset_range_px=3.0,
                       offset_step_px=2.0, flatten_solvent=True, norm=True, scale=True,
                       random_seed=1, preread_images=True)


def _run(project, monkeypatch, root, params):
    monkeypatch.chdir(project)
    return run_class2d(Class2DJob(root, params, particles_star="Extract/job007/particles.star"))


def test_center_classes_puts_each_average_on_its_centre_of_mass(no_ctf_shapes, monkeypatch):
    project, _ = no_ctf_shapes
    _run(project, monkeypatch, "Class2D/centred/run",
         dataclasses.replace(PARAMS, center_classes=True))
    for image in read_image_stack(project / "Class2D/centred/run_it003_classes.mrcs"):
        if np.abs(image).max() > 0:
            assert np.hypot(*center_of_mass(image)) < 1.0


def test_noise_mask_runs_and_repeats_exactly(no_ctf_shapes, monkeypatch):
    project, _ = no_ctf_shapes
    params = dataclasses.replace(PARAMS, zero_mask=False, n_iter=2)
    _run(project, monkeypatch, "Class2D/noise1/run", params)
    _run(project, monkeypatch, "Class2D/noise2/run", params)
    a = read_image_stack(project / "Class2D/noise1/run_it002_classes.mrcs")
    b = read_image_stack(project / "Class2D/noise2/run_it002_classes.mrcs")
    assert np.isfinite(a).all()
    np.testing.assert_array_equal(a, b)


def test_fast_subsets_use_100_particles_per_class_first(no_ctf_shapes, monkeypatch):
    project, _ = no_ctf_shapes
    params = dataclasses.replace(PARAMS, n_classes=1, n_iter=20, fast_subsets=True,
                                 psi_step_deg=30.0)
    _run(project, monkeypatch, "Class2D/subsets/run", params)
    first = read_star(project / "Class2D/subsets/run_it001_data.star")["particles"]
    assert (first["rlnNrOfSignificantSamples"] > 0).sum() == 90  # 100·K > 90: all of them
    params = dataclasses.replace(params, n_iter=20)
    assert params.fast_subsets


def test_strict_highres_limit_runs_and_keeps_the_m_step_size(no_ctf_shapes, monkeypatch):
    project, _ = no_ctf_shapes
    _run(project, monkeypatch, "Class2D/strict/run",
         dataclasses.replace(PARAMS, strict_highres_exp_a=30.0, n_iter=2))
    model = read_star(project / "Class2D/strict/run_it002_model.star")["model_general"]
    assert int(model["rlnCurrentImageSize"].iloc[0]) > 8  # E-step at 8 px, M-step larger


def test_cli_accepts_the_relion_gui_command_line(no_ctf_shapes, monkeypatch):
    project, _ = no_ctf_shapes
    monkeypatch.chdir(project)
    argv = ["refine", "--o", "Class2D/cli/run", "--i", "Extract/job007/particles.star",
            "--dont_combine_weights_via_disc", "--preread_images", "--pool", "30", "--pad", "2",
            "--iter", "2", "--tau2_fudge", "2", "--particle_diameter", "80", "--K", "3",
            "--flatten_solvent", "--zero_mask", "--oversampling", "1", "--psi_step", "12",
            "--offset_range", "3", "--offset_step", "2", "--norm", "--scale", "--j", "1",
            "--random_seed", "1"]
    assert main(argv) == 0
    assert main(["refine", "--continue", "Class2D/cli/run_it002_optimiser.star", "--o",
                 "Class2D/cli/run_ct002", "--iter", "3"]) == 0
    assert (project / "Class2D/cli/run_ct002_it003_model.star").is_file()


def test_cli_reports_bad_input_without_a_traceback(no_ctf_shapes, monkeypatch, caplog):
    monkeypatch.chdir(no_ctf_shapes[0])
    assert main(["refine", "--o", "Class2D/bad/run", "--i", "missing.star", "--K", "2"]) == 1
    assert "missing.star" in caplog.text
    assert main(["refine", "--o", "Class2D/bad/run", "--i", "Extract/job007/particles.star"]) == 1
    assert "--K" in caplog.text


@pytest.mark.parametrize("flag", [["--oversampling", "2"], ["--offset_step", "0"]])
def test_cli_refuses_unsupported_options(no_ctf_shapes, monkeypatch, flag):
    monkeypatch.chdir(no_ctf_shapes[0])
    assert main(["refine", "--o", "Class2D/bad/run", "--i", "Extract/job007/particles.star",
                 "--K", "2", *flag]) == 1
