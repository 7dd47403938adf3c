"""A simulated RELION 3.1 project: micrographs, CTF STAR, particle truth and junk truth."""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd

from cryopick.errors import atomic_output
from cryopick.io.mrc import write_mrc
from cryopick.io.star import CtfParams, write_coordinates, write_star
from cryopick.simulate.config import SimulationConfig
from cryopick.simulate.junk import TRUTH_DIR, JunkTruth, write_junk
from cryopick.simulate.micrograph import SimulatedMicrograph, simulate_micrograph
from cryopick.simulate.particles import Blobs, make_blobs, make_density
from cryopick.simulate.presets import DATASETS

__all__ = ["CTF_STAR", "DENSITY_MRC", "MICROGRAPH_DIR", "SIMULATION_JSON", "TRUTH_DIR",
           "simulate_project"]

logger = logging.getLogger(__name__)

MICROGRAPH_DIR = "MotionCorr/job002/Movies"
CTF_STAR = "CtfFind/job003/micrographs_ctf.star"
DENSITY_MRC = "Demo/density.mrc"
SIMULATION_JSON = "Demo/simulation.json"


def simulate_project(project_dir: str | os.PathLike[str], preset: str = "demo", *,
                     seed: int | None = None, n_micrographs: int | None = None,
                     nx: int | None = None, ny: int | None = None,
                     pixel_size_a: float | None = None,
                     particles_per_micrograph: int | None = None,
                     particle_diameter_a: float | None = None,
                     snr: float | None = None,
                     config: SimulationConfig | None = None) -> Path:
    """Write a simulated RELION 3.1 project; options left ``None`` take the preset's values.

    Writes, under ``project_dir``: ``MotionCorr/job002/Movies/micNNN.mrc`` (float32),
    ``CtfFind/job003/micrographs_ctf.star`` (optics + micrographs with CTF; written last),
    ``Demo/truth/micNNN_truth.star`` (rlnCoordinateX/Y in 0-based pixels and the Euler angles
    of every particle; rlnClassNumber, the species, when there are two),
    ``Demo/truth/micNNN_junk.star`` (contamination blobs, specks and carbon edge: see
    :func:`~cryopick.simulate.junk.junk_mask`), ``Demo/density.mrc`` (the particle, voxel 4×
    the pixel size; ``Demo/density_2.mrc`` for a second species) and
    ``Demo/simulation.json`` (the configuration). The same arguments give byte-identical
    files. Micrograph i has its own random stream, so it does not depend on the number of
    micrographs, except for which micrographs have a carbon edge (the middle one by default).

    Parameters
    ----------
    project_dir : path
        The project directory (created if needed).
    preset : str
        A named data set of :data:`~cryopick.simulate.presets.DATASETS` (``demo``,
        ``tutorial``, the hands-free corpus).
    seed : int, optional
        Seed of the particle's shape and of every random choice (default: the preset's).
    n_micrographs, nx, ny, pixel_size_a, particles_per_micrograph, particle_diameter_a, snr
        Overrides of the preset's :class:`SimulationConfig` fields.
    config : SimulationConfig, optional
        A whole configuration instead of the preset's (the overrides still apply).

    Returns
    -------
    Path of the micrograph STAR file.
    """
    overrides = {"n_micrographs": n_micrographs, "nx": nx, "ny": ny, "snr": snr,
                 "pixel_size_a": pixel_size_a, "particle_diameter_a": particle_diameter_a,
                 "particles_per_micrograph": particles_per_micrograph}
    config = _resolve_config(preset, overrides, config)
    seed = DATASETS[preset].seed if seed is None else seed
    if int(seed) != seed:
        raise ValueError(f"seed must be an integer, got {seed}")
    seed, project = int(seed), Path(project_dir)
    models = _particle_models(config, seed)
    _write_densities(project, config, seed)
    carbon = _carbon_indices(config)
    rows = [_write_micrograph(project, config, models, seed, index, index in carbon)
            for index in range(config.n_micrographs)]
    _write_config(project / SIMULATION_JSON, config, preset, seed)
    star = project / CTF_STAR
    write_star(star, {"optics": _optics_table(config), "micrographs": pd.DataFrame(rows)})
    logger.info("wrote %s (%d micrographs)", star, config.n_micrographs)
    return star


def _resolve_config(preset: str, overrides: dict[str, object],
                    config: SimulationConfig | None) -> SimulationConfig:
    if preset not in DATASETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {', '.join(DATASETS)}")
    chosen = {name: value for name, value in overrides.items() if value is not None}
    return dataclasses.replace(config or DATASETS[preset].config, **chosen)


def _particle_models(config: SimulationConfig, seed: int) -> list[Blobs]:
    """One particle model per species (the second one from its own stream)."""
    models = [make_blobs(config.particle_diameter_a, seed, config.shape)]
    if config.second_species is not None:
        second = config.second_species
        models.append(make_blobs(second.diameter_a, seed + 1000, second.shape))
    return models


