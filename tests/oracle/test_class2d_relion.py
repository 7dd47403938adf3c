"""2D classification against the real relion_refine: RELION reads and continues our runs, and
our class averages are as good as RELION's on the same particles."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest

from cryopick.classification import Class2DJob, Class2DParams, run_class2d
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


def _params(n_iter: int, seed: int) -> Class2DParams:
    return Class2DParams(n_classes=4, n_iter=n_iter, tau2_fudge=2.0, particle_diameter_a=100.0,
                         zero_mask=True, ctf=True, psi_step_deg=12.0, offset_range_px=3.0,
                         offset_step_px=2.0, flatten_solvent=True, norm=True, scale=True,
                         random_seed=seed, preread_images=True)


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """150 CTF-affected particles of 40 px from 3 shapes, and a 10-iteration cryopick run.

    Ten iterations: from RELION's initial references (only the lowest frequencies) the first
    iterations keep the assignments nearly uniform (Pmax ≈ 0.002 after three), so the best
    class and angle of a particle are only well defined later (Pmax ≈ 0.4 after six)."""
    root = tmp_path_factory.mktemp("class2d_oracle")
    truth = write_synthetic_particles(root, n_particles=150, n_shapes=3, box_px=40,
                                      pixel_size_a=3.0, snr=0.5, seed=3)
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        run_class2d(Class2DJob("Class2D/ours/run", _params(10, 1), particles_star=STAR))
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


def test_relion_continues_our_run_and_agrees_with_our_next_iteration(project):
    root, _ = project
    _relion(root, "--continue", "Class2D/ours/run_it010_optimiser.star", "--o",
            "Class2D/ours/run_ct010", "--iter", "11", "--j", "1")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        run_class2d(Class2DJob("Class2D/ours/run_cc010", _params(11, 1),
                               continue_from="Class2D/ours/run_it010_optimiser.star"))
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
