"""E-step of RELION's 2D classification for a batch of particles (relion-facts §4.4–§4.6).

For every particle the score of each hidden sample (class k, in-plane angle ψ, translation t)
is ``D = Σ_f |X_t(f) − s·CTF(f)·P_kψ(f)|² / (2σ²(f))`` over the independent coefficients
(origin excluded). Expanded, ``D = ‖X‖²/2σ² + Σ s²CTF²|P|²/2σ² − Re Σ X_t·s·CTF·conj(P)/σ²``:
the last term for all coarse samples is one real matrix product of the phase-shifted,
CTF- and σ-weighted images ``(B·T, 2m)`` with the projections ``(2m, K·Ψ)``.

Pass 1 scores all coarse samples at the coarse image size; the smallest set of samples
holding ``adaptive_fraction`` of each particle's weight is significant; pass 2 scores only
their oversampled children (2 ψ × 4 t) at the fine size, as gathered batched products. The
weights of pass 2 (again pruned to ``adaptive_fraction``) drive the M-step sums, which are
accumulated in the image frame per (class, fine ψ) "bucket" and rotated into the reference
frame once per iteration (:mod:`cryopick.classification.reconstruct`).

Here: the preparation of a batch and pass 1. The records the passes share are in
:mod:`.estep_setup`, the significant set in :mod:`.estep_prune`, pass 2 in
:mod:`.estep_dense` (products over all children, for many significant samples) and
:mod:`.estep_gathered` (only the significant samples' children).
"""

from __future__ import annotations

import math

import numpy as np

from cryopick.backend import Array
from cryopick.classification.estep_dense import dense_children, live_pairs, prefer_dense
from cryopick.classification.estep_gathered import gathered_children
from cryopick.classification.estep_prune import coarse_threshold, significant_list
from cryopick.classification.estep_setup import Accumulator, Batch, BatchOutcome, EStepSetup, \
    Prepared, offset_distance2
from cryopick.classification.kernels import abs2, ctf_list, images_to_list, mask_images, \
    shift_images_integer, to_real_pairs
from cryopick.fourier import relion_round_array

__all__ = ["expect_batch"]


def expect_batch(setup: EStepSetup, batch: Batch, acc: Accumulator) -> BatchOutcome:
    """Score, weigh and accumulate one batch; returns its per-particle results."""
    prep = _prepare(setup, batch)
    logw1, logprior = _pass1(setup, prep)
    w1, threshold, n_sig = coarse_threshold(setup, logw1)
    live = live_pairs(setup, w1, threshold)
    if prefer_dense(setup, int(setup.bk.xp.sum(n_sig)), batch.images.shape[0],
                    int(setup.bk.xp.count_nonzero(live))):
        outcome = dense_children(setup, prep, w1, logprior, threshold, live, acc)
    else:
        rows, cols = significant_list(setup, w1, threshold)
        outcome = gathered_children(setup, prep, logprior, rows, cols, acc)
    outcome.n_significant = setup.bk.to_numpy(n_sig).astype(np.int64)
    return outcome


def _prepare(setup: EStepSetup, batch: Batch) -> Prepared:
    """Normalise, shift by the rounded previous offset, mask, transform; CTF and σ² (§4.4)."""
    bk, xp = setup.bk, setup.bk.xp
    factor = (setup.avg_norm / batch.norm_correction).astype(np.float32)
    offset_int = relion_round_array(batch.offset_px).astype(np.int64)
    images = bk.asarray(batch.images * factor[:, None, None])
    shifted = shift_images_integer(images, bk.asarray(offset_int))
    background = _background(setup, batch, shifted)
    masked = mask_images(shifted, setup.edge, background)
    xm = images_to_list(masked, setup.coeffs, setup.m_full)
    xu = images_to_list(shifted, setup.coeffs, setup.m_cur)
    ctf = _ctf(setup, batch)
    sig = xp.take(xp.take(setup.sigma2, bk.asarray(batch.group), axis=0),
                  bk.asarray(setup.coeffs.shell), axis=1)
    inv = 1.0 / sig
    not_origin = np.ones(setup.m_fine, np.float32)
    not_origin[0] = 0.0
    inv_e = inv[:, :setup.m_fine] * bk.asarray(not_origin)
    s = bk.asarray(setup.scale[batch.group].astype(np.float32)[:, None])
    sc = s * ctf
    return Prepared(
        xm=xm, y=sc[:, :setup.m_fine] * xm[:, :setup.m_fine] * inv_e,
        cs=0.5 * sc[:, :setup.m_fine] ** 2 * inv_e,
        a=0.5 * xp.sum(abs2(xm[:, :setup.m_fine]) * inv_e, axis=1),
        yu=sc * xu * inv[:, :setup.m_cur], c2u=sc**2 * inv[:, :setup.m_cur], ctf=ctf, s=s,
        logdet=xp.sum(xp.log(2.0 * math.pi * sig[:, 1:setup.m_fine]), axis=1),
        offset_int=bk.asarray(offset_int))


