"""2D classification against the real relion_refine: RELION reads and continues our runs, and
our class averages are as good as RELION's on the same particles."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest

from cryopick.backend import get_backend
from cryopick.classification import Class2DJob, Class2DParams, run_class2d
from cryopick.classification.accuracy import class_accuracies, particle_order
from cryopick.classification.kernels import coefficient_list
from cryopick.classification.outputs import read_state
from cryopick.classification.particles import read_particles
from cryopick.classification.quality import best_ncc, class_quality, purity
from cryopick.classification.synthetic import write_synthetic_particles
from cryopick.io.mrc import read_image_stack
from cryopick.io.star import read_star
from support import needs_relion

pytestmark = [needs_relion, pytest.mark.relion]

STAR = "Extract/job007/particles.star"
FLAGS = ["--tau2_fudge", "2", "--particle_diameter", "100", "--K", "4", "--ctf",
         "--flatten_solvent", "--zero_mask", "--oversampling", "1", "--psi_step", "12",
         "--offset_range", "3", "--offset_step", "2", "--norm", "--scale",
         "--dont_combine_weights_via_disc", "--pad", "2"]


def _params(n_iter: int, seed: int, perturb: float = 0.5) -> Class2DParams:
    return Class2DParams(n_classes=4, n_iter=n_iter, tau2_fudge=2.0, particle_diameter_a=100.0,
                         zero_mask=True, ctf=True, psi_step_deg=12.0, offset_range_px=3.0,
                         offset_step_px=2.0, flatten_solvent=True, norm=True, scale=True,
                         random_seed=seed, preread_images=True, perturb=perturb)


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """150 CTF-affected particles of 40 px from 3 shapes, and a 10-iteration cryopick run.

    Ten iterations: from RELION's initial references (only the lowest frequencies) the first
    iterations keep the assignments nearly uniform (Pmax ≈ 0.002 after three), so the best
    class and angle of a particle are only well defined later (Pmax ≈ 0.4 after six). No
    random perturbation of the sampling, so that RELION can continue with ``--perturb 0``
    and sample exactly the poses we do (RELION's perturbation draws cannot be reproduced)."""
    root = tmp_path_factory.mktemp("class2d_oracle")
    truth = write_synthetic_particles(root, n_particles=150, n_shapes=3, box_px=40,
                                      pixel_size_a=3.0, snr=0.5, seed=3)
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        run_class2d(Class2DJob("Class2D/ours/run", _params(10, 1, perturb=0.0),
                               particles_star=STAR))
    return root, truth


@pytest.fixture(scope="module")
def continued(project):
    """One more iteration from our iteration 10, by relion_refine --continue (``run_ct010``)
    and by us (``run_cc010``), both without perturbation.

    On --continue RELION 3.1.3 reads no class prior for 2D (``MlModel::readStar`` sets every
    class's direction prior to 1), so its iteration 11 weighs the classes equally; our
    continuation starts from the same state with that prior (a copy of iteration 10 whose
    class prior is 1), so that both iterations start from exactly the same model."""
    root, truth = project
    _relion(root, "--continue", "Class2D/ours/run_it010_optimiser.star", "--o",
            "Class2D/ours/run_ct010", "--iter", "11", "--j", "1", "--perturb", "0")
    ours = root / "Class2D/ours"
    shutil.copy(ours / "run_it010_optimiser.star", ours / "flat_it010_optimiser.star")
    with np.load(ours / "run_it010_cryopick.npz") as saved:
        state = {key: saved[key] for key in saved.files}
    state["pdf_class"] = np.ones_like(state["pdf_class"])
    np.savez(ours / "flat_it010_cryopick.npz", **state)
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        run_class2d(Class2DJob("Class2D/ours/run_cc010", _params(11, 1, perturb=0.0),
                               continue_from="Class2D/ours/flat_it010_optimiser.star"))
    return root, truth


def _relion(cwd, *args: str) -> None:
    (cwd / "Class2D/relion").mkdir(parents=True, exist_ok=True)
    subprocess.run(["relion_refine", *args], cwd=cwd, check=True, capture_output=True,
                   timeout=600)


def test_relion_star_handler_reads_our_data_star(project):
    root, _ = project
    subprocess.run(["relion_star_handler", "--i", "Class2D/ours/run_it010_data.star", "--o",
                    "class1.star", "--select", "rlnClassNumber", "--minval", "1", "--maxval",
                    "1"], cwd=root, check=True, capture_output=True, timeout=120)
    ours = read_star(root / "Class2D/ours/run_it010_data.star")["particles"]
    selected = read_star(root / "class1.star")
    assert len(selected["particles"]) == int((ours["rlnClassNumber"] == 1).sum())
    assert "optics" in selected


def test_relion_continues_our_run_and_agrees_with_our_next_iteration(continued):
    root, _ = continued
    ours = read_star(root / "Class2D/ours/run_cc010_it011_data.star")["particles"]
    theirs = read_star(root / "Class2D/ours/run_ct010_it011_data.star")["particles"]
    theirs = theirs.set_index("rlnImageName").loc[ours["rlnImageName"]]
    same_class = np.mean(ours["rlnClassNumber"].to_numpy() == theirs["rlnClassNumber"].to_numpy())
    dpsi = np.abs((ours["rlnAnglePsi"].to_numpy() - theirs["rlnAnglePsi"].to_numpy() + 180)
                  % 360 - 180)
    assert same_class > 0.9
    assert np.median(dpsi) < 5.0
    a = read_image_stack(root / "Class2D/ours/run_cc010_it011_classes.mrcs")
    b = read_image_stack(root / "Class2D/ours/run_ct010_it011_classes.mrcs")
    used = read_star(root / "Class2D/ours/run_cc010_it011_model.star")[
        "model_classes"]["rlnClassDistribution"].to_numpy() > 0.05
    ncc = [best_ncc(x, y, 16, step_deg=360.0, max_shift_px=1) for x, y in zip(a, b)]
    assert np.all(np.asarray(ncc)[used] > 0.95), ncc


def _model(root, stem):
    return read_star(root / f"Class2D/ours/{stem}_it011_model.star")


def _close(ours, theirs, rtol, what):
    ours, theirs = np.asarray(ours, float), np.asarray(theirs, float)
    np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=1e-12, err_msg=what)


