"""What the simulation knows, for the hands-free benchmark: class averages against the true
projections, and where a pick lies (on a particle, on junk, on empty ice)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from cryopick.classification.class_selection import read_class_averages
from cryopick.classification.quality import best_ncc
from cryopick.io.star import post_name, read_coordinates, read_micrographs_star
from cryopick.metrics import PickScore, match_picks, score_picks
from cryopick.picking.projection import healpix_directions
from cryopick.simulate import CTF_STAR, SIMULATION_JSON, TRUTH_DIR, junk_mask, make_blobs, \
    project_blobs

XY = ["rlnCoordinateX", "rlnCoordinateY"]


def simulation(project: Path) -> dict:
    """The simulated project's configuration (Demo/simulation.json): seed and config."""
    return json.loads((project / SIMULATION_JSON).read_text())


def species_models(project: Path) -> list:
    """The particle model of each species, as the simulator built them."""
    record = simulation(project)
    config, seed = record["config"], record["seed"]
    models = [make_blobs(config["particle_diameter_a"], seed, config["shape"])]
    second = config.get("second_species")
    if second:
        models.append(make_blobs(second["diameter_a"], seed + 1000, second["shape"]))
    return models


def class_truth_ncc(project: Path, model_star: Path, mask_diameter_a: float,
                    min_distribution: float = 0.01) -> dict[int, tuple[float, int, float]]:
    """Per populated class: (best NCC with a true projection, its species, distribution).

    True projections: 48 HEALPix directions per species, in-plane rotations every 10°, shifts
    up to 4 px, inside the mask.
    """
    cwd = os.getcwd()
    os.chdir(project)  # model STAR files name their stacks relative to the project
    try:
        table, images, pixel_a = read_class_averages(model_star)
    finally:
        os.chdir(cwd)
    directions = healpix_directions(1)
    angles = np.column_stack([directions, np.zeros(len(directions))])
    views = [project_blobs(m, angles, images.shape[-1], pixel_a) for m in species_models(project)]
    radius = 0.5 * mask_diameter_a / pixel_a
    out = {}
    for number, share, image in zip(table["rlnClassNumber"], table["rlnClassDistribution"],
                                    images, strict=True):
        if share < min_distribution or not np.any(image):
            continue
        per_species = [max(best_ncc(image, p, radius, step_deg=10.0) for p in v) for v in views]
        best = int(np.argmax(per_species))
        out[int(number)] = (per_species[best], best, float(share))
    return out


def _picks(project: Path, odir: str, name: str, pickname: str = "autopick") -> np.ndarray:
    path = project / odir / (os.path.splitext(post_name(name))[0] + f"_{pickname}.star")
    return read_coordinates(path)[XY].to_numpy(float) if path.is_file() else np.zeros((0, 2))


def _truth(project: Path, name: str) -> np.ndarray:
    return read_coordinates(project / TRUTH_DIR / f"{Path(name).stem}_truth.star")[XY].to_numpy()


def score_pick_job(project: Path, odir: str, radius_px: float,
                   star: str = CTF_STAR) -> tuple[PickScore, int]:
    """Pick score of a job against the truth over the micrographs of ``star``, and how many
    of its picks lie on contamination or carbon."""
    total, on_junk = PickScore(0, 0, 0), 0
    for name in read_micrographs_star(project / star).names:
        picks = _picks(project, odir, name)
        total = total + score_picks(picks, _truth(project, name), radius_px)
        on_junk += int(np.count_nonzero(_on_junk(project, name, picks)))
    return total, on_junk


def _on_junk(project: Path, name: str, picks: np.ndarray) -> np.ndarray:
    mask = junk_mask(project, name)
    x = np.clip(picks[:, 0].astype(int), 0, mask.shape[1] - 1)
    y = np.clip(picks[:, 1].astype(int), 0, mask.shape[0] - 1)
    return mask[y, x]


def pick_composition(project: Path, odir: str, star: str, radius_px: float) -> dict[str, float]:
    """Shares of a job's picks on particles, on junk (contamination, carbon) and on empty ice."""
    counts = np.zeros(3)
    for name in read_micrographs_star(project / star).names:
        picks = _picks(project, odir, name)
        matched = np.zeros(len(picks), dtype=bool)
        matched[match_picks(picks, _truth(project, name), radius_px)[:, 0]] = True
        junk = _on_junk(project, name, picks) & ~matched
        counts += [matched.sum(), junk.sum(), (~matched & ~junk).sum()]
    total = max(counts.sum(), 1.0)
    return {"n": int(counts.sum()), "particle": counts[0] / total, "junk": counts[1] / total,
            "empty": counts[2] / total}