def _background(setup: EStepSetup, batch: Batch, shifted: Array) -> Array:
    """Mask background: the edge-weighted mean outside (``--zero_mask``) or σ²-coloured noise."""
    bk, xp = setup.bk, setup.bk.xp
    if setup.params.zero_mask:
        total = xp.sum(setup.edge)
        return xp.sum(shifted * setup.edge, axis=(1, 2))[:, None, None] / total
    n = setup.coeffs.n
    sigma2 = bk.to_numpy(setup.sigma2)
    noise = np.empty((len(batch.indices), n, n), np.float32)
    ky = np.fft.fftfreq(n, 1.0 / n)
    kx = np.arange(n // 2 + 1)
    shell = np.minimum(np.floor(np.sqrt(ky[:, None] ** 2 + kx[None, :] ** 2) + 0.5),
                       n // 2).astype(int)
    for j, index in enumerate(batch.indices):
        rng = np.random.default_rng([max(setup.params.random_seed, 0), setup.iteration,
                                     int(index)])
        std = np.sqrt(sigma2[batch.group[j]][shell])
        f = (rng.normal(size=shell.shape) + 1j * rng.normal(size=shell.shape)) * std
        noise[j] = np.fft.fftshift(np.fft.irfft2(f, s=(n, n))) * n * n
    return bk.asarray(noise)


def _ctf(setup: EStepSetup, batch: Batch) -> Array:
    bk, xp = setup.bk, setup.bk.xp
    if batch.ctf is None:
        return xp.ones((len(batch.indices), setup.m_cur), dtype=xp.float32, **bk.device_kw)
    return ctf_list(**batch.ctf, coeffs=setup.coeffs, m=setup.m_cur, pixel_a=setup.pixel_a,
                    bk=bk, intact_first_peak=setup.params.ctf_intact_first_peak)


def _pass1(setup: EStepSetup, prep: Prepared) -> tuple[Array, Array]:
    """Log-weights ``(B, Tc·K·Ψc)`` of all coarse samples (index ``(t·K + k)·Ψc + ψ``).

    Also returns the log prior ``(B, Tc, K)`` (class fraction × offset prior at the coarse
    translation), reused for the children in pass 2.
    """
    xp = setup.bk.xp
    mc, k = setup.m_coarse, setup.n_classes
    b, tc = prep.y.shape[0], setup.phi_c.shape[0]
    shifted = prep.y[:, None, :mc] * setup.phi_c[None, :, :]
    cross = xp.matmul(xp.reshape(to_real_pairs(shifted), (b * tc, 2 * mc)), setup.p1)
    norm = xp.matmul(prep.cs[:, :mc], setup.p1_sq)
    score = norm[:, None, :] - xp.reshape(cross, (b, tc, norm.shape[1]))
    logprior = _log_prior(setup, prep.offset_int)
    n_psi = norm.shape[1] // k
    logw = logprior[:, :, :, None] - xp.reshape(score, (b, tc, k, n_psi))
    return xp.reshape(logw, (b, tc * k * n_psi)), logprior


def _log_prior(setup: EStepSetup, offset_int: Array) -> Array:
    """``ln π_k + ln N(d; σ_off)`` for all particles, coarse t and classes ``(B, Tc, K)``."""
    bk, xp = setup.bk, setup.bk.xp
    trans = bk.asarray(setup.sampling.trans_coarse_px.astype(np.float32))
    d2 = offset_distance2(setup, xp.astype(offset_int, xp.float32)[:, None, None, :],
                          trans[None, :, None, :], setup.prior_offset_px[None, None, :, :])
    var = (setup.sigma_offset_px * setup.pixel_a) ** 2
    log_off = -d2 / (2.0 * var) - math.log(2.0 * math.pi * var)
    return log_off + setup.log_pdf[None, None, :]


