"""Options of a 2D classification, with relion_refine's meaning and defaults, and the config form."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from cryopick.errors import InputError

__all__ = ["Class2DConfig", "Class2DParams"]


@dataclasses.dataclass(frozen=True)
class Class2DParams:
    """relion_refine's 2D-classification options (CLI values: ψ and offset steps as given).

    Distances in pixels are image pixels; ``particle_diameter_a ≤ 0`` means the box minus
    the mask edge, as RELION does.
    """

    # one line per option, as in Class2DConfig below: a table, alike by design
    n_classes: int
    n_iter: int = 50
    tau2_fudge: float = 1.0
    particle_diameter_a: float = -1.0
    zero_mask: bool = False
    ctf: bool = False
    ctf_intact_first_peak: bool = False
    psi_step_deg: float = 10.0
    offset_range_px: float = 6.0
    offset_step_px: float = 2.0
    oversampling: int = 1
    strict_highres_exp_a: float = -1.0
    fast_subsets: bool = False
    flatten_solvent: bool = False
    norm: bool = False
    scale: bool = False
    random_seed: int = -1
    sigma_offset_a: float = 10.0
    mask_edge_px: float = 5.0
    incr_size: int = 10
    adaptive_fraction: float = 0.999
    perturb: float = 0.5
    center_classes: bool = False
    consistent_offset_prior: bool = False  # RELION mixes px and Å in the offset prior
    preread_images: bool = False
    batch_size: int = 0  # particles per E-step batch; 0: from a memory budget
    memory_budget_mb: float = 256.0
    stop_when_collapsed: float = 0.0  # cryopick: stop once one class holds this share; 0: off

    def __post_init__(self) -> None:
        checks = [
            (self.n_classes >= 1, f"--K must be ≥ 1, got {self.n_classes}"),
            (self.n_iter >= 1, f"--iter must be ≥ 1, got {self.n_iter}"),
            (self.tau2_fudge > 0, f"--tau2_fudge must be > 0, got {self.tau2_fudge}"),
            (self.psi_step_deg > 0, f"--psi_step must be > 0, got {self.psi_step_deg}"),
            (self.offset_range_px >= 0, f"--offset_range must be ≥ 0, got {self.offset_range_px}"),
            (self.offset_step_px > 0, f"--offset_step must be > 0, got {self.offset_step_px}"),
            (self.oversampling in (0, 1), ("--oversampling: only 0 and 1 are supported "
                                          f"(2D classification uses 1), got {self.oversampling}")),
            (0 < self.adaptive_fraction <= 1, "--adaptive_fraction must be in (0, 1]"),
            (self.sigma_offset_a > 0, f"--offset must be > 0, got {self.sigma_offset_a}"),
            (self.mask_edge_px > 0, f"--maskedge must be > 0, got {self.mask_edge_px}"),
            (not self.fast_subsets or self.n_iter >= 20,
             "--fast_subsets needs at least 20 iterations (--iter), as in RELION"),
            (not self.ctf_intact_first_peak or self.ctf,
             "--ctf_intact_first_peak needs --ctf"),
            (0 <= self.stop_when_collapsed <= 1,
             f"--stop_when_collapsed must be in [0, 1], got {self.stop_when_collapsed}"),
        ]
        for ok, message in checks:
            if not ok:
                raise InputError(message)


@dataclasses.dataclass(frozen=True)
class Class2DConfig:
    """The workflow's ``class2d`` config section (GUI values; see config/config.yaml).

    ``psi_step_deg`` and ``offset_step_px`` are the GUI's (oversampled) values; RELION's GUI
    passes twice them to relion_refine, and so does :meth:`to_params`.
    """

    # one line per config key (GUI values): a table, alike by design
    n_classes: int = 50
    tau2_fudge: float = 2.0
    n_iter: int = 25
    mask_diameter_a: float = 200.0
    zero_mask: bool = True
    ctf: bool = True
    ctf_intact_first_peak: bool = False
    psi_step_deg: float = 6.0
    offset_range_px: float = 5.0
    offset_step_px: float = 1.0
    fast_subsets: bool = False
    strict_highres_exp_a: float = -1.0
    random_seed: int = 1
    preread_images: bool = True
    pool: int = 30
    mpi_ranks: int = 1
    center_classes: bool = False
    rerun_when_collapsed: float = 0.0  # cryopick: see to_params; 0: off

    @classmethod
    def from_mapping(cls, values: Mapping[str, object]) -> Class2DConfig:
        """Build from a config dict; an unknown key is an error naming it."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise InputError(f"class2d config: unknown option(s) {', '.join(unknown)}")
        return cls(**dict(values))

    def to_params(self) -> Class2DParams:
        """relion_refine options as the RELION GUI sets them (flatten, norm, scale, ×2 steps).

        With ``rerun_when_collapsed`` F > 0, a CTF-corrected run that ignores nothing stops once
        one class holds F of the particles (cryopick's ``--stop_when_collapsed``); the workflow
        then classifies again with the CTFs ignored until their first peak.
        """
        rerun = self.ctf and not self.ctf_intact_first_peak
        return Class2DParams(
            n_classes=int(self.n_classes), n_iter=int(self.n_iter),
            tau2_fudge=float(self.tau2_fudge), particle_diameter_a=float(self.mask_diameter_a),
            zero_mask=bool(self.zero_mask), ctf=bool(self.ctf),
            ctf_intact_first_peak=bool(self.ctf_intact_first_peak),
            psi_step_deg=2.0 * float(self.psi_step_deg),
            offset_range_px=float(self.offset_range_px),
            offset_step_px=2.0 * float(self.offset_step_px), oversampling=1,
            strict_highres_exp_a=float(self.strict_highres_exp_a),
            fast_subsets=bool(self.fast_subsets), flatten_solvent=True, norm=True, scale=True,
            random_seed=int(self.random_seed), center_classes=bool(self.center_classes),
            preread_images=bool(self.preread_images),
            stop_when_collapsed=float(self.rerun_when_collapsed) if rerun else 0.0)
