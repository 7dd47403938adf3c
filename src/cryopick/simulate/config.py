"""What defines a simulated data set: :class:`SimulationConfig` and its second species."""

from __future__ import annotations

import dataclasses

from cryopick.simulate.particles import SHAPES

__all__ = ["CTF_MODES", "SimulationConfig", "Species"]

CTF_MODES = ("applied", "flipped", "none")


@dataclasses.dataclass(frozen=True)
class Species:
    """A second particle in the same set: its shape, size and share of the particles."""

    shape: str
    diameter_a: float
    fraction: float = 0.5

    def __post_init__(self) -> None:
        """Reject unknown shapes, sizes ≤ 0 and shares outside (0, 1)."""
        if self.shape not in SHAPES:
            raise ValueError(f"unknown particle shape {self.shape!r}; choose one of "
                             f"{', '.join(SHAPES)}")
        if not self.diameter_a > 0 or not 0.0 < self.fraction < 1.0:
            raise ValueError(f"need diameter_a > 0 and 0 < fraction < 1, got {self}")


@dataclasses.dataclass(frozen=True)
class SimulationConfig:
    """Everything that defines a simulated data set (sizes in pixels, lengths in Å)."""

    n_micrographs: int
    nx: int
    ny: int
    pixel_size_a: float
    particles_per_micrograph: int
    particle_diameter_a: float = 170.0
    snr: float = 0.05                     # per-pixel signal/noise power inside particles
    n_contaminations: tuple[int, int] = (2, 4)
    contamination_size: tuple[float, float] = (2.0, 4.0)  # diameters, × particle diameter
    contamination_depth: tuple[float, float] = (1.0, 2.0)  # darkening, × noise std
    n_specks: tuple[int, int] = (2, 6)   # small ice specks/aggregates: LoG's false positives
    speck_size: tuple[float, float] = (0.3, 0.8)    # diameters, × particle diameter
    speck_depth: tuple[float, float] = (0.2, 0.8)   # darkening, × noise std
    ice_gradient: float = 0.4            # peak-to-peak of the ice-thickness ramp, × noise std
    defocus_a: tuple[float, float] = (10000.0, 30000.0)
    astigmatism_a: tuple[float, float] = (100.0, 600.0)
    voltage_kv: float = 300.0
    cs_mm: float = 2.7
    amplitude_contrast: float = 0.1
    carbon_edge: bool = True             # micrographs with a carbon edge (see n_carbon)
    # options beyond the demo; their defaults leave the demo's data unchanged
    shape: str = "asymmetric"            # particle shape, one of simulate.particles.SHAPES
    second_species: Species | None = None
    min_separation: float = 1.1          # closest centres, × mean diameter of the pair (<1: touching)
    empty_fraction: float = 0.0          # share of each micrograph that is empty ice (no particles)
    n_carbon: int = 1                    # micrographs with a carbon edge, spread over the set
    ctf_mode: str = "applied"            # applied | flipped (phase-flipped: |CTF|) | none

    def __post_init__(self) -> None:
        """Reject sizes, counts and options that cannot make a micrograph."""
        for name in ("n_micrographs", "nx", "ny", "particles_per_micrograph", "n_carbon"):
            value = getattr(self, name)
            if int(value) != value or value < 0:
                raise ValueError(f"{name} must be a non-negative integer, got {value}")
        for name in ("pixel_size_a", "particle_diameter_a", "snr", "voltage_kv",
                     "min_separation"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        if self.shape not in SHAPES:
            raise ValueError(f"unknown particle shape {self.shape!r}; choose one of "
                             f"{', '.join(SHAPES)}")
        if self.ctf_mode not in CTF_MODES:
            raise ValueError(f"ctf_mode must be one of {', '.join(CTF_MODES)}, "
                             f"got {self.ctf_mode!r}")
        if not 0.0 <= self.empty_fraction < 1.0:
            raise ValueError(f"empty_fraction must be in [0, 1), got {self.empty_fraction}")
        if min(self.nx, self.ny) < 2 * self.margin_px + 1:
            raise ValueError(f"micrograph {self.nx}x{self.ny} px is too small for a "
                             f"{self.largest_diameter_a} Å particle at {self.pixel_size_a} Å/px")

    @property
    def diameter_px(self) -> float:
        """Particle diameter in pixels (the first species)."""
        return self.particle_diameter_a / self.pixel_size_a

    @property
    def diameters_a(self) -> tuple[float, ...]:
        """Diameter (Å) of each species, the first one first."""
        if self.second_species is None:
            return (self.particle_diameter_a,)
        return (self.particle_diameter_a, self.second_species.diameter_a)

    @property
    def largest_diameter_a(self) -> float:
        """Diameter (Å) of the largest species."""
        return max(self.diameters_a)

    @property
    def margin_px(self) -> float:
        """Closest a particle centre comes to the micrograph edge."""
        return 0.8 * (self.largest_diameter_a / self.pixel_size_a)
