"""CPU and GPU agree: every stage on another backend against NumPy, within stated tolerances.

The tolerances below are the ones the README promises. Where no CUDA device is present the
CuPy rows skip, and the strict stand-in (NumPy underneath, refusing host round-trips) runs
the same comparisons, so a backend-generic mistake still fails.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from support import make_blob_micrograph, needs_gpu

from cryopick.backend import get_backend
from cryopick.classification import Class2DJob, Class2DParams, run_class2d
from cryopick.classification.synthetic import write_synthetic_particles
from cryopick.extraction.job import extract_micrograph
from cryopick.extraction.params import ExtractParams
from cryopick.io.mrc import read_image_stack, write_mrc
from cryopick.io.star import read_star
from cryopick.picking.log import LogPickParams, pick_log
from cryopick.picking.references import prepare_templates
from cryopick.picking.template import TemplatePickParams, compute_fom_maps, prepare_rotations
from cryopick.picking.working_size import working_size

# The promised agreement with NumPy (README, "GPU"):
LOG_FOM_RTOL = 1e-4  # LoG: same picks (within one working pixel), FOM to 1e-4 relative
EXTRACT_ATOL = 1e-4  # extraction: normalised particles (background σ = 1) to 1e-4
TEMPLATE_FOM_RTOL, TEMPLATE_FOM_ATOL = 1e-4, 1e-5  # template picking: every FOM map
CLASS_ATOL = 1e-3  # 2D classification, 3 iterations: averages to 1e-3 × their largest value,
CLASS_SAME = 0.98  # and at least 98 % of particles in the same class

OTHER = ["strict", pytest.param("cupy", marks=needs_gpu)]
PIXEL_A = 2.0


@pytest.fixture(scope="module")
def micrograph(tmp_path_factory):
    image, centres = make_blob_micrograph()
    path = tmp_path_factory.mktemp("agree") / "mic.mrc"
    write_mrc(path, image, PIXEL_A)
    return path, image, centres


@pytest.mark.parametrize("name", OTHER)
def test_log_picks_agree(micrograph, name):
    _, image, _ = micrograph
    params = LogPickParams(diameter_min_a=110, diameter_max_a=140, lowpass_a=20, shrink=0)
    ref = pick_log(image, PIXEL_A, params, get_backend("numpy"), 1)
    other = pick_log(image, PIXEL_A, params, get_backend(name), 1)
    xy = ["rlnCoordinateX", "rlnCoordinateY"]
    assert len(other.picks) == len(ref.picks)
    np.testing.assert_allclose(other.picks[xy].to_numpy(), ref.picks[xy].to_numpy(),
                               atol=1.0 / ref.scale)
    np.testing.assert_allclose(other.picks["rlnAutopickFigureOfMerit"],
                               ref.picks["rlnAutopickFigureOfMerit"], rtol=LOG_FOM_RTOL)


@pytest.mark.parametrize("name", OTHER)
def test_extracted_particles_agree(micrograph, name):
    path, _, centres = micrograph
    params = ExtractParams(box_size_px=128, rescaled_size_px=64, normalise=True,
                           bg_radius_px=24, white_dust=5.0, black_dust=5.0,
                           invert_contrast=True)
    ref = extract_micrograph(path, centres[:, 1], centres[:, 0], params, "numpy")
    other = extract_micrograph(path, centres[:, 1], centres[:, 0], params, name)
    assert other.shape == ref.shape == (len(centres), 64, 64)
    np.testing.assert_allclose(other, ref, atol=EXTRACT_ATOL)


@pytest.mark.parametrize("name", OTHER)
def test_template_fom_maps_agree(micrograph, tmp_path, name):
    _, image, _ = micrograph
    yy, xx = np.mgrid[:64, :64] - 32
    refs = np.stack([np.exp(-(yy**2 + xx**2) / (2 * 20.0**2)),
                     np.exp(-((yy - 6) ** 2 + xx**2 / 4) / (2 * 12.0**2))]).astype(np.float32)
    write_mrc(tmp_path / "refs.mrcs", refs, PIXEL_A, stack=True)
    params = TemplatePickParams(lowpass_a=20, angular_sampling_deg=10, shrink=0, threshold=0.3,
                                min_distance_a=60)
    templates = prepare_templates(str(tmp_path / "refs.mrcs"), PIXEL_A, invert=True)
    size = working_size(image.shape[1], image.shape[0], PIXEL_A, 20, 0)

    def maps(bk):
        return compute_fom_maps(image, PIXEL_A, None, templates,
                                prepare_rotations(templates, size, params, bk), params, bk,
                                seed=1)

    ref, other = maps(get_backend("numpy")), maps(get_backend(name))
    for a, b in zip(ref.fom, other.fom):
        np.testing.assert_allclose(b, a, rtol=TEMPLATE_FOM_RTOL, atol=TEMPLATE_FOM_ATOL)


@pytest.mark.parametrize("name", OTHER)
def test_class2d_agrees(tmp_path, monkeypatch, name):
    write_synthetic_particles(tmp_path, n_particles=60, n_shapes=2, box_px=32,
                              pixel_size_a=3.0, snr=1.0, seed=4)
    monkeypatch.chdir(tmp_path)
    params = Class2DParams(n_classes=2, n_iter=3, tau2_fudge=2.0, particle_diameter_a=80.0,
                           zero_mask=True, ctf=True, psi_step_deg=12.0, offset_range_px=3.0,
                           offset_step_px=2.0, random_seed=1, preread_images=True)
    for root, backend in (("ref/run", "numpy"), ("other/run", name)):
        run_class2d(Class2DJob(output_root=root, params=dataclasses.replace(params),
                               particles_star="Extract/job007/particles.star", backend=backend))
    ref, other = (read_image_stack(f"{d}/run_it003_classes.mrcs") for d in ("ref", "other"))
    np.testing.assert_allclose(other, ref, atol=CLASS_ATOL * np.abs(ref).max())
    classes = [read_star(f"{d}/run_it003_data.star")["particles"]["rlnClassNumber"].to_numpy()
               for d in ("ref", "other")]
    assert np.mean(classes[0] == classes[1]) >= CLASS_SAME