def _carbon_indices(config: SimulationConfig) -> set[int]:
    """Micrographs with a carbon edge: ``n_carbon`` of them, spread evenly (one: the middle)."""
    if not config.carbon_edge or config.n_carbon == 0:
        return set()
    n, k = config.n_micrographs, min(config.n_carbon, config.n_micrographs)
    return {(n * (2 * j + 1)) // (2 * k) for j in range(k)}


def _write_micrograph(project: Path, config: SimulationConfig, models: list[Blobs], seed: int,
                      index: int, carbon: bool) -> dict[str, object]:
    """Simulate and write micrograph ``index``, its truth and its junk; return its STAR row."""
    started = time.perf_counter()
    # one stream per micrograph, so that micrograph i is the same in any size of data set
    rng = np.random.default_rng([seed, 1, index])
    mic = simulate_micrograph(config, models if len(models) > 1 else models[0], rng,
                              carbon=carbon)
    stem = f"mic{index + 1:03d}"
    name = f"{MICROGRAPH_DIR}/{stem}.mrc"
    write_mrc(project / name, mic.image, config.pixel_size_a)
    _write_truth(project / TRUTH_DIR / f"{stem}_truth.star", mic, len(models) > 1)
    kinds = np.where(np.arange(len(mic.contaminations)) < mic.n_large, 1, 2)
    write_junk(project / TRUTH_DIR / f"{stem}_junk.star",
               JunkTruth(config.ny, config.nx, mic.contaminations, kinds, mic.carbon))
    logger.info("simulated %s: %d particles%s (%.2f s)", name, len(mic.positions_px),
                ", carbon edge" if carbon else "", time.perf_counter() - started)
    return _micrograph_row(name, mic.ctf, rng)


def _write_densities(project: Path, config: SimulationConfig, seed: int) -> None:
    voxel_a = 4.0 * config.pixel_size_a
    species = [(DENSITY_MRC, config.particle_diameter_a, seed, config.shape)]
    if config.second_species is not None:
        s = config.second_species
        species.append((DENSITY_MRC.replace(".mrc", "_2.mrc"), s.diameter_a, seed + 1000, s.shape))
    for path, diameter_a, model_seed, shape in species:
        box = 2 * int(math.ceil(0.65 * diameter_a / voxel_a))
        write_mrc(project / path, make_density(box, voxel_a, model_seed, diameter_a, shape),
                  voxel_a)


def _write_truth(path: Path, mic: SimulatedMicrograph, with_species: bool) -> None:
    y, x = mic.positions_px.T
    rot, tilt, psi = mic.angles_deg.T
    columns = {"rlnCoordinateX": x, "rlnCoordinateY": y,
               "rlnAngleRot": rot, "rlnAngleTilt": tilt, "rlnAnglePsi": psi}
    if with_species:
        columns["rlnClassNumber"] = mic.species + 1
    write_coordinates(path, pd.DataFrame(columns))


def _write_config(path: Path, config: SimulationConfig, preset: str, seed: int) -> None:
    """The simulation's configuration as JSON, for benchmarks and readers of the truth."""
    record = {"preset": preset, "seed": seed, "config": dataclasses.asdict(config)}
    with atomic_output(path) as tmp:
        tmp.write_text(json.dumps(record, indent=1) + "\n")


def _micrograph_row(name: str, ctf: CtfParams, rng: np.random.Generator) -> dict[str, object]:
    ctf_image = name.replace("MotionCorr/job002", "CtfFind/job003").replace(".mrc", ".ctf:mrc")
    return {"rlnMicrographName": name, "rlnOpticsGroup": 1, "rlnCtfImage": ctf_image,
            "rlnDefocusU": ctf.defocus_u_a, "rlnDefocusV": ctf.defocus_v_a,
            "rlnCtfAstigmatism": round(ctf.defocus_u_a - ctf.defocus_v_a, 2),
            "rlnDefocusAngle": ctf.defocus_angle_deg,
            "rlnCtfFigureOfMerit": round(rng.uniform(0.1, 0.3), 6),
            "rlnCtfMaxResolution": round(rng.uniform(3.0, 5.0), 6)}


def _optics_table(config: SimulationConfig) -> pd.DataFrame:
    return pd.DataFrame([{
        "rlnOpticsGroupName": "opticsGroup1", "rlnOpticsGroup": 1,
        "rlnMicrographOriginalPixelSize": config.pixel_size_a,
        "rlnVoltage": config.voltage_kv, "rlnSphericalAberration": config.cs_mm,
        "rlnAmplitudeContrast": config.amplitude_contrast,
        "rlnMicrographPixelSize": config.pixel_size_a}])