def test_one_iteration_model_numbers_equal_relions(continued):
    """After one iteration from the same model, the M-step numbers are RELION's, within:
    class distribution 1e-3 (absolute), σ² per group and shell 2e-3, τ² per shell 1e-4,
    SSNR = T·τ²·Σw·CTF²/σ² per shell (the τ2_fudge T at work) 2 % median and 15 % worst
    below the last shell (our reference sums are unpadded: the low shells differ most),
    group scales 1e-3, average norm correction 2e-3 (each particle's: 1e-3 median), σ of
    the offsets 1e-3, class prior offsets 0.01 Å, Pmax 0.005, log-likelihood 0.5 % (ours is
    ~8 lower per particle of ~2700: a constant, see README) and the estimated resolutions."""
    root, _ = continued
    ours, theirs = _model(root, "run_cc010"), _model(root, "run_ct010")
    go, gt = ours["model_general"].iloc[0], theirs["model_general"].iloc[0]
    for label, rtol in (("rlnNormCorrectionAverage", 2e-3), ("rlnSigmaOffsetsAngst", 1e-3),
                        ("rlnLogLikelihood", 5e-3)):
        _close(go[label], gt[label], rtol, label)
    assert abs(go["rlnAveragePmax"] - gt["rlnAveragePmax"]) < 0.005
    assert go["rlnCurrentImageSize"] == gt["rlnCurrentImageSize"]
    co, ct = ours["model_classes"], theirs["model_classes"]
    np.testing.assert_allclose(co["rlnClassDistribution"], ct["rlnClassDistribution"], atol=1e-3)
    for label in ("rlnClassPriorOffsetX", "rlnClassPriorOffsetY"):
        np.testing.assert_allclose(co[label], ct[label], atol=0.01, err_msg=label)
    _close(co["rlnEstimatedResolution"], ct["rlnEstimatedResolution"], 1e-6, "resolution")
    _close(ours["model_groups"]["rlnGroupScaleCorrection"],
           theirs["model_groups"]["rlnGroupScaleCorrection"], 1e-3, "scale")
    for g in range(1, len(ours["model_groups"]) + 1):
        _close(ours[f"model_group_{g}"]["rlnSigma2Noise"],
               theirs[f"model_group_{g}"]["rlnSigma2Noise"], 2e-3, f"sigma2 group {g}")
    last = int(go["rlnCurrentImageSize"]) // 2
    for k in range(1, 5):
        o, t = ours[f"model_class_{k}"], theirs[f"model_class_{k}"]
        _close(o["rlnReferenceTau2"], t["rlnReferenceTau2"], 1e-4, f"tau2 class {k}")
        ssnr_o, ssnr_t = o["rlnSsnrMap"].to_numpy()[1:last], t["rlnSsnrMap"].to_numpy()[1:last]
        relative = np.abs(ssnr_o - ssnr_t) / ssnr_t
        assert np.median(relative) < 0.02 and relative.max() < 0.15, (k, relative)
    data_o = read_star(root / "Class2D/ours/run_cc010_it011_data.star")["particles"]
    data_t = read_star(root / "Class2D/ours/run_ct010_it011_data.star")["particles"]
    data_t = data_t.set_index("rlnImageName").loc[data_o["rlnImageName"]]
    norm_diff = np.abs(data_o["rlnNormCorrection"].to_numpy()
                       - data_t["rlnNormCorrection"].to_numpy())
    assert np.median(norm_diff) < 1e-3


