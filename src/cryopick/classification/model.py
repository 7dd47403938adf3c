"""State of a 2D classification between iterations: the model and the per-particle parameters.

Everything is on the host (NumPy): the E-step moves what it needs to the device once per
iteration. Offsets are stored in pixels as (y, x) arrays and converted to RELION's
``rlnOriginXAngst``/``YAngst`` (and ``rlnClassPriorOffsetX/Y``, Å) only when written.
"""

from __future__ import annotations

import dataclasses
import logging

import numpy as np

__all__ = ["Model", "ParticleState"]

logger = logging.getLogger(__name__)


@dataclasses.dataclass
class Model:
    """The model of iteration ``iteration`` (relion-facts §4.1): references and noise.

    Shapes: ``refs`` (K, n, n) float32 (masked references, RELION's ``_classes.mrcs``),
    ``pdf_class`` (K,), ``prior_offset_px`` (K, 2) (y, x), ``sigma2`` (G, n//2+1) noise power
    per group and shell, ``scale`` (G,), ``tau2``/``ssnr``/``ref_sigma2``/``completeness``
    (K, n//2+1) and ``resolution_a`` (K,) for the model STAR.
    """

    refs: np.ndarray
    unmasked_refs: np.ndarray
    pdf_class: np.ndarray
    prior_offset_px: np.ndarray
    sigma_offset_px: float
    sigma2: np.ndarray
    scale: np.ndarray
    avg_norm: float
    current_size: int
    resolution_shell: int
    tau2: np.ndarray
    ssnr: np.ndarray
    ref_sigma2: np.ndarray
    completeness: np.ndarray
    resolution_a: np.ndarray
    log_likelihood: float = 0.0
    ave_pmax: float = 0.0
    perturb: float = 0.0
    refs_ctf_corrected: bool = False
    iteration: int = 0
    image_size_used: int = 0  # the size of this iteration's M-step (RELION reports that one)
    # per class: the accuracy of ψ (deg) and of offsets (Å) estimated in this iteration's
    # E-step (RELION's calculateExpectedAngularErrors; empty before the first E-step)
    acc_rot_deg: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0))
    acc_trans_a: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0))

    @property
    def n_classes(self) -> int:
        return self.refs.shape[0]

    @property
    def box_px(self) -> int:
        return self.refs.shape[-1]

    def collapsed(self, share: float) -> bool:
        """Whether one class holds at least ``share`` of the particles (``share`` ≤ 0: never).

        Such a classification has collapsed and does not recover: its empty classes draw no
        particles back. cryopick's ``--stop_when_collapsed`` stops there (logged).
        """
        largest = float(np.max(self.pdf_class))
        if share <= 0 or largest < share:
            return False
        logger.warning("iteration %d: one class holds %.1f%% of the particles: the "
                       "classification has collapsed (--stop_when_collapsed %g); stopping",
                       self.iteration, 100 * largest, share)
        return True

    def arrays(self) -> dict[str, np.ndarray]:
        """All fields as arrays (for the exact side file that ``--continue`` reads)."""
        return {f.name: np.asarray(getattr(self, f.name)) for f in dataclasses.fields(self)}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> Model:
        values = {}
        for f in dataclasses.fields(cls):
            if f.name not in arrays and f.default_factory is not dataclasses.MISSING:
                continue  # a state saved before the field existed
            value = arrays[f.name]
            values[f.name] = value.item() if value.ndim == 0 else value
        values["refs_ctf_corrected"] = bool(values["refs_ctf_corrected"])
        for name in ("current_size", "resolution_shell", "iteration", "image_size_used"):
            values[name] = int(values[name])
        return cls(**values)


@dataclasses.dataclass
class ParticleState:
    """Per-particle parameters (N,) from the last E-step: RELION's data.star columns."""

    class_index: np.ndarray  # (N,) int, 0-based; -1 before the first E-step
    psi_deg: np.ndarray
    offset_px: np.ndarray  # (N, 2) (y, x): the particle centre is at −offset in the box
    norm_correction: np.ndarray
    log_likelihood: np.ndarray
    max_prob: np.ndarray
    n_significant: np.ndarray  # (N,) int

    @classmethod
    def empty(cls, n: int) -> ParticleState:
        return cls(np.full(n, -1, np.int64), np.zeros(n), np.zeros((n, 2)), np.ones(n),
                   np.zeros(n), np.zeros(n), np.zeros(n, np.int64))

    def arrays(self) -> dict[str, np.ndarray]:
        return {f"p_{f.name}": getattr(self, f.name) for f in dataclasses.fields(self)}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> ParticleState:
        return cls(**{f.name: np.array(arrays[f"p_{f.name}"]) for f in dataclasses.fields(cls)})

    def copy(self) -> ParticleState:
        return ParticleState(**{f.name: getattr(self, f.name).copy()
                                for f in dataclasses.fields(self)})
