"""Named simulated data sets: the demo, the benchmark size, and the hands-free corpus.

Each :class:`Dataset` carries its split: ``tune`` sets may be looked at while choosing
defaults; ``heldout`` sets are only for reporting how those defaults do on data they were not
chosen on; ``seen`` sets were held out once, and their figures have been reported and looked
at since (some of them shaped a decision), so they no longer count as held out. The held-out
sets vary what real data varies: particle shape (elongated, symmetric top views, hollow), size
(100–300 Å), pixel size (0.7–2.2 Å), micrograph shape, density (sparse with empty ice to
touching neighbours), SNR, ice gradient, contamination of every size, carbon and images
without CTF. The batches from the sixth on are in :mod:`cryopick.simulate.batches`.
"""

from __future__ import annotations

import dataclasses

from cryopick.simulate.batches import LATER_BATCHES
from cryopick.simulate.config import SimulationConfig, Species
from cryopick.simulate.corpus import DIRTY, Dataset, sim_config

__all__ = ["DATASETS", "PRESETS", "SPLITS", "Dataset", "datasets_in_split"]

SPLITS = ("tune", "heldout", "seen")


def _two_species(particle_snr: float) -> SimulationConfig:
    """The tune corpus's two-species project (170 Å asymmetric and a 130 Å dumbbell)."""
    return sim_config(12, 1920, 1856, 1.77, 28, 170.0, particle_snr,
                      second_species=Species("dumbbell", 130.0, 0.35), ice_gradient=1.0,
                      n_contaminations=(1, 4), contamination_size=(1.0, 5.0), n_specks=(4, 10),
                      n_carbon=2, empty_fraction=0.25)


_DEMO = SimulationConfig(n_micrographs=8, nx=2048, ny=2048, pixel_size_a=0.885,
                         particles_per_micrograph=30)

