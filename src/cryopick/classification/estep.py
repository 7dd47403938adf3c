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
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from cryopick.backend import Array, Backend
from cryopick.classification.kernels import (
    CoefficientList,
    abs2,
    ctf_list,
    images_to_list,
    make_complex,
    mask_images,
    projection_table,
    rotated_projections,
    shift_images_integer,
    shift_phases,
    soft_edge,
    to_real_pairs,
)
from cryopick.classification.model import Model
from cryopick.classification.params import Class2DParams
from cryopick.classification.sampling import Sampling

__all__ = ["Accumulator", "Batch", "BatchOutcome", "EStepSetup", "expect_batch", "make_setup",
           "offset_distance2", "offset_residual2", "relion_round_array"]

_CHUNK_ELEMENTS = 4_000_000  # complex elements per gathered block in pass 2 and accumulation


def relion_round_array(x: np.ndarray) -> np.ndarray:
    """RELION's ROUND (half away from zero), element-wise."""
    return np.sign(x) * np.floor(np.abs(x) + 0.5)


def _dev(bk: Backend) -> dict:
    return {"device": bk.device} if bk.device is not None else {}


@dataclasses.dataclass(eq=False)
class EStepSetup:
    """What one iteration's E-step needs, on the device (built once per iteration)."""

    bk: Backend
    params: Class2DParams
    iteration: int
    coeffs: CoefficientList
    m_coarse: int
    m_fine: int
    m_cur: int
    sampling: Sampling
    n_classes: int
    pixel_a: float
    p1: Array  # (2·Mc, K·Ψc) real pairs of coarse projections
    p1_sq: Array  # (Mc, K·Ψc) |P|²
    p2: Array  # (K·Ψf, m_cur) complex fine projections
    p2_sq: Array  # (K·Ψf, m_cur)
    phi_c: Array  # (Tc, Mc) complex coarse phase ramps
    phi_f: Array  # (Tf, m_cur)
    log_pdf: Array  # (K,)
    prior_offset_px: Array  # (K, 2)
    sigma_offset_px: float
    sigma2: Array  # (G, n//2+1)
    shell_onehot: Array  # (M_full, n//2+1)
    edge: Array  # (n, n) mask edge weights
    scale: np.ndarray  # (G,) host
    avg_norm: float
    ssnr_mask: Array  # (K, m_cur) 1 where the class SSNR > 3 (for --scale)

    @property
    def m_full(self) -> int:
        return len(self.coeffs.flat)

    @property
    def n_psi_fine(self) -> int:
        return len(self.sampling.psi_fine_deg)


