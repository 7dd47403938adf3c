"""The building blocks of the named data sets (:mod:`cryopick.simulate.presets`,
:mod:`cryopick.simulate.batches`): the record of a data set and the simulation a line of the
corpus describes."""

from __future__ import annotations

import dataclasses
import math

from cryopick.simulate.config import SimulationConfig

__all__ = ["DIRTY", "Dataset", "sim_config"]


@dataclasses.dataclass(frozen=True)
class Dataset:
    """A named data set: its simulation, seed, split (tune | heldout | seen | none) and what
    it tests."""

    config: SimulationConfig
    seed: int
    split: str
    description: str


def _snr(particle_snr: float, diameter_a: float, pixel_a: float) -> float:
    """Per-pixel SNR that gives ``particle_snr`` summed over a particle's disc.

    The demo's particle (170 Å at 0.885 Å/px, per-pixel SNR 0.05) sums to about 1450.
    """
    return round(particle_snr / (math.pi * (diameter_a / pixel_a / 2.0) ** 2), 6)


def sim_config(n: int, nx: int, ny: int, pixel: float, per_mic: int, diameter: float,
               particle_snr: float, **options: object) -> SimulationConfig:
    """``n`` micrographs of ``nx`` × ``ny`` px at ``pixel`` Å/px, ``per_mic`` particles of
    ``diameter`` Å whose summed SNR is ``particle_snr``, and any other simulation option."""
    return SimulationConfig(n_micrographs=n, nx=nx, ny=ny, pixel_size_a=pixel,
                            particles_per_micrograph=per_mic, particle_diameter_a=diameter,
                            snr=_snr(particle_snr, diameter, pixel), **options)


# contamination of every size, a strong ice gradient and carbon on 3 micrographs
DIRTY: dict[str, object] = {"n_contaminations": (2, 5), "contamination_size": (0.8, 6.0),
                             "contamination_depth": (0.5, 3.0), "n_specks": (8, 20),
                             "speck_size": (0.2, 1.2), "ice_gradient": 1.5, "n_carbon": 3}
