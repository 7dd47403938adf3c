"""What the E-step's passes share (relion-facts §4.4–§4.6): the iteration's setup on the
device, a batch of particles and its outcome, the M-step sums, the prepared images, the kept
children with their weights, the offset prior and the per-particle results.

The passes themselves: :mod:`cryopick.classification.estep` (preparation, pass 1 over all
coarse samples), :mod:`.estep_dense` and :mod:`.estep_gathered` (pass 2 over the children of
the significant samples, :mod:`.estep_prune`).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from cryopick.backend import Array, Backend
from cryopick.classification.kernels import (
    CoefficientList,
    abs2,
    make_complex,
    projection_table,
    rotated_projections,
    shift_phases,
    soft_edge,
    to_real_pairs,
)
from cryopick.classification.model import Model
from cryopick.classification.params import Class2DParams
from cryopick.classification.sampling import Sampling

__all__ = ["CHUNK_ELEMENTS", "Accumulator", "Batch", "BatchOutcome", "EStepSetup", "Prepared",
           "Weights", "make_setup", "offset_distance2", "offset_residual2", "particle_outcome"]


CHUNK_ELEMENTS = 4_000_000  # complex elements per gathered block in pass 2 and accumulation


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
    p2_conj: Array  # (K·Ψf, 2·m_cur) real pairs of conj(P): Σ w·conj(P) is one product
    phi_c: Array  # (Tc, Mc) complex coarse phase ramps
    phi_f: Array  # (Tf, m_cur)
    phi_cf: Array  # (Tc, m_fine) coarse phase ramps at the fine size
    child_ramps: Array  # (2·m_fine, n_trans_child) [Re; −Im] ramps of the children's offsets
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
    # a fine translation is its coarse parent plus one of n_trans_child offsets, the same for
    # every parent: φ_{tc+δ} = φ_tc·φ_δ, so Re Σ Z·φ_δ over the offsets is one real product
    n_tc = sampling.n_trans_child
    offsets = (sampling.trans_fine_px.reshape(-1, n_tc, 2)[0] - sampling.trans_coarse_px[0])
    child = shift_phases(offsets, coeffs, m_fine, bk)
    child_ramps = xp.concat([xp.real(child), -xp.imag(child)], axis=1).T
    return EStepSetup(
        bk=bk, params=params, iteration=iteration, coeffs=coeffs, m_coarse=m_coarse,
        m_fine=m_fine, m_cur=m_cur, sampling=sampling, n_classes=k, pixel_a=pixel_a,
        p1=p1, p1_sq=p1_sq, p2=p2, p2_sq=abs2(p2), p2_conj=to_real_pairs(xp.conj(p2)),
        phi_c=shift_phases(sampling.trans_coarse_px, coeffs, m_coarse, bk),
        phi_f=shift_phases(sampling.trans_fine_px, coeffs, m_cur, bk),
        phi_cf=shift_phases(sampling.trans_coarse_px, coeffs, m_fine, bk), child_ramps=child_ramps,
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
                                **setup.bk.device_kw)
        self.class_weight = np.zeros(k)
        self.offset_sum = np.zeros((k, 2))
        self.sigma_offset_sum = 0.0


@dataclasses.dataclass(eq=False)
class Prepared:
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


@dataclasses.dataclass(eq=False)
class Weights:
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


def particle_outcome(setup: EStepSetup, prep: Prepared, wts: Weights, per_particle: Array
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