def make_setup(model: Model, params: Class2DParams, sampling: Sampling, sizes: tuple[int, int, int],
               coeffs: CoefficientList, pixel_a: float, iteration: int, bk: Backend) -> EStepSetup:
    """Move the model to the device and precompute projections and phase ramps.

    ``sizes`` = (coarse, fine, current) image sizes in pixels (pass 1, pass 2, M-step).
    """
    xp = bk.xp
    k = model.n_classes
    m_coarse, m_fine, m_cur = (coeffs.count_window(s) for s in sizes)
    table = projection_table(bk.asarray(model.refs.astype(np.float32)))
    p_c = rotated_projections(table, sampling.psi_coarse_deg, coeffs, m_coarse)
    n_pc = p_c.shape[1]
    p1 = xp.reshape(to_real_pairs(p_c), (k * n_pc, 2 * m_coarse)).T
    p1_sq = xp.reshape(abs2(p_c), (k * n_pc, m_coarse)).T
    p_f = rotated_projections(table, sampling.psi_fine_deg, coeffs, m_cur)
    p2 = xp.reshape(p_f, (k * p_f.shape[1], m_cur))
    radius = params.particle_diameter_a / (2.0 * pixel_a)
    onehot = np.zeros((len(coeffs.flat), coeffs.n_shells), np.float32)
    onehot[np.arange(len(coeffs.flat)), coeffs.shell] = 1.0
    ssnr_mask = (model.ssnr[:, coeffs.shell[:m_cur]] > 3.0).astype(np.float32)
    with np.errstate(divide="ignore"):
        log_pdf = np.log(np.maximum(model.pdf_class, 1e-300))
    return EStepSetup(
        bk=bk, params=params, iteration=iteration, coeffs=coeffs, m_coarse=m_coarse,
        m_fine=m_fine, m_cur=m_cur, sampling=sampling, n_classes=k, pixel_a=pixel_a,
        p1=p1, p1_sq=p1_sq, p2=p2, p2_sq=abs2(p2),
        phi_c=shift_phases(sampling.trans_coarse_px, coeffs, m_coarse, bk),
        phi_f=shift_phases(sampling.trans_fine_px, coeffs, m_cur, bk),
        log_pdf=bk.asarray(log_pdf.astype(np.float32)),
        prior_offset_px=bk.asarray(model.prior_offset_px.astype(np.float32)),
        sigma_offset_px=float(model.sigma_offset_px),
        sigma2=bk.asarray(model.sigma2.astype(np.float32)),
        shell_onehot=bk.asarray(onehot),
        edge=bk.asarray(soft_edge(coeffs.n, radius, params.mask_edge_px)),
        scale=model.scale, avg_norm=float(model.avg_norm), ssnr_mask=bk.asarray(ssnr_mask))


@dataclasses.dataclass
class Batch:
    """Host data of ``B`` particles: images, groups, CTF parameters, previous offsets and norms."""

    indices: np.ndarray  # (B,) particle indices (for per-particle random numbers)
    images: np.ndarray  # (B, n, n) float32
    group: np.ndarray  # (B,) int, 0-based
    ctf: dict[str, np.ndarray] | None  # (B,) arrays, see ctf_list
    offset_px: np.ndarray  # (B, 2) previous (y, x) offsets
    norm_correction: np.ndarray  # (B,)


@dataclasses.dataclass
class BatchOutcome:
    """Per-particle results of a batch (host arrays, ``(B,)`` unless noted)."""

    class_index: np.ndarray
    psi_deg: np.ndarray
    offset_px: np.ndarray  # (B, 2)
    max_prob: np.ndarray
    n_significant: np.ndarray
    log_likelihood: np.ndarray
    norm_energy: np.ndarray  # weighted residual power (for --norm)
    resid_shells: np.ndarray  # (B, n//2+1) residual power per shell (for σ²)
    scale_xa: np.ndarray  # Σ w·CTF·Re(X·conj(P)) over shells with SSNR > 3 (for --scale)
    scale_aa: np.ndarray  # Σ w·CTF²·|P|² over those shells


class Accumulator:
    """M-step sums of one iteration: image-frame buckets on the device, class sums on the host.

    ``buckets`` is ``(K·Ψf, 3·m_cur)``: real and imaginary parts of ``Σ w·s·CTF·X_t/σ²`` and
    ``Σ w·s²·CTF²/σ²`` for each (class, fine ψ).
    """

    def __init__(self, setup: EStepSetup) -> None:
        xp = setup.bk.xp
        k = setup.n_classes
        self.buckets = xp.zeros((k * setup.n_psi_fine, 3 * setup.m_cur), dtype=xp.float32,
                                **_dev(setup.bk))
        self.class_weight = np.zeros(k)
        self.offset_sum = np.zeros((k, 2))
        self.sigma_offset_sum = 0.0


@dataclasses.dataclass(eq=False)
class _Prepared:
    """Device arrays of a batch after image preparation (§4.4)."""

    xm: Array  # (B, M_full) masked image coefficients
    y: Array  # (B, m_fine) s·CTF·X/σ², origin zeroed
    cs: Array  # (B, m_fine) s²·CTF²/(2σ²), origin zeroed
    a: Array  # (B,) Σ|X|²/(2σ²) over the E-step coefficients
    yu: Array  # (B, m_cur) s·CTF·X_unmasked/σ² (origin included)
    c2u: Array  # (B, m_cur) s²·CTF²/σ²
    ctf: Array  # (B, m_cur)
    s: Array  # (B, 1)
    logdet: Array  # (B,) Σ ln(2πσ²) over the E-step coefficients
    offset_int: Array  # (B, 2) rounded previous offsets (px)