def test_accuracy_estimates_equal_relions(continued):
    """rlnAccuracyRotations and rlnAccuracyTranslationsAngst: our estimator on RELION's sample
    (a continued run is a new process: its order is shuffled with seed + 11) gives RELION's
    numbers to one step of the error schedule for one particle in ten (0.25° and 0.25 Å);
    our own run (the uninterrupted order: another ten particles) to 1° and 0.5 Å."""
    root, _ = continued
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        _, model, state, _ = read_state("Class2D/ours/run_it010_optimiser.star")
        particles = read_particles(STAR, need_ctf=True)
    sample = particle_order(particles.n, 1, 11, 4, False, first_iteration=11)[:10]
    rot, trans = class_accuracies(model.refs, model.pdf_class, model.sigma2, sample,
                                  state.psi_deg, particles.group, particles.ctf,
                                  coefficient_list(particles.box_px), model.current_size,
                                  particles.pixel_a, 1, get_backend("numpy"))
    theirs = _model(root, "run_ct010")["model_classes"]
    np.testing.assert_allclose(rot, theirs["rlnAccuracyRotations"], atol=0.25)
    np.testing.assert_allclose(trans, theirs["rlnAccuracyTranslationsAngst"], atol=0.25)
    ours = _model(root, "run_cc010")["model_classes"]
    np.testing.assert_allclose(ours["rlnAccuracyRotations"], theirs["rlnAccuracyRotations"],
                               atol=1.0)
    np.testing.assert_allclose(ours["rlnAccuracyTranslationsAngst"],
                               theirs["rlnAccuracyTranslationsAngst"], atol=0.5)


def test_relion_refine_starts_from_our_data_star(project):
    root, _ = project
    _relion(root, "--i", "Class2D/ours/run_it010_data.star", "--o", "Class2D/relion/fromours",
            "--iter", "1", "--j", "1", "--random_seed", "1", *FLAGS)
    data = read_star(root / "Class2D/relion/fromours_it001_data.star")["particles"]
    assert len(data) == 150 and set(data["rlnClassNumber"]) <= {1, 2, 3, 4}


def _quality(root, stem, truth) -> tuple[float, float]:
    """Distribution-weighted best NCC with the true shapes, and class purity."""
    model = read_star(root / f"{stem}_model.star")["model_classes"]
    data = read_star(root / f"{stem}_data.star")["particles"]
    averages = read_image_stack(root / f"{stem}_classes.mrcs")
    ncc = class_quality(averages, model["rlnClassDistribution"].to_numpy(), truth.shapes,
                        radius_px=16).weighted_mean
    names = read_star(root / STAR)["particles"]["rlnImageName"]
    labels = dict(zip(names, truth.labels))
    true = np.array([labels[name] for name in data["rlnImageName"]])
    return ncc, purity(data["rlnClassNumber"].to_numpy(), true)


def test_class_averages_are_as_good_as_relions(project):
    """Mean over two seeds: the distribution-weighted best NCC with the true shapes (within
    0.02 of RELION's or better), and the purity of the classes (particles of a class share
    a true view as often as in RELION's classes, within 0.02)."""
    root, truth = project
    ours, theirs = [], []
    for seed in (1, 2):
        _relion(root, "--i", STAR, "--o", f"Class2D/relion/s{seed}", "--iter", "12", "--j", "2",
                "--random_seed", str(seed), *FLAGS)
        theirs.append(_quality(root, f"Class2D/relion/s{seed}_it012", truth))
        with pytest.MonkeyPatch.context() as mp:
            mp.chdir(root)
            run_class2d(Class2DJob(f"Class2D/ours/s{seed}", _params(12, seed),
                                   particles_star=STAR))
        ours.append(_quality(root, f"Class2D/ours/s{seed}_it012", truth))
    (ncc_ours, purity_ours), (ncc_theirs, purity_theirs) = np.mean(ours, 0), np.mean(theirs, 0)
    print(f"NCC {ncc_ours:.3f} vs RELION {ncc_theirs:.3f}; purity {purity_ours:.3f} vs "
          f"{purity_theirs:.3f}")
    assert ncc_ours >= ncc_theirs - 0.02, (ours, theirs)
    assert purity_ours >= purity_theirs - 0.02, (ours, theirs)
