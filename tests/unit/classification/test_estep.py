"""The E-step against a brute-force evaluation of RELION's weights on a tiny case."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from cryopick.classification import estep, estep_dense
from cryopick.classification.estep import _prepare, expect_batch
from cryopick.classification.estep_setup import Accumulator, Batch, make_setup
from cryopick.classification.kernels import coefficient_list
from cryopick.classification.model import Model
from cryopick.classification.params import Class2DParams
from cryopick.classification.sampling import make_sampling
from cryopick.classification.synthetic import blob_shapes, render_shape

N, PIXEL, K = 24, 4.0, 2


def _model(refs: np.ndarray) -> Model:
    shells = N // 2 + 1
    return Model(refs=refs, unmasked_refs=refs, pdf_class=np.array([0.6, 0.4]),
                 prior_offset_px=np.array([[0.3, -0.2], [0.0, 0.5]]), sigma_offset_px=1.5,
                 sigma2=np.full((2, shells), 2e-4) * np.array([[1.0], [1.5]]),
                 scale=np.array([1.0, 0.9]), avg_norm=1.0, current_size=N, resolution_shell=6,
                 tau2=np.zeros((K, shells)), ssnr=np.zeros((K, shells)),
                 ref_sigma2=np.zeros((K, shells)), completeness=np.zeros((K, shells)),
                 resolution_a=np.full(K, 20.0))


def _case(fraction: float):
    blobs = blob_shapes(K, N, 0.35 * N, seed=4)
    refs = np.stack([render_shape(b, N) for b in blobs])
    rng = np.random.default_rng(1)
    images = np.stack([render_shape(blobs[i % K], N, 40.0 * i, (0.5, -1.0)) for i in range(4)])
    images = (images + rng.normal(0, 0.3, images.shape)).astype(np.float32)
    params = Class2DParams(n_classes=K, psi_step_deg=90.0, offset_range_px=1.0,
                           offset_step_px=1.0, particle_diameter_a=80.0, zero_mask=True,
                           ctf=True, adaptive_fraction=fraction)
    ctf = {"defocus_u_a": np.full(4, 12000.0), "defocus_v_a": np.full(4, 11500.0),
               "angle_deg": np.full(4, 20.0), "voltage_kv": np.full(4, 300.0), "cs_mm": np.full(4, 2.7),
               "q0": np.full(4, 0.1), "phase_deg": np.zeros(4), "bfactor_a2": np.zeros(4),
               "scale": np.ones(4)}
    batch = Batch(np.arange(4), images, np.array([0, 1, 0, 1]), ctf,
                  np.array([[0.4, 0.0], [-1.2, 0.6], [0.0, 0.0], [2.0, -1.0]]), np.ones(4))
    sampling = make_sampling(90.0, 1.0, 1.0, 1, 0.2)
    return _model(refs), params, batch, sampling


def _brute_force(setup, prep, bk):
    """Weights over every fine sample by direct summation (the formula of relion-facts §4.6)."""
    xm, ctf = bk.to_numpy(prep.xm), bk.to_numpy(prep.ctf)
    s = bk.to_numpy(prep.s)[:, 0]
    p2 = bk.to_numpy(setup.p2)
    phi = bk.to_numpy(setup.phi_f)
    sigma2 = bk.to_numpy(setup.sigma2)
    coeffs, mf = setup.coeffs, setup.m_fine
    sampling = setup.sampling
    offsets = bk.to_numpy(prep.offset_int).astype(float)
    prior_off = bk.to_numpy(setup.prior_offset_px)
    pdf = np.exp(bk.to_numpy(setup.log_pdf))
    out = []
    for i, group in enumerate([0, 1, 0, 1]):
        sig = sigma2[group][coeffs.shell[1:mf]]
        logw = {}
        for tf, t in enumerate(sampling.trans_fine_px):
            tc = tf // sampling.n_trans_child
            for k in range(K):
                # RELION's unit mix: previous offset in px, translation and prior in Å
                d = offsets[i] + (sampling.trans_coarse_px[tc] - prior_off[k]) * PIXEL
                d2 = d @ d * PIXEL**2
                var = (setup.sigma_offset_px * PIXEL) ** 2
                prior = np.log(pdf[k]) - d2 / (2 * var) - np.log(2 * np.pi * var)
                for pf in range(setup.n_psi_fine):
                    model = s[i] * ctf[i, 1:mf] * p2[k * setup.n_psi_fine + pf, 1:mf]
                    diff = xm[i, 1:mf] * phi[tf, 1:mf] - model
                    logw[(tf, k, pf)] = prior - np.sum(np.abs(diff) ** 2 / (2 * sig))
        keys = list(logw)
        values = np.array([logw[key] for key in keys])
        top = values.max()
        w = np.exp(values - top)
        ll = top + np.log(w.sum()) - np.sum(np.log(2 * np.pi * sig))
        out.append((keys, w / w.sum(), ll))
    return out


def test_weights_best_samples_and_class_sums_match_brute_force(backend):
    model, params, batch, sampling = _case(fraction=1.0)
    setup = make_setup(model, params, sampling, (N, N, N), coefficient_list(N), PIXEL, 1,
                       backend)
    acc = Accumulator(setup)
    outcome = expect_batch(setup, batch, acc)
    truth = _brute_force(setup, _prepare(setup, batch), backend)
    class_weight = np.zeros(K)
    for i, (keys, w, ll) in enumerate(truth):
        best = keys[int(np.argmax(w))]
        assert outcome.class_index[i] == best[1]
        assert outcome.psi_deg[i] == pytest.approx(sampling.psi_fine_deg[best[2]])
        assert outcome.max_prob[i] == pytest.approx(w.max(), rel=2e-3)
        assert outcome.log_likelihood[i] == pytest.approx(ll, rel=1e-4)
        for key, value in zip(keys, w):
            class_weight[key[1]] += value
    np.testing.assert_allclose(acc.class_weight, class_weight, rtol=1e-3, atol=1e-6)


@pytest.mark.parametrize("fraction", [0.999, 0.9])
@pytest.mark.parametrize("compact", [False, True])
def test_dense_and_gathered_pass_two_agree(backend, monkeypatch, fraction, compact):
    """The gathered path against the dense one: the dense one with its whole products, or
    (``compact``) with the cross term of the live (particle, translation) rows only and the
    M-step sums as sparse products of the pruned weights."""
    model, params, batch, sampling = _case(fraction)
    share = 1.0 if compact else 0.0
    monkeypatch.setattr(estep_dense, "_LIVE_SHARE", share)
    monkeypatch.setattr(estep_dense, "_SPARSE_SHARE", {backend.name: share})
    results = []
    for dense in (False, True):
        # estep imports prefer_dense by name: patch the name it calls
        monkeypatch.setattr(estep, "prefer_dense", lambda *a, d=dense: d)
        setup = make_setup(model, params, sampling, (12, N, N), coefficient_list(N), PIXEL, 1,
                           backend)
        acc = Accumulator(setup)
        outcome = expect_batch(setup, dataclasses.replace(batch), acc)
        results.append((outcome, acc.class_weight.copy(), backend.to_numpy(acc.buckets),
                        acc.offset_sum.copy()))
    (a, wa, ba, oa), (b, wb, bb, ob) = results
    np.testing.assert_array_equal(a.class_index, b.class_index)
    tol = 1e-4  # both paths prune the pass-2 weights to the fraction
    np.testing.assert_allclose(a.max_prob, b.max_prob, rtol=tol)
    np.testing.assert_allclose(a.log_likelihood, b.log_likelihood, rtol=1e-5)
    np.testing.assert_allclose(wa, wb, rtol=tol, atol=1e-6)
    m2 = 2 * (ba.shape[1] // 3)  # the buckets' Num (re, im) and Den columns, each at its scale
    for part in (slice(0, m2), slice(m2, None)):
        np.testing.assert_allclose(ba[:, part], bb[:, part], rtol=1e-3,
                                   atol=2e-3 * np.abs(ba[:, part]).max())
    np.testing.assert_allclose(a.resid_shells, b.resid_shells, rtol=2e-3)
    np.testing.assert_allclose(a.norm_energy, b.norm_energy, rtol=2e-3)
    np.testing.assert_allclose(oa, ob, rtol=tol, atol=1e-5)


def test_fewer_samples_are_significant_with_a_lower_fraction():
    from cryopick.backend import get_backend

    counts = []
    for fraction in (0.999, 0.5):
        model, params, batch, sampling = _case(fraction)
        setup = make_setup(model, params, sampling, (12, N, N), coefficient_list(N), PIXEL, 1,
                           get_backend("numpy"))
        counts.append(expect_batch(setup, batch, Accumulator(setup)).n_significant)
    assert np.all(counts[1] <= counts[0]) and np.all(counts[1] >= 1)