def expect_batch(setup: EStepSetup, batch: Batch, acc: Accumulator) -> BatchOutcome:
    """Score, weigh and accumulate one batch; returns its per-particle results."""
    from cryopick.classification.estep_dense import dense_children, prefer_dense
    from cryopick.classification.estep_gathered import gathered_children

    prep = _prepare(setup, batch)
    logw1, logprior = _pass1(setup, prep)
    w1, threshold, n_sig = _coarse_threshold(setup, logw1)
    if prefer_dense(setup, int(setup.bk.xp.sum(n_sig)), batch.images.shape[0]):
        outcome = dense_children(setup, prep, w1, logprior, threshold, acc)
    else:
        rows, cols = _significant_list(setup, w1, threshold)
        outcome = gathered_children(setup, prep, logprior, rows, cols, acc)
    outcome.n_significant = setup.bk.to_numpy(n_sig).astype(np.int64)
    return outcome


def _prepare(setup: EStepSetup, batch: Batch) -> _Prepared:
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
    return _Prepared(
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
        return xp.ones((len(batch.indices), setup.m_cur), dtype=xp.float32, **_dev(bk))
    return ctf_list(**batch.ctf, coeffs=setup.coeffs, m=setup.m_cur, pixel_a=setup.pixel_a,
                    bk=bk, intact_first_peak=setup.params.ctf_intact_first_peak)


def _pass1(setup: EStepSetup, prep: _Prepared) -> tuple[Array, Array]:
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


def offset_distance2(setup: EStepSetup, offset: Array, trans: Array, prior: Array) -> Array:
    """Squared distance (Å²) of offset + translation from the class prior, as RELION's prior has it.

    ``offset`` (rounded previous offset), ``trans`` and ``prior`` are in pixels and broadcast
    to ``(..., 2)``. RELION's offset prior adds the previous offset in *pixels* to the
    translation and prior in Å and multiplies by the pixel size again (relion-facts §4.6):
    ``|o + (t − c)·p|²·p²``. ``--consistent_offset_prior`` uses ``|o + t − c|²·p²`` instead.
    """
    xp = setup.bk.xp
    p = setup.pixel_a
    if setup.params.consistent_offset_prior:
        return xp.sum((offset + trans - prior) ** 2, axis=-1) * p * p
    return xp.sum((offset + (trans - prior) * p) ** 2, axis=-1) * p * p


def offset_residual2(setup: EStepSetup, offset: Array, trans: Array, prior: Array) -> Array:
    """Squared distance (Å²) summed for the M-step's σ²_offset, as RELION sums it.

    RELION's weighted sum takes the oversampled translation in *pixels* and the class prior
    in Å (``|c·p − o − t|²·p²``), unlike its prior in the E-step (:func:`offset_distance2`);
    with class priors near zero this is the offset's spread in Å². ``--consistent_offset_prior``
    uses ``|o + t − c|²·p²``.
    """
    xp = setup.bk.xp
    p = setup.pixel_a
    if setup.params.consistent_offset_prior:
        return xp.sum((offset + trans - prior) ** 2, axis=-1) * p * p
    return xp.sum((prior * p - offset - trans) ** 2, axis=-1) * p * p


def _log_prior(setup: EStepSetup, offset_int: Array) -> Array:
    """``ln π_k + ln N(d; σ_off)`` for all particles, coarse t and classes ``(B, Tc, K)``."""
    bk, xp = setup.bk, setup.bk.xp
    trans = bk.asarray(setup.sampling.trans_coarse_px.astype(np.float32))
    d2 = offset_distance2(setup, xp.astype(offset_int, xp.float32)[:, None, None, :],
                          trans[None, :, None, :], setup.prior_offset_px[None, None, :, :])
    var = (setup.sigma_offset_px * setup.pixel_a) ** 2
    log_off = -d2 / (2.0 * var) - math.log(2.0 * math.pi * var)
    return log_off + setup.log_pdf[None, None, :]


def _sort_rows(bk: Backend, rows: Array, values: Array, n_rows: int
               ) -> tuple[Array, Array, Array]:
    """Order entries by row, then by decreasing value; each row's [start, end) in that order."""
    xp = bk.xp
    # a row offset plus a decreasing function of ln(value) in (0, 0.5): one sort orders rows
    # and, within a row, values from the largest, resolving ratios up to e^±700
    key = xp.astype(rows, xp.float64) + 0.25 - xp.atan(xp.log(values)) / (2.0 * math.pi)
    order = xp.argsort(key)
    rows_sorted = xp.take(rows, order)
    ids = xp.arange(n_rows, dtype=rows.dtype, **_dev(bk))
    return order, xp.searchsorted(rows_sorted, ids, side="left"), \
        xp.searchsorted(rows_sorted, ids, side="right")


def _leading_set(bk: Backend, rows: Array, values: Array, start: Array, end: Array,
                 fraction: float, row_total: Array | None = None) -> tuple[Array, Array]:
    """Per row (entries sorted by decreasing value): keep the smallest leading set whose sum
    reaches ``fraction`` of the row total (the entries' own sum unless ``row_total`` is
    given). Returns the keep mask and the entries' row sums ``(n_rows,)``."""
    xp = bk.xp
    cum = xp.cumulative_sum(values)
    before = cum - values
    base = xp.take(before, start)
    total = xp.take(cum, end - 1) - base
    target = total if row_total is None else row_total
    before_in_row = before - xp.take(base, rows)
    return before_in_row < fraction * xp.take(target, rows), total


def _coarse_threshold(setup: EStepSetup, logw: Array) -> tuple[Array, Array, Array]:
    """Weights relative to each particle's best ``(B, S)``, the significance threshold and
    the number of significant coarse samples per particle ``(B,)``.

    The significant set is the smallest leading set (by decreasing weight) holding
    ``adaptive_fraction`` f of the weight. Weights below ``(1 − f)·total/S`` can never be in
    it (all of them together hold less than ``1 − f``), so when few weights reach that,
    only those are sorted.
    """
    xp = setup.bk.xp
    f = setup.params.adaptive_fraction
    w = xp.exp(logw - xp.max(logw, axis=1, keepdims=True))
    total = xp.sum(w, axis=1)
    candidates = w >= ((1.0 - f) * total / w.shape[1])[:, None]
    if 16 * int(xp.sum(xp.astype(candidates, xp.int64))) < w.shape[0] * w.shape[1]:
        threshold = _threshold_of_candidates(setup, w, candidates, total)
    else:
        ordered = xp.sort(w, axis=1)
        cum = xp.cumulative_sum(ordered, axis=1)
        dropped = xp.sum(xp.astype(cum <= (1.0 - f) * cum[:, -1:], xp.int64), axis=1)
        index = xp.clip(dropped, None, w.shape[1] - 1)[:, None]
        threshold = xp.take_along_axis(ordered, index, axis=1)[:, 0]
    counts = xp.sum(xp.astype(w >= threshold[:, None], xp.int64), axis=1)
    return w, threshold, counts


def _threshold_of_candidates(setup: EStepSetup, w: Array, candidates: Array, total: Array
                             ) -> Array:
    """Per row, the smallest weight of the significant set, sorting only the candidates."""
    bk, xp = setup.bk, setup.bk.xp
    b, n_samples = w.shape
    rows, cols = xp.nonzero(candidates)
    values = xp.astype(xp.take(xp.reshape(w, (-1,)), rows * n_samples + cols), xp.float64)
    order, start, end = _sort_rows(bk, rows, values, b)
    rows, values = xp.take(rows, order), xp.take(values, order)
    keep, _ = _leading_set(bk, rows, values, start, end, setup.params.adaptive_fraction,
                           xp.astype(total, xp.float64))
    kept = xp.nonzero(keep)[0]
    ids = xp.arange(b, dtype=rows.dtype, **_dev(bk))
    last = xp.searchsorted(xp.take(rows, kept), ids, side="right") - 1
    return xp.astype(xp.take(xp.take(values, kept), last), w.dtype)


def _significant_list(setup: EStepSetup, w: Array, threshold: Array) -> tuple[Array, Array]:
    """The significant coarse samples as ``(rows, cols)``, by particle, best first."""
    bk, xp = setup.bk, setup.bk.xp
    b, n_samples = w.shape
    rows, cols = xp.nonzero(w >= threshold[:, None])
    values = xp.astype(xp.take(xp.reshape(w, (-1,)), rows * n_samples + cols), xp.float64)
    order, _, _ = _sort_rows(bk, rows, values, b)
    return xp.take(rows, order), xp.take(cols, order)


@dataclasses.dataclass(eq=False)
class _Weights:
    """Kept children with their normalised weights, plus per-particle best sample and LL."""

    rows: Array
    k: Array
    psi_f: Array
    t_f: Array
    weight: Array  # float32
    best_k: Array
    best_psi_f: Array
    best_t_f: Array
    max_prob: Array
    log_likelihood: Array


def _particle_outcome(setup: EStepSetup, prep: _Prepared, wts: _Weights, per_particle: Array
                      ) -> BatchOutcome:
    """Residual power per shell (σ²), norm energy, scale sums and the best sample per particle."""
    bk, xp = setup.bk, setup.bk.xp
    m = setup.m_cur
    g = make_complex(per_particle[:, :m], per_particle[:, m:2 * m])
    wp2 = per_particle[:, 2 * m:]
    xm = prep.xm[:, :m]
    cross = prep.ctf * xp.real(xm * g)
    model_power = prep.ctf**2 * wp2
    resid = abs2(xm) - 2.0 * prep.s * cross + prep.s**2 * model_power
    # the power beyond the current size starts at the next shell: the points of the last
    # shell that the window leaves out count nowhere, as in RELION
    m_disc = int(np.searchsorted(setup.coeffs.shell, setup.coeffs.shell[m - 1], side="right"))
    beyond = abs2(prep.xm[:, m_disc:])
    shells = xp.matmul(resid, setup.shell_onehot[:m, :]) + \
        xp.matmul(beyond, setup.shell_onehot[m_disc:, :])
    energy = xp.sum(resid[:, 1:], axis=1) + xp.sum(beyond, axis=1)
    mask = xp.take(setup.ssnr_mask, wts.best_k, axis=0)
    s = setup.sampling
    best_t = s.trans_fine_px[bk.to_numpy(wts.best_t_f)]
    offset = bk.to_numpy(prep.offset_int).astype(np.float64) + best_t
    return BatchOutcome(
        class_index=bk.to_numpy(wts.best_k).astype(np.int64),
        psi_deg=s.psi_fine_deg[bk.to_numpy(wts.best_psi_f)], offset_px=offset,
        max_prob=bk.to_numpy(wts.max_prob).astype(np.float64), n_significant=np.zeros(prep.xm.shape[0], np.int64),
        log_likelihood=bk.to_numpy(wts.log_likelihood).astype(np.float64),
        norm_energy=bk.to_numpy(energy).astype(np.float64),
        resid_shells=bk.to_numpy(shells).astype(np.float64),
        scale_xa=bk.to_numpy(xp.sum(mask * cross, axis=1)).astype(np.float64),
        scale_aa=bk.to_numpy(xp.sum(mask * model_power, axis=1)).astype(np.float64))