# one entry per data set, alike by design: the simulation, its seed, its split and its point
DATASETS: dict[str, Dataset] = {
    # the default config's data: the tutorial's 0.885 Å/px, so its parameters apply unchanged
    "demo": Dataset(_DEMO, 1, "tune", "the demo: one asymmetric 170 Å particle, 0.885 Å/px"),
    # benchmark size: a K2 micrograph of the tutorial (3838 × 3710 px), ~100 particles
    "tutorial": Dataset(
        dataclasses.replace(_DEMO, n_micrographs=24, nx=3838, ny=3710,
                            particles_per_micrograph=100, n_specks=(10, 20)),
        1, "none", "timing benchmarks: tutorial-size micrographs"),
    "tune_two_species": Dataset(
        _two_species(500.0), 11, "tune",
        "two species, ice gradient, contamination, carbon on 2 micrographs"),
    "tune_low_snr": Dataset(_two_species(250.0), 12, "tune", "the two-species set at half the SNR"),
    "tune_ring": Dataset(
        sim_config(10, 1792, 1792, 1.3, 25, 220.0, 800.0, shape="ring", ice_gradient=0.6,
                   n_contaminations=(1, 3), contamination_size=(1.0, 3.0)),
        13, "tune", "C7 double ring 220 Å (symmetric top views), 1.3 Å/px"),
    # held out until its failure (every view rejected at a fixed 30 Å) set the class
    # resolution limit against the particle size; tuned on since, replaced by the two
    # large-particle sets below
    "tune_rod": Dataset(
        sim_config(10, 1600, 1600, 2.0, 14, 300.0, 700.0, shape="elongated", ice_gradient=0.8,
                   n_contaminations=(0, 2), contamination_size=(1.0, 3.0)),
        22, "tune", "elongated rod 300 Å, 2.0 Å/px"),
    # heavy contamination, tuned on, so that heldout_dirty stays held out
    "tune_dirty": Dataset(
        sim_config(10, 1920, 1920, 1.0, 22, 150.0, 800.0, shape="dumbbell",
                   **DIRTY),
        32, "tune", "dumbbell 150 Å at 1.0 Å/px: contamination of every size, strong ice "
                    "gradient, carbon on 3 micrographs"),
    "heldout_shell": Dataset(
        sim_config(10, 1536, 1536, 1.0, 45, 120.0, 600.0, shape="shell", min_separation=1.0,
                   n_specks=(3, 8)),
        21, "seen", "hollow shell 120 Å (every view a ring), 1.0 Å/px, dense"),
    "heldout_hard": Dataset(
        sim_config(12, 1600, 1600, 1.5, 30, 200.0, 100.0, ice_gradient=0.6, n_specks=(4, 10)),
        23, "seen", "asymmetric 200 Å at very low SNR (hard), 1.5 Å/px"),
    "heldout_no_ctf": Dataset(
        sim_config(10, 1600, 1600, 1.2, 30, 160.0, 500.0, shape="dumbbell", ctf_mode="none"),
        24, "seen", "dumbbell 160 Å, images without CTF (denoised), 1.2 Å/px"),
    "heldout_nonsquare": Dataset(
        sim_config(10, 2048, 1440, 0.9, 16, 180.0, 900.0, shape="ring", ctf_mode="flipped",
                   n_contaminations=(0, 2)),
        25, "seen", "C7 ring 180 Å, 2048 × 1440 px, 0.9 Å/px, phase-flipped"),
    # held out until its FOMs (noise mode narrow, particles a thin tail, peaks far below the
    # noise) showed that the lower side's RMS widened the null threshold; tuned on since,
    # replaced by heldout_two_species_sparse below
    "tune_two_species_empty": Dataset(
        sim_config(10, 1800, 1800, 1.6, 14, 150.0, 700.0,
                   second_species=Species("elongated", 250.0, 0.4), empty_fraction=0.55,
                   ice_gradient=1.2, n_specks=(6, 14)),
        26, "tune", "two species (150 Å asymmetric, 250 Å rod), sparse, 55 % empty ice"),
    "heldout_crowded": Dataset(
        sim_config(10, 1536, 1536, 1.1, 90, 140.0, 700.0, shape="dumbbell", min_separation=0.85,
                   n_contaminations=(0, 2)),
        27, "seen", "dumbbell 140 Å, crowded: touching neighbours, 1.1 Å/px"),
    "heldout_dirty": Dataset(
        sim_config(10, 2048, 2048, 0.7, 20, 110.0, 700.0, **DIRTY),
        28, "seen", "asymmetric 110 Å at 0.7 Å/px: contamination of every size, "
                       "strong ice gradient, carbon on 3 micrographs"),
    "heldout_large": Dataset(
        sim_config(10, 1700, 1700, 2.4, 12, 360.0, 600.0, ice_gradient=0.7,
                   n_contaminations=(0, 2), contamination_size=(1.0, 3.0)),
        29, "seen", "asymmetric 360 Å at 2.4 Å/px (large particle, low magnification)"),
    "heldout_two_species_sparse": Dataset(
        sim_config(10, 1700, 1700, 1.4, 14, 130.0, 700.0, shape="dumbbell",
                   second_species=Species("elongated", 230.0, 0.4), empty_fraction=0.45,
                   ice_gradient=0.8, n_specks=(4, 10), n_contaminations=(0, 2)),
        31, "seen", "two species (130 Å dumbbell, 230 Å rod), sparse, 45 % empty ice"),
    "heldout_large_dumbbell": Dataset(
        sim_config(10, 1800, 1800, 1.9, 18, 260.0, 500.0, shape="dumbbell", ice_gradient=0.8,
                   n_specks=(3, 8)),
        30, "seen", "dumbbell 260 Å at 1.9 Å/px"),
    # the second held-out batch: defined together and run at the defaults they were written
    # against; seen since its classes at 20 micrographs were looked at and one limit they
    # showed (a speck class that made the real views look faint) was worked on
    "heldout2_small": Dataset(
        sim_config(10, 1800, 1800, 0.8, 40, 100.0, 600.0, n_contaminations=(1, 3),
                   n_specks=(4, 10)),
        41, "seen", "asymmetric 100 Å at 0.8 Å/px (small particle)"),
    "heldout2_ring_crowded": Dataset(
        sim_config(10, 1600, 1600, 1.1, 70, 160.0, 700.0, shape="ring", min_separation=0.9,
                   ctf_mode="flipped", n_contaminations=(0, 2)),
        42, "seen", "C7 ring 160 Å at 1.1 Å/px, crowded (touching), phase-flipped"),
    "heldout2_rod_low_snr": Dataset(
        sim_config(10, 1700, 1700, 1.6, 22, 240.0, 220.0, shape="elongated", ice_gradient=1.0,
                   n_specks=(4, 10)),
        43, "seen", "elongated rod 240 Å at 1.6 Å/px, low SNR, ice gradient"),
    "heldout2_shell_dirty": Dataset(
        sim_config(10, 1800, 1800, 1.3, 24, 200.0, 600.0, shape="shell", n_contaminations=(2, 4),
                   contamination_size=(0.8, 5.0), n_specks=(6, 14), ice_gradient=1.2,
                   n_carbon=2),
        44, "seen", "hollow shell 200 Å at 1.3 Å/px: contamination, specks, carbon on 2 "
                       "micrographs"),
    "heldout2_two_species": Dataset(
        sim_config(10, 2048, 1536, 1.2, 30, 180.0, 600.0, shape="dumbbell",
                   second_species=Species("asymmetric", 120.0, 0.5), empty_fraction=0.4,
                   n_specks=(4, 10)),
        45, "seen", "two species (180 Å dumbbell, 120 Å asymmetric), 2048 × 1536 px, "
                       "40 % empty ice"),
    "heldout2_large_no_ctf": Dataset(
        sim_config(10, 1600, 1600, 2.0, 14, 280.0, 500.0, ctf_mode="none", empty_fraction=0.3),
        46, "seen", "asymmetric 280 Å at 2.0 Å/px, images without CTF, sparse"),
    "heldout2_very_hard": Dataset(
        sim_config(10, 1800, 1800, 1.0, 30, 150.0, 130.0, shape="dumbbell", ice_gradient=0.6),
        47, "seen", "dumbbell 150 Å at 1.0 Å/px at very low SNR (hard)"),
    # the third batch: defined together, before the second batch's limits were worked on,
    # and run once (held out until then). 20 micrographs each: the LoG subset is sized by
    # particles (select.target_picks), and at 10 micrographs most sets of the earlier batches
    # could not fill it, as no real project of hundreds of micrographs fails to
    "heldout3_ring_small_no_ctf": Dataset(
        sim_config(20, 1600, 1600, 0.9, 45, 120.0, 500.0, shape="ring", ctf_mode="none",
                   n_specks=(4, 10), n_contaminations=(0, 2)),
        51, "seen", "C7 ring 120 Å at 0.9 Å/px, images without CTF"),
    "heldout3_shell_large_flipped": Dataset(
        sim_config(20, 1800, 1800, 1.9, 14, 280.0, 600.0, shape="shell", ctf_mode="flipped",
                   ice_gradient=1.0, n_contaminations=(1, 3)),
        52, "seen", "hollow shell 280 Å at 1.9 Å/px, phase-flipped, ice gradient"),
    "heldout3_dumbbell_dirty": Dataset(
        sim_config(20, 2048, 1600, 0.8, 30, 130.0, 700.0, shape="dumbbell",
                   **DIRTY),
        53, "seen", "dumbbell 130 Å at 0.8 Å/px, 2048 × 1600 px: contamination of every "
                       "size, strong ice gradient, carbon on 3 micrographs"),
    "heldout3_rod_crowded": Dataset(
        sim_config(20, 1700, 1700, 1.4, 45, 220.0, 600.0, shape="elongated", min_separation=0.85,
                   n_specks=(3, 8)),
        54, "seen", "elongated rod 220 Å at 1.4 Å/px, crowded (touching)"),
    "heldout3_two_species_ring": Dataset(
        sim_config(20, 1800, 1800, 1.5, 24, 140.0, 500.0,
                   second_species=Species("ring", 230.0, 0.4), empty_fraction=0.4,
                   ice_gradient=0.8, n_specks=(4, 10)),
        55, "seen", "two species (140 Å asymmetric, 230 Å C7 ring), 40 % empty ice"),
    "heldout3_asym_very_hard": Dataset(
        sim_config(20, 1800, 1800, 1.1, 30, 170.0, 110.0, ice_gradient=0.8),
        56, "seen", "asymmetric 170 Å at 1.1 Å/px at very low SNR (hard)"),
    "heldout3_large_sparse": Dataset(
        sim_config(20, 1800, 1800, 2.0, 10, 300.0, 500.0, shape="dumbbell", empty_fraction=0.5,
                   n_specks=(3, 8)),
        57, "seen", "dumbbell 300 Å at 2.0 Å/px, sparse: half of each micrograph empty ice"),
    # the fourth batch: defined together, after the third batch was run and diagnosed and
    # before any of it was looked at, and run once (held out until then); 20 micrographs each
    "heldout4_rod_small": Dataset(
        sim_config(20, 2048, 2048, 0.75, 35, 110.0, 450.0, shape="elongated", empty_fraction=0.2,
                   n_specks=(4, 10)),
        61, "seen", "elongated rod 110 Å at 0.75 Å/px, 20 % empty ice"),
    "heldout4_asym_nonsquare_carbon": Dataset(
        sim_config(20, 2048, 1440, 1.3, 26, 200.0, 600.0, n_carbon=3, n_contaminations=(1, 3),
                   ice_gradient=0.8),
        62, "seen", "asymmetric 200 Å at 1.3 Å/px, 2048 × 1440 px, carbon on 3 micrographs"),
    "heldout4_two_species_empty": Dataset(
        sim_config(20, 1800, 1800, 1.6, 24, 160.0, 500.0, shape="dumbbell",
                   second_species=Species("elongated", 260.0, 0.35), empty_fraction=0.45,
                   n_specks=(4, 10)),
        63, "seen", "two species (160 Å dumbbell, 260 Å rod), 45 % empty ice"),
    "heldout4_ring_large_hard": Dataset(
        sim_config(20, 1600, 1600, 2.0, 16, 260.0, 180.0, shape="ring", ice_gradient=1.0),
        64, "seen", "C7 ring 260 Å at 2.0 Å/px at low SNR (hard), ice gradient"),
    "heldout4_shell_small_crowded": Dataset(
        sim_config(20, 1800, 1800, 1.0, 55, 120.0, 500.0, shape="shell", min_separation=0.9,
                   n_specks=(3, 8)),
        65, "seen", "hollow shell 120 Å at 1.0 Å/px, crowded (touching)"),
    "heldout4_dumbbell_no_ctf": Dataset(
        sim_config(20, 1800, 1800, 1.2, 26, 200.0, 450.0, shape="dumbbell", ctf_mode="none",
                   ice_gradient=1.2, empty_fraction=0.3),
        66, "seen", "dumbbell 200 Å at 1.2 Å/px, images without CTF, ice gradient, 30 % "
                       "empty ice"),
    "heldout4_asym_dirty_small": Dataset(
        sim_config(20, 1800, 1800, 1.0, 40, 110.0, 800.0, **DIRTY),
        67, "seen", "asymmetric 110 Å at 1.0 Å/px: contamination of every size, strong ice "
                       "gradient, carbon on 3 micrographs"),
    # the fifth batch: defined together, after the fourth batch was run and its blob fallback
    # on images without CTF diagnosed, and run once (held out until then); 20 micrographs each
    "heldout5_asym_small_no_ctf": Dataset(
        sim_config(20, 1800, 1800, 0.8, 40, 100.0, 500.0, ctf_mode="none", n_specks=(4, 10)),
        71, "seen", "asymmetric 100 Å at 0.8 Å/px, images without CTF"),
    "heldout5_dumbbell_large_flipped": Dataset(
        sim_config(20, 1600, 1600, 2.0, 14, 280.0, 500.0, shape="dumbbell", ctf_mode="flipped",
                   ice_gradient=1.0),
        72, "seen", "dumbbell 280 Å at 2.0 Å/px, phase-flipped, ice gradient"),
    "heldout5_two_species_shell": Dataset(
        sim_config(20, 1800, 1800, 1.4, 26, 180.0, 550.0, shape="elongated",
                   second_species=Species("shell", 150.0, 0.4), empty_fraction=0.4,
                   n_specks=(4, 10)),
        73, "seen", "two species (180 Å rod, 150 Å hollow shell), 40 % empty ice"),
    "heldout5_ring_dirty": Dataset(
        sim_config(20, 1800, 1800, 1.2, 28, 180.0, 650.0, shape="ring", **DIRTY),
        74, "seen", "C7 ring 180 Å at 1.2 Å/px: contamination of every size, strong ice "
                       "gradient, carbon on 3 micrographs"),
    "heldout5_rod_nonsquare_no_ctf": Dataset(
        sim_config(20, 2048, 1536, 1.6, 20, 240.0, 450.0, shape="elongated", ctf_mode="none",
                   empty_fraction=0.25),
        75, "seen", "elongated rod 240 Å at 1.6 Å/px, 2048 × 1536 px, images without CTF"),
    "heldout5_asym_hard_crowded": Dataset(
        sim_config(20, 1800, 1800, 1.2, 40, 150.0, 150.0, min_separation=0.9),
        76, "seen", "asymmetric 150 Å at 1.2 Å/px at low SNR (hard), crowded (touching)"),
    "heldout5_shell_large_no_ctf": Dataset(
        sim_config(20, 1800, 1800, 1.8, 16, 260.0, 500.0, shape="shell", ctf_mode="none",
                   empty_fraction=0.3),
        77, "seen", "hollow shell 260 Å at 1.8 Å/px, images without CTF, 30 % empty ice"),
    **LATER_BATCHES,
}

# the simulation of every named data set (simulate_project's `preset`)
PRESETS: dict[str, SimulationConfig] = {name: d.config for name, d in DATASETS.items()}


def datasets_in_split(split: str) -> list[str]:
    """Names of the data sets in ``split`` (``tune``, ``heldout`` or ``seen``), in definition
    order."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    return [name for name, d in DATASETS.items() if d.split == split]
