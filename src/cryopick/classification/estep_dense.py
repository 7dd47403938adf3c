"""Pass 2 and the M-step sums as dense matrix products, for batches with broad weights.

When most samples are significant (the first iterations, from random references) gathering
children one by one costs far more than scoring every fine sample with one matrix product.
This path gives the same result as the gathered one: children of non-significant coarse
samples are masked out and the pass-2 weights are pruned to ``adaptive_fraction``, as RELION
prunes them (so the memory budget, which picks the path, does not change the result).
The products are made for the (particle, coarse translation) pairs that hold a significant
sample, and the M-step sums of the pruned weights are sparse products when few are kept.
"""

from __future__ import annotations

import math

import numpy as np

from cryopick.backend import Array
from cryopick.classification.estep_gathered import pair_sums
from cryopick.classification.estep_prune import threshold_of_candidates
from cryopick.classification.estep_setup import Accumulator, BatchOutcome, EStepSetup, Prepared, \
    Weights, offset_residual2, particle_outcome
from cryopick.classification.kernels import to_real_pairs

__all__ = ["dense_children", "live_pairs", "prefer_dense"]

_GATHER_COST = 18  # one gathered child ≈ this many sample-coefficients of a dense product
_ELEMENTWISE_COST = 0.15  # a dense path's fine sample outside the products, in the same units
# The pruned pass-2 weights of a dense chunk are mostly zero (4–7 % kept in the first
# iterations of the tutorial's 2D job): below this share of nonzeros the two weight products
# of the M-step sums are sparse products. Measured on 2 CPU cores (a kept weight costs ~6×
# a dense one); a GPU's dense products are so much faster that it keeps them.
_SPARSE_SHARE = {"numpy": 0.125, "strict": 0.125}
# Pass 2's cross term is made only for the (particle, coarse translation) pairs that hold a
# significant sample when they are at most this share of all pairs.
_LIVE_SHARE = 0.75


def prefer_dense(setup: EStepSetup, n_significant: int, batch_size: int, n_live: int) -> bool:
    """True when scoring the fine samples densely is cheaper than gathering the children.

    The dense path's products cover the ``n_live`` (particle, coarse translation) pairs that
    hold a significant sample (all pairs when they are most of them); its element-wise steps
    (weights, pruning) cover every fine sample.
    """
    s = setup.sampling
    children = n_significant * s.n_psi_child * s.n_trans_child
    row = s.n_trans_child * setup.n_classes * setup.n_psi_fine  # fine samples per pair
    pairs = batch_size * len(s.trans_coarse_px)
    used = n_live if n_live <= _LIVE_SHARE * pairs else pairs
    return children * _GATHER_COST > row * (used + _ELEMENTWISE_COST * pairs)


def live_pairs(setup: EStepSetup, w1: Array, threshold: Array) -> Array:
    """``(b, Tc)``: whether a (particle, coarse translation) pair holds a significant coarse
    sample."""
    xp = setup.bk.xp
    b, tc = w1.shape[0], len(setup.sampling.trans_coarse_px)
    return xp.any(xp.reshape(w1 >= threshold[:, None], (b, tc, -1)), axis=2)


def _rows(prep: Prepared, sl: slice) -> Prepared:
    """The particles ``sl`` of a prepared batch."""
    fields = {name: getattr(prep, name)[sl, ...] for name in prep.__dataclass_fields__}
    return Prepared(**fields)


