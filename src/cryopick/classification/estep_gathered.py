"""Pass 2 of the E-step by gathering: only the children of significant coarse samples.

Used when few samples are significant (the usual case after the first iterations): each
significant coarse sample's 2 ψ × 4 t children are scored with one product of gathered rows,
weighed and pruned to ``adaptive_fraction`` per particle, and the kept children are
summed into the (class, ψ) buckets and the per-particle sums with sparse products.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from cryopick.backend import Array
from cryopick.classification.estep_prune import leading_set, sort_rows
from cryopick.classification.estep_setup import CHUNK_ELEMENTS, Accumulator, BatchOutcome, \
    EStepSetup, Prepared, Weights, offset_residual2, particle_outcome
from cryopick.classification.kernels import make_complex, scatter_rows, sparse_product, \
    to_real_pairs

__all__ = ["gathered_children", "pair_sums"]


def gathered_children(setup: EStepSetup, prep: Prepared, logprior: Array, rows: Array,
                      cols: Array, acc: Accumulator) -> BatchOutcome:
    """Score, weigh and accumulate the children of the significant coarse samples."""
    child = _pass2(setup, prep, logprior, rows, cols)
    weights = _weigh_children(setup, child, rows, prep.logdet, prep.xm.shape[0])
    return _accumulate(setup, prep, weights, acc)


@dataclasses.dataclass(eq=False)
class _Children:
    """Oversampled children of the significant coarse samples, flattened (``J·C`` entries)."""

    rows: Array
    k: Array
    psi_f: Array
    t_f: Array
    logw: Array  # float64


def _decode(setup: EStepSetup, cols: Array) -> tuple[Array, Array, Array]:
    """Coarse sample index → (t_c, k, ψ_c)."""
    n_psi = len(setup.sampling.psi_coarse_deg)
    kp = setup.n_classes * n_psi
    rem = cols % kp
    return cols // kp, rem // n_psi, rem % n_psi


def _pass2(setup: EStepSetup, prep: Prepared, logprior: Array, rows: Array, cols: Array
           ) -> _Children:
    """Log-weights of the 2 ψ × 4 t children of each significant coarse sample (fine size)."""
    bk, xp = setup.bk, setup.bk.xp
    s = setup.sampling
    npc, ntc, mf = s.n_psi_child, s.n_trans_child, setup.m_fine
    tc, k, pc = _decode(setup, cols)
    a = xp.arange(npc, dtype=rows.dtype, **bk.device_kw)
    b = xp.arange(ntc, dtype=rows.dtype, **bk.device_kw)
    psi_f = pc[:, None] * npc + a[None, :]  # (J, npc)
    t_f = tc[:, None] * ntc + b[None, :]  # (J, ntc)
    n_tc, n_k = logprior.shape[1], logprior.shape[2]
    prior = xp.take(xp.reshape(logprior, (-1,)), (rows * n_tc + tc) * n_k + k)
    parts = []
    step = max(1, CHUNK_ELEMENTS // (mf * (npc + ntc)))
    for lo in range(0, rows.shape[0], step):
        sl = slice(lo, min(lo + step, rows.shape[0]))
        parts.append(_score_children(setup, prep, rows[sl], tc[sl], k[sl], psi_f[sl, :]))
    score = xp.concat(parts, axis=0) if parts else xp.zeros((0, ntc, npc), dtype=xp.float32,
                                                            **bk.device_kw)
    logw = xp.astype(prior, xp.float64)[:, None, None] - xp.astype(score, xp.float64)
    shape = (rows.shape[0], ntc, npc)
    flat = lambda x: xp.reshape(xp.broadcast_to(x, shape), (-1,))
    return _Children(flat(rows[:, None, None]), flat(k[:, None, None]), flat(psi_f[:, None, :]),
                     flat(t_f[:, :, None]), xp.reshape(logw, (-1,)))


def _score_children(setup: EStepSetup, prep: Prepared, rows: Array, tc: Array, k: Array,
                    psi_f: Array) -> Array:
    """``D`` of the children ``(J, ntc, npc)`` of significant coarse samples (fine size).

    Per coarse sample, ``Z = X·φ_tc·conj(P)`` for its ψ children; the translation children
    ``tc + δ`` then score ``Re Σ Z·φ_δ``, one real product with the offsets' ramps.
    """
    xp = setup.bk.xp
    mf, j = setup.m_fine, rows.shape[0]
    npc, ntc = psi_f.shape[1], setup.sampling.n_trans_child
    shifted = xp.take(prep.y, rows, axis=0) * xp.take(setup.phi_cf, tc, axis=0)
    bucket = xp.reshape(k[:, None] * setup.n_psi_fine + psi_f, (-1,))
    proj = xp.reshape(xp.take(setup.p2[:, :mf], bucket, axis=0), (j, npc, mf))
    z = xp.reshape(to_real_pairs(shifted[:, None, :] * xp.conj(proj)), (j * npc, 2 * mf))
    cross = xp.permute_dims(xp.reshape(xp.matmul(z, setup.child_ramps), (j, npc, ntc)),
                            (0, 2, 1))
    proj_sq = xp.reshape(xp.take(setup.p2_sq[:, :mf], bucket, axis=0), (j, npc, mf))
    norm = xp.sum(proj_sq * xp.take(prep.cs, rows, axis=0)[:, None, :], axis=2)
    return xp.take(prep.a, rows)[:, None, None] + norm[:, None, :] - cross


def _weigh_children(setup: EStepSetup, child: _Children, coarse_rows: Array, logdet: Array,
                    n_rows: int) -> Weights:
    """Normalise pass-2 weights per particle and prune them to ``adaptive_fraction``."""
    bk, xp = setup.bk, setup.bk.xp
    # a per-particle reference: the best child of the best coarse sample (first of its row)
    ids = xp.arange(n_rows, dtype=coarse_rows.dtype, **bk.device_kw)
    first = xp.searchsorted(coarse_rows, ids, side="left")
    per_coarse = xp.max(xp.reshape(child.logw, (coarse_rows.shape[0], -1)), axis=1)
    ref = xp.take(per_coarse, first)
    u = xp.exp(xp.clip(child.logw - xp.take(ref, child.rows), None, 700.0))
    order, start, end = sort_rows(bk, child.rows, u, n_rows)
    rows, u = xp.take(child.rows, order), xp.take(u, order)
    k, psi_f, t_f = (xp.take(a, order) for a in (child.k, child.psi_f, child.t_f))
    vmax = xp.take(u, start)
    v = u / xp.take(vmax, rows)
    keep, total = leading_set(bk, rows, v, start, end, setup.params.adaptive_fraction)
    weight = xp.where(keep, v / xp.take(total, rows), xp.zeros_like(v))
    kept = xp.nonzero(keep)[0]
    ll = ref + xp.log(vmax) + xp.log(total) - xp.astype(logdet, xp.float64)
    return Weights(xp.take(rows, kept), xp.take(k, kept), xp.take(psi_f, kept),
                    xp.take(t_f, kept), xp.astype(xp.take(weight, kept), xp.float32),
                    xp.take(k, start), xp.take(psi_f, start), xp.take(t_f, start), 1.0 / total,
                    ll)


def _accumulate(setup: EStepSetup, prep: Prepared, wts: Weights, acc: Accumulator
                ) -> BatchOutcome:
    """Add the batch to the M-step sums; per-particle residual power, norm and scale terms.

    Every sum is a sparse product of the kept weights with rows that exist once, not once
    per kept child: the shifted images of the distinct (particle, translation) pairs, the
    projections of the (class, ψ) buckets, the particles' CTF² and |P|² rows. In blocks of
    children whose pair rows stay within the memory budget.
    """
    bk, xp = setup.bk, setup.bk.xp
    b, m = prep.xm.shape[0], setup.m_cur
    n_bucket, n_t = acc.buckets.shape[0], setup.phi_f.shape[0]
    per_particle = xp.zeros((b, 3 * m), dtype=xp.float32, **bk.device_kw)
    step = max(1, CHUNK_ELEMENTS // m)  # the pair rows: at most one complex row per child
    for lo in range(0, wts.rows.shape[0], step):
        sl = slice(lo, min(lo + step, wts.rows.shape[0]))
        rows, w = wts.rows[sl], wts.weight[sl]
        bucket = wts.k[sl] * setup.n_psi_fine + wts.psi_f[sl]
        num, g = pair_sums(setup, prep, rows * n_t + wts.t_f[sl], bucket, w, n_bucket)
        den = sparse_product(bucket, rows, w, (n_bucket, b), prep.c2u)
        acc.buckets += xp.concat([num, den], axis=1)
        wp2 = sparse_product(rows, bucket, w, (b, n_bucket), setup.p2_sq)
        per_particle += xp.concat([g, wp2], axis=1)
    _class_sums(setup, prep, wts, acc)
    return particle_outcome(setup, prep, wts, per_particle)


def pair_sums(setup: EStepSetup, prep: Prepared, pair_keys: Array, bucket: Array, w: Array,
              n_bucket: int) -> tuple[Array, Array]:
    """Sparse sums of kept weights ``w`` over their (particle, fine translation) pairs
    (``pair_keys`` = particle·Tf + t) and (class, ψ) buckets: ``Σ w·X·φ_t`` per bucket
    ``(n_bucket, 2m)`` and ``G = Σ w·conj(P)·φ_t`` per particle ``(B, 2m)``, both as real
    pairs. The shifted image and ``Σ w·conj(P)`` are made once per distinct pair."""
    xp = setup.bk.xp
    m, n_t = setup.m_cur, setup.phi_f.shape[0]
    pairs, pair = xp.unique_inverse(pair_keys)
    pair_rows, n_pairs = pairs // n_t, pairs.shape[0]
    phases = xp.take(setup.phi_f, pairs % n_t, axis=0)  # (D, m)
    shifted = to_real_pairs(xp.take(prep.yu, pair_rows, axis=0) * phases)
    num = sparse_product(bucket, pair, w, (n_bucket, n_pairs), shifted)
    h = sparse_product(pair, bucket, w, (n_pairs, n_bucket), setup.p2_conj)  # Σ w·conj(P)
    g = make_complex(h[:, :m], h[:, m:]) * phases
    return num, scatter_rows(pair_rows, to_real_pairs(g), prep.xm.shape[0])


def _class_sums(setup: EStepSetup, prep: Prepared, wts: Weights, acc: Accumulator) -> None:
    """Class weights, weighted offsets (o + t, px) and the offset-prior residual (Å²)."""
    bk, xp = setup.bk, setup.bk.xp
    k = setup.n_classes
    w = wts.weight[:, None]
    trans = bk.asarray(setup.sampling.trans_fine_px.astype(np.float32))
    offset = xp.astype(xp.take(prep.offset_int, wts.rows, axis=0), xp.float32)
    shift = xp.take(trans, wts.t_f, axis=0)
    d2 = offset_residual2(setup, offset, shift, xp.take(setup.prior_offset_px, wts.k, axis=0))
    sums = scatter_rows(wts.k, xp.concat([w, w * (offset + shift), w * d2[:, None]], axis=1), k)
    sums = bk.to_numpy(sums).astype(np.float64)
    acc.class_weight += sums[:, 0]
    acc.offset_sum += sums[:, 1:3]
    acc.sigma_offset_sum += float(sums[:, 3].sum())
