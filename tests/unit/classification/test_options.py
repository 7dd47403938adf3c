"""Options beyond the basic run: re-centring, noise masks, fast subsets, E-step limit, the CLI."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from cryopick.classification.kernels import center_of_mass
from cryopick.classification import Class2DJob, Class2DParams, run_class2d
from cryopick.classification.accuracy import particle_order
from cryopick.classification.synthetic import write_synthetic_particles
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


def test_fast_subsets_take_100k_then_300k_particles_then_all(tmp_path, monkeypatch):
    """350 particles, K = 1: iterations 1–5 use 100 particles (RELION's first 100 of its
    shuffled order), 6–15 use 300 (max(300·K, 0.3·N) from 11 on), 16–20 all 350. A
    particle's log-likelihood contribution changes only in the iterations that use it."""
    write_synthetic_particles(tmp_path, n_particles=350, n_shapes=2, box_px=24,
                              pixel_size_a=4.0, snr=1.0, ctf=False, seed=6)
    params = Class2DParams(n_classes=1, n_iter=20, tau2_fudge=2.0, particle_diameter_a=80.0,
                           zero_mask=True, psi_step_deg=30.0, offset_range_px=2.0,
                           offset_step_px=2.0, fast_subsets=True, random_seed=1,
                           preread_images=True)
    _run(tmp_path, monkeypatch, "Class2D/subsets/run", params)
    previous = np.zeros(350)
    used = []
    for iteration in range(1, 21):
        data = read_star(tmp_path / f"Class2D/subsets/run_it{iteration:03d}_data.star")
        contribution = data["particles"]["rlnLogLikeliContribution"].to_numpy()
        used.append(np.flatnonzero(contribution != previous))
        previous = contribution
    assert [len(u) for u in used] == [100] * 5 + [300] * 10 + [350] * 5
    assert sorted(used[0]) == sorted(particle_order(350, 1, 1, 1, True)[:100])


def test_a_padding_other_than_2_is_refused(no_ctf_shapes, monkeypatch, caplog):
    project, _ = no_ctf_shapes
    monkeypatch.chdir(project)
    argv = ["refine", "--o", "Class2D/pad/run", "--i", "Extract/job007/particles.star",
            "--K", "2", "--iter", "1", "--pad", "1"]
    assert main(argv) == 1
    assert "--pad 1" in caplog.text and not (project / "Class2D/pad").exists()


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