def dense_children(setup: EStepSetup, prep: Prepared, w1: Array, logprior: Array,
                   threshold: Array, live: Array, acc: Accumulator) -> BatchOutcome:
    """Pass 2 over all fine samples (children of non-significant ones masked), weights and
    M-step sums, in particle chunks that fit the memory budget."""
    s = setup.sampling
    n_fine = len(s.trans_fine_px) * setup.n_classes * setup.n_psi_fine
    # about eight (particle, fine sample) float arrays (with the pruning's sort) and five
    # (particle, t, 2m) ones coexist
    per_particle = 8 * 4 * n_fine + 5 * 8 * len(s.trans_fine_px) * setup.m_cur
    step = max(1, int(setup.params.memory_budget_mb * 2**20 // per_particle))
    parts = []
    for lo in range(0, prep.xm.shape[0], step):
        sl = slice(lo, min(lo + step, prep.xm.shape[0]))
        parts.append(_dense_chunk(setup, _rows(prep, sl), w1[sl, ...], logprior[sl, ...],
                                  threshold[sl], live[sl, ...], acc))
    return BatchOutcome(*(np.concatenate([getattr(p, f) for p in parts])
                          for f in BatchOutcome.__dataclass_fields__))


def _fine_log_weights(setup: EStepSetup, prep: Prepared, w1: Array, logprior: Array,
                      threshold: Array, live: Array) -> Array:
    """``(b, Tf·K·Ψf)`` log-weights of all fine samples, −inf outside the significant set.

    ``ln π_k + ln N(t) − ‖X‖²/2σ² − Σ|CTF·P|²/2σ² + cross``, added in place onto the cross
    term's ``(b, Tc, t-child, K, Ψc, ψ-child)`` view: the terms that are constant over a
    coarse sample's children (prior, ``‖X‖²``, the −inf of a non-significant parent) are one
    array 8× smaller than the samples, and no full-size mask or score is made.
    """
    xp = setup.bk.xp
    s = setup.sampling
    b, k, mf = prep.xm.shape[0], setup.n_classes, setup.m_fine
    tc, ntc, npc = len(s.trans_coarse_px), s.n_trans_child, s.n_psi_child
    tf, psi_c, psi_f = tc * ntc, len(s.psi_coarse_deg), setup.n_psi_fine
    coarse = xp.reshape(w1 >= threshold[:, None], (b, tc, 1, k, psi_c, 1))
    parent = xp.reshape(logprior, (b, tc, 1, k, 1, 1)) - xp.reshape(prep.a, (b, 1, 1, 1, 1, 1))
    parent = xp.where(coarse, parent, -math.inf)
    table = xp.reshape(to_real_pairs(setup.p2[:, :mf]), (k * psi_f, 2 * mf)).T
    cross = _cross_of_significant_rows(setup, prep, live, table)
    norm = xp.matmul(prep.cs, setup.p2_sq[:, :mf].T)
    logw = xp.reshape(cross, (b, tc, ntc, k, psi_c, npc))
    logw += parent
    logw -= xp.reshape(norm, (b, 1, 1, k, psi_c, npc))
    return xp.reshape(logw, (b, tf * k * psi_f))


def _cross_of_significant_rows(setup: EStepSetup, prep: Prepared, live: Array, table: Array
                               ) -> Array:
    """The cross term ``(b·Tf, K·Ψf)`` of every fine translation whose coarse parent ``(b, tc)``
    has a significant sample (``live``); other rows are 0 (their parent term is −inf).

    After the first iteration only ~10 % of the (particle, coarse translation) pairs hold a
    significant sample although most particles still have hundreds: the product is made for
    those rows alone and spread back with one ``take``.
    """
    bk, xp = setup.bk, setup.bk.xp
    b, tc = live.shape
    ntc, mf = setup.sampling.n_trans_child, setup.m_fine
    n_live = int(xp.count_nonzero(live))
    if n_live > _LIVE_SHARE * b * tc:  # nearly all: the whole product, no gather
        shifted = prep.y[:, None, :] * setup.phi_f[None, :, :mf]
        return xp.matmul(xp.reshape(to_real_pairs(shifted), (b * tc * ntc, 2 * mf)), table)
    flat = xp.reshape(live, (-1,))
    pair = xp.nonzero(flat)[0]  # live (particle, coarse translation), row-major
    child = xp.arange(ntc, dtype=pair.dtype, **bk.device_kw)
    fine_t = xp.reshape((pair % tc)[:, None] * ntc + child[None, :], (-1,))
    particle = xp.reshape(xp.broadcast_to((pair // tc)[:, None], (n_live, ntc)), (-1,))
    shifted = xp.take(prep.y, particle, axis=0) * xp.take(setup.phi_f[:, :mf], fine_t, axis=0)
    cross = xp.matmul(to_real_pairs(shifted), table)  # (n_live·ntc, K·Ψf)
    cross = xp.concat([cross, xp.zeros((1, cross.shape[1]), dtype=cross.dtype,
                                       **bk.device_kw)], axis=0)
    # each (b, tc): its rank among the live pairs, or the zero row appended last
    rank = xp.cumulative_sum(xp.astype(flat, xp.int64)) - 1
    where = xp.where(flat, rank * ntc, n_live * ntc)
    rows = xp.reshape(where[:, None] + xp.where(flat[:, None], xp.astype(child, xp.int64), 0),
                      (-1,))
    return xp.take(cross, rows, axis=0)


def _dense_chunk(setup: EStepSetup, prep: Prepared, w1: Array, logprior: Array,
                 threshold: Array, live: Array, acc: Accumulator) -> BatchOutcome:
    xp = setup.bk.xp
    b = prep.xm.shape[0]
    k, psi_f, tf = setup.n_classes, setup.n_psi_fine, len(setup.sampling.trans_fine_px)
    logw = _fine_log_weights(setup, prep, w1, logprior, threshold, live)
    top = xp.max(logw, axis=1)
    logw -= top[:, None]
    u = xp.exp(logw)
    total = xp.sum(u, axis=1)
    weight = xp.where(u >= _pruning_threshold(setup, u, total)[:, None], u, 0.0)
    weight *= (1.0 / total)[:, None]
    best = xp.argmax(u, axis=1)
    wts = Weights(None, None, None, None, None, (best // psi_f) % k, best % psi_f,
                   best // (k * psi_f), 1.0 / total,
                   xp.astype(top, xp.float64) + xp.astype(xp.log(total), xp.float64)
                   - xp.astype(prep.logdet, xp.float64))
    per_particle = _dense_sums(setup, prep, xp.reshape(weight, (b, tf, k * psi_f)), acc)
    return particle_outcome(setup, prep, wts, per_particle)


def _pruning_threshold(setup: EStepSetup, u: Array, total: Array) -> Array:
    """Per row, the smallest weight of the leading set holding ``adaptive_fraction`` of it.

    In increasing order, a weight is dropped while the running sum up to and including it
    stays at most ``(1 − f)·total``; the first one past that is the threshold. Weights below
    ``(1 − f)·total/S`` are always dropped, so when few reach that only those are sorted.
    """
    xp = setup.bk.xp
    candidates = u >= ((1.0 - setup.params.adaptive_fraction) * total / u.shape[1])[:, None]
    if 16 * int(xp.count_nonzero(candidates)) < u.shape[0] * u.shape[1]:
        return threshold_of_candidates(setup, u, candidates, total)
    ordered = xp.sort(u, axis=1)
    cum = xp.cumulative_sum(ordered, axis=1)
    dropped = xp.count_nonzero(cum <= (1.0 - setup.params.adaptive_fraction) * total[:, None],
                               axis=1)
    index = xp.clip(dropped, None, u.shape[1] - 1)[:, None]
    return xp.take_along_axis(ordered, index, axis=1)[:, 0]


def _dense_sums(setup: EStepSetup, prep: Prepared, weight: Array, acc: Accumulator) -> Array:
    """Bucket sums, class sums (host) and the per-particle (G, Σw|P|²) rows ``(b, 3m)``."""
    xp = setup.bk.xp
    b, tf, kp = weight.shape
    m, k = setup.m_cur, setup.n_classes
    flat = xp.reshape(weight, (b * tf, kp))
    kept = int(xp.count_nonzero(flat))
    if kept < _SPARSE_SHARE.get(setup.bk.name, 0.0) * b * tf * kp:
        rows, cols = xp.nonzero(flat)  # rows: particle·Tf + t, cols: the (class, ψ) bucket
        num, g = pair_sums(setup, prep, rows, cols,
                           xp.take(xp.reshape(flat, (-1,)), rows * kp + cols), kp)
    else:
        shifted = xp.reshape(to_real_pairs(prep.yu[:, None, :] * setup.phi_f[None, :, :]),
                             (b * tf, 2 * m))
        num = xp.matmul(flat.T, shifted)
        q = xp.reshape(xp.matmul(flat, setup.p2_conj), (b, tf, 2 * m))
        q_re, q_im = q[:, :, :m], q[:, :, m:]
        phi_re, phi_im = xp.real(setup.phi_f)[None, :, :], xp.imag(setup.phi_f)[None, :, :]
        g = xp.concat([xp.sum(q_re * phi_re - q_im * phi_im, axis=1),
                       xp.sum(q_re * phi_im + q_im * phi_re, axis=1)], axis=1)
    over_t = xp.sum(weight, axis=1)
    den = xp.matmul(over_t.T, prep.c2u)
    acc.buckets = acc.buckets + xp.concat([num, den], axis=1)
    wp2 = xp.matmul(over_t, setup.p2_sq)
    _dense_class_sums(setup, prep, xp.sum(xp.reshape(weight, (b, tf, k, kp // k)), axis=3), acc)
    return xp.concat([g, wp2], axis=1)


def _dense_class_sums(setup: EStepSetup, prep: Prepared, wtk: Array, acc: Accumulator) -> None:
    """Class weights, weighted offsets and offset-prior residual from ``(b, Tf, K)`` weights."""
    bk, xp = setup.bk, setup.bk.xp
    trans = bk.asarray(setup.sampling.trans_fine_px.astype(np.float32))
    offset = xp.astype(prep.offset_int, xp.float32)[:, None, :]
    total = offset + trans[None, :, :]  # (b, Tf, 2)
    d2 = offset_residual2(setup, offset[:, :, None, :], trans[None, :, None, :],
                          setup.prior_offset_px[None, None, :, :])  # (b, Tf, K)
    acc.class_weight += bk.to_numpy(xp.sum(wtk, axis=(0, 1))).astype(np.float64)
    acc.offset_sum += bk.to_numpy(
        xp.sum(wtk[:, :, :, None] * total[:, :, None, :], axis=(0, 1))).astype(np.float64)
    acc.sigma_offset_sum += float(bk.to_numpy(xp.sum(wtk * d2)))
