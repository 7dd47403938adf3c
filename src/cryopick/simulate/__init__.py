"""Simulated cryo-EM data: particles of several shapes, micrographs, RELION projects, truth.

:func:`simulate_project` writes a RELION 3.1 project (micrographs, CTF STAR) with the true
particle positions and where the contamination and carbon lie (:func:`junk_mask`). Named data
sets, with their tune/held-out split, are in :data:`DATASETS`.
"""

from cryopick.euler import euler_matrix
from cryopick.simulate.config import CTF_MODES, SimulationConfig, Species
from cryopick.simulate.junk import CarbonEdge, JunkTruth, junk_mask, read_junk
from cryopick.simulate.micrograph import SimulatedMicrograph, simulate_micrograph
from cryopick.simulate.particles import SHAPES, Blobs, make_blobs, make_density, project_blobs
from cryopick.simulate.presets import DATASETS, PRESETS, Dataset, datasets_in_split
from cryopick.simulate.project import (
    CTF_STAR,
    DENSITY_MRC,
    MICROGRAPH_DIR,
    SIMULATION_JSON,
    TRUTH_DIR,
    simulate_project,
)

__all__ = [
    "CTF_MODES",
    "CTF_STAR",
    "DATASETS",
    "DENSITY_MRC",
    "MICROGRAPH_DIR",
    "PRESETS",
    "SHAPES",
    "SIMULATION_JSON",
    "TRUTH_DIR",
    "Blobs",
    "CarbonEdge",
    "Dataset",
    "JunkTruth",
    "SimulatedMicrograph",
    "SimulationConfig",
    "Species",
    "datasets_in_split",
    "euler_matrix",
    "junk_mask",
    "make_blobs",
    "make_density",
    "project_blobs",
    "read_junk",
    "simulate_micrograph",
    "simulate_project",
]
