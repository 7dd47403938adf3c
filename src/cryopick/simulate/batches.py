"""The later held-out batches of the hands-free corpus (the sixth on), each defined together
and committed before it was run; see :mod:`cryopick.simulate.presets` for the splits."""

from __future__ import annotations

from cryopick.simulate.config import Species
from cryopick.simulate.corpus import DIRTY, Dataset, sim_config

__all__ = ["LATER_BATCHES"]

# one entry per data set, alike by design: the simulation, its seed, its split and its point
LATER_BATCHES: dict[str, Dataset] = {
    # the sixth held-out batch: defined together, after the fifth batch was run and the cost
    # of its collapsed 2D classification measured; 20 micrographs each
    "heldout6_shell_small_dirty": Dataset(
        sim_config(20, 1800, 1800, 0.8, 35, 115.0, 600.0, shape="shell", **DIRTY),
        81, "seen", "hollow shell 115 Å at 0.8 Å/px: contamination of every size, strong "
                       "ice gradient, carbon on 3 micrographs"),
    "heldout6_rod_large_flipped": Dataset(
        sim_config(20, 1600, 1600, 2.1, 14, 270.0, 500.0, shape="elongated", ctf_mode="flipped",
                   ice_gradient=0.8),
        82, "seen", "elongated rod 270 Å at 2.1 Å/px, phase-flipped, ice gradient"),
    "heldout6_two_species_ring_empty": Dataset(
        sim_config(20, 1800, 1800, 1.4, 22, 160.0, 550.0,
                   second_species=Species("ring", 200.0, 0.4), empty_fraction=0.45,
                   n_specks=(4, 10)),
        83, "seen", "two species (160 Å asymmetric, 200 Å C7 ring), 45 % empty ice"),
    "heldout6_dumbbell_nonsquare_no_ctf": Dataset(
        sim_config(20, 2048, 1400, 1.1, 24, 170.0, 450.0, shape="dumbbell", ctf_mode="none",
                   ice_gradient=1.0),
        84, "seen", "dumbbell 170 Å at 1.1 Å/px, 2048 × 1400 px, images without CTF"),
    "heldout6_asym_dirty": Dataset(
        sim_config(20, 1800, 1800, 1.3, 26, 180.0, 700.0, **DIRTY),
        85, "seen", "asymmetric 180 Å at 1.3 Å/px: contamination of every size, strong ice "
                       "gradient, carbon on 3 micrographs"),
    "heldout6_ring_crowded_low_snr": Dataset(
        sim_config(20, 1800, 1800, 1.0, 50, 150.0, 200.0, shape="ring", min_separation=0.9),
        86, "seen", "C7 ring 150 Å at 1.0 Å/px at low SNR, crowded (touching)"),
    "heldout6_dumbbell_sparse_carbon": Dataset(
        sim_config(20, 1800, 1800, 1.6, 16, 220.0, 500.0, shape="dumbbell", empty_fraction=0.35,
                   n_carbon=3, n_contaminations=(1, 3)),
        87, "seen", "dumbbell 220 Å at 1.6 Å/px, 35 % empty ice, carbon on 3 micrographs"),
    # the seventh held-out batch: defined together, after the sixth batch was run and its
    # two-species set's templates (all of one species) looked at; 20 micrographs each
    "heldout7_two_species_rod_ring": Dataset(
        sim_config(20, 1800, 1800, 1.3, 24, 200.0, 550.0, shape="elongated",
                   second_species=Species("ring", 170.0, 0.45), empty_fraction=0.4,
                   n_specks=(4, 10)),
        91, "seen", "two species (200 Å rod, 170 Å C7 ring), 40 % empty ice"),
    "heldout7_ring_small_nonsquare_no_ctf": Dataset(
        sim_config(20, 2048, 1536, 0.75, 40, 110.0, 500.0, shape="ring", ctf_mode="none"),
        92, "seen", "C7 ring 110 Å at 0.75 Å/px, 2048 × 1536 px, images without CTF"),
    "heldout7_shell_large_dirty": Dataset(
        sim_config(20, 1600, 1600, 2.0, 14, 260.0, 550.0, shape="shell", **DIRTY),
        93, "seen", "hollow shell 260 Å at 2.0 Å/px: contamination of every size, strong "
                       "ice gradient, carbon on 3 micrographs"),
    "heldout7_dumbbell_crowded": Dataset(
        sim_config(20, 1800, 1800, 1.2, 40, 160.0, 450.0, shape="dumbbell", min_separation=0.9),
        94, "seen", "dumbbell 160 Å at 1.2 Å/px, crowded (touching)"),
    "heldout7_two_species_shell_dumbbell": Dataset(
        sim_config(20, 1800, 1800, 1.5, 22, 140.0, 550.0, shape="shell",
                   second_species=Species("dumbbell", 210.0, 0.35), empty_fraction=0.45,
                   n_contaminations=(1, 3)),
        95, "seen", "two species (140 Å hollow shell, 210 Å dumbbell), 45 % empty ice"),
    "heldout7_asym_low_snr_flipped": Dataset(
        sim_config(20, 1800, 1800, 1.0, 30, 150.0, 250.0, ctf_mode="flipped", ice_gradient=1.0),
        96, "seen", "asymmetric 150 Å at 1.0 Å/px at low SNR, phase-flipped, ice gradient"),
    "heldout7_rod_sparse_carbon": Dataset(
        sim_config(20, 1800, 1800, 1.7, 12, 230.0, 500.0, shape="elongated", empty_fraction=0.3,
                   n_carbon=3, n_contaminations=(1, 3)),
        97, "seen", "elongated rod 230 Å at 1.7 Å/px, sparse, 30 % empty ice, carbon on 3 "
                       "micrographs"),
    # the eighth batch: defined after the seventh was run and looked at
    "heldout8_asym_easy": Dataset(
        sim_config(20, 1800, 1800, 1.1, 30, 180.0, 1500.0, n_contaminations=(0, 1),
                   n_specks=(1, 3), carbon_edge=False),
        101, "seen", "asymmetric 180 Å at 1.1 Å/px at the demo's SNR, clean ice, no carbon"),
    "heldout8_two_species_asym_ring_empty": Dataset(
        sim_config(20, 1800, 1800, 1.25, 22, 140.0, 500.0,
                   second_species=Species("ring", 240.0, 0.4), empty_fraction=0.45,
                   n_specks=(4, 10)),
        102, "seen", "two species (140 Å asymmetric, 240 Å C7 ring), 45 % empty ice"),
    "heldout8_shell_small_nonsquare": Dataset(
        sim_config(20, 2048, 1440, 0.7, 35, 105.0, 700.0, shape="shell"),
        103, "seen", "hollow shell 105 Å at 0.7 Å/px on 2048 × 1440 px micrographs"),
    "heldout8_dumbbell_large_no_ctf": Dataset(
        sim_config(20, 1400, 1400, 2.2, 12, 280.0, 500.0, shape="dumbbell", ctf_mode="none"),
        104, "seen", "dumbbell 280 Å at 2.2 Å/px, images without CTF"),
    "heldout8_rod_dirty": Dataset(
        sim_config(20, 1800, 1800, 1.4, 24, 190.0, 450.0, shape="elongated", **DIRTY),
        105, "seen", "elongated rod 190 Å at 1.4 Å/px: contamination of every size, strong "
                        "ice gradient, carbon on 3 micrographs"),
    "heldout8_ring_crowded_flipped": Dataset(
        sim_config(20, 1800, 1800, 1.0, 45, 150.0, 400.0, shape="ring", min_separation=0.95,
                   ctf_mode="flipped"),
        106, "seen", "C7 ring 150 Å at 1.0 Å/px, crowded (touching), phase-flipped"),
    "heldout8_two_species_rod_shell": Dataset(
        sim_config(20, 1800, 1800, 1.6, 18, 250.0, 350.0, shape="elongated",
                   second_species=Species("shell", 150.0, 0.4), empty_fraction=0.4,
                   n_contaminations=(1, 3)),
        107, "seen", "two species (250 Å rod, 150 Å hollow shell), 40 % empty ice, low SNR"),
    # the ninth batch: defined after the eighth was run and its shell's top view looked at
    "heldout9_ring_small_nonsquare": Dataset(
        sim_config(20, 2048, 1600, 0.8, 40, 120.0, 1200.0, shape="ring", n_contaminations=(0, 2)),
        111, "seen", "C7 ring 120 Å at 0.8 Å/px on 2048 × 1600 px micrographs, near clean"),
    "heldout9_two_species_dumbbell_ring_empty": Dataset(
        sim_config(20, 1800, 1800, 1.4, 20, 190.0, 500.0, shape="dumbbell",
                   second_species=Species("ring", 130.0, 0.4), empty_fraction=0.45),
        112, "seen", "two species (190 Å dumbbell, 130 Å C7 ring), 45 % empty ice"),
    "heldout9_shell_large_no_ctf": Dataset(
        sim_config(20, 1400, 1400, 2.0, 12, 300.0, 450.0, shape="shell", ctf_mode="none"),
        113, "seen", "hollow shell 300 Å at 2.0 Å/px, images without CTF"),
    "heldout9_rod_crowded_flipped": Dataset(
        sim_config(20, 1800, 1800, 1.2, 40, 160.0, 450.0, shape="elongated", min_separation=0.9,
                   ctf_mode="flipped"),
        114, "seen", "elongated rod 160 Å at 1.2 Å/px, crowded (touching), phase-flipped"),
    "heldout9_asym_dirty_low_snr": Dataset(
        sim_config(20, 1800, 1800, 1.5, 22, 220.0, 350.0, **DIRTY),
        115, "seen", "asymmetric 220 Å at 1.5 Å/px at low SNR: contamination of every size, "
                     "strong ice gradient, carbon on 3 micrographs"),
    "heldout9_dumbbell_easy": Dataset(
        sim_config(20, 1800, 1800, 1.0, 30, 150.0, 1400.0, shape="dumbbell", n_specks=(1, 3),
                   carbon_edge=False),
        116, "seen", "dumbbell 150 Å at 1.0 Å/px near the demo's SNR, no carbon"),
    "heldout9_shell_sparse_carbon": Dataset(
        sim_config(20, 1800, 1800, 1.4, 12, 180.0, 500.0, shape="shell", empty_fraction=0.3,
                   n_carbon=3, n_contaminations=(1, 3)),
        117, "seen", "hollow shell 180 Å at 1.4 Å/px, sparse, 30 % empty ice, carbon on 3 "
                     "micrographs"),
    # the tenth batch: defined after the ninth was run and its light second species looked at
    "heldout10_asym_small_fine": Dataset(
        sim_config(20, 1800, 1800, 0.7, 40, 100.0, 600.0, n_contaminations=(1, 3)),
        121, "seen", "asymmetric 100 Å at 0.7 Å/px"),
    "heldout10_two_species_ring_dumbbell_empty": Dataset(
        sim_config(20, 1800, 1800, 1.3, 20, 200.0, 500.0, shape="ring",
                   second_species=Species("dumbbell", 120.0, 0.4), empty_fraction=0.45),
        122, "seen", "two species (200 Å C7 ring, 120 Å dumbbell), 45 % empty ice"),
    "heldout10_rod_large_no_ctf": Dataset(
        sim_config(20, 1400, 1400, 2.2, 12, 280.0, 450.0, shape="elongated", ctf_mode="none"),
        123, "seen", "elongated rod 280 Å at 2.2 Å/px, images without CTF"),
    "heldout10_shell_nonsquare_dirty": Dataset(
        sim_config(20, 2048, 1500, 1.2, 26, 170.0, 600.0, shape="shell", **DIRTY),
        124, "seen", "hollow shell 170 Å at 1.2 Å/px, 2048 × 1500 px: contamination of "
                     "every size, strong ice gradient, carbon on 3 micrographs"),
    "heldout10_dumbbell_crowded_low_snr": Dataset(
        sim_config(20, 1800, 1800, 1.0, 45, 160.0, 250.0, shape="dumbbell", min_separation=0.9),
        125, "seen", "dumbbell 160 Å at 1.0 Å/px at low SNR, crowded (touching)"),
    "heldout10_ring_sparse_flipped": Dataset(
        sim_config(20, 1800, 1800, 1.5, 12, 180.0, 500.0, shape="ring", empty_fraction=0.3,
                   ctf_mode="flipped"),
        126, "seen", "C7 ring 180 Å at 1.5 Å/px, sparse, 30 % empty ice, phase-flipped"),
    "heldout10_asym_gradient_easy": Dataset(
        sim_config(20, 1800, 1800, 1.6, 24, 210.0, 1200.0, ice_gradient=1.5, n_carbon=2),
        127, "seen", "asymmetric 210 Å at 1.6 Å/px, near clean but a strong ice gradient, "
                     "carbon on 2 micrographs"),
    # the eleventh batch: defined after the tenth was run and its easy set's contrast looked at
    "heldout11_rod_small_fine": Dataset(
        sim_config(20, 1800, 1800, 0.75, 40, 110.0, 600.0, shape="elongated"),
        131, "seen", "elongated rod 110 Å at 0.75 Å/px"),
    "heldout11_two_species_shell_asym_empty": Dataset(
        sim_config(20, 1800, 1800, 1.4, 20, 220.0, 500.0, shape="shell",
                   second_species=Species("asymmetric", 140.0, 0.4), empty_fraction=0.45),
        132, "seen", "two species (220 Å hollow shell, 140 Å asymmetric), 45 % empty ice"),
    "heldout11_dumbbell_large_no_ctf": Dataset(
        sim_config(20, 1400, 1400, 2.1, 12, 260.0, 450.0, shape="dumbbell", ctf_mode="none"),
        133, "seen", "dumbbell 260 Å at 2.1 Å/px, images without CTF"),
    "heldout11_ring_nonsquare_gradient": Dataset(
        sim_config(20, 2048, 1400, 1.1, 30, 160.0, 600.0, shape="ring", ice_gradient=1.5),
        134, "seen", "C7 ring 160 Å at 1.1 Å/px, 2048 × 1400 px, strong ice gradient"),
    "heldout11_asym_crowded_flipped": Dataset(
        sim_config(20, 1800, 1800, 1.2, 45, 170.0, 400.0, min_separation=0.9,
                   ctf_mode="flipped"),
        135, "seen", "asymmetric 170 Å at 1.2 Å/px, crowded (touching), phase-flipped"),
    "heldout11_shell_dirty_low_snr": Dataset(
        sim_config(20, 1800, 1800, 1.5, 22, 190.0, 300.0, shape="shell", **DIRTY),
        136, "seen", "hollow shell 190 Å at 1.5 Å/px at low SNR: contamination of every "
                     "size, strong ice gradient, carbon on 3 micrographs"),
    "heldout11_asym_easy_sparse": Dataset(
        sim_config(20, 1800, 1800, 1.3, 14, 180.0, 1300.0, empty_fraction=0.3),
        137, "seen", "asymmetric 180 Å at 1.3 Å/px near the demo's SNR, sparse, 30 % empty "
                     "ice"),
    # the twelfth batch: defined after the eleventh was run with RELION's chain and its shell's
    # flat-rimmed view looked at
    "heldout12_dumbbell_small_fine": Dataset(
        sim_config(20, 1800, 1800, 0.8, 40, 115.0, 600.0, shape="dumbbell"),
        141, "seen", "dumbbell 115 Å at 0.8 Å/px"),
    "heldout12_two_species_ring_shell_empty": Dataset(
        sim_config(20, 1800, 1800, 1.3, 22, 170.0, 600.0, shape="ring",
                   second_species=Species("shell", 130.0, 0.4), empty_fraction=0.45),
        142, "seen", "two species (170 Å C7 ring, 130 Å hollow shell), 45 % empty ice"),
    "heldout12_rod_large_no_ctf": Dataset(
        sim_config(20, 1400, 1400, 2.0, 12, 270.0, 450.0, shape="elongated", ctf_mode="none"),
        143, "seen", "elongated rod 270 Å at 2.0 Å/px, images without CTF"),
    "heldout12_shell_nonsquare_sparse": Dataset(
        sim_config(20, 2048, 1536, 1.2, 14, 160.0, 900.0, shape="shell", empty_fraction=0.3),
        144, "seen", "hollow shell 160 Å at 1.2 Å/px, 2048 × 1536 px, sparse, 30 % empty ice"),
    "heldout12_asym_dirty": Dataset(
        sim_config(20, 1800, 1800, 1.6, 22, 200.0, 500.0, **DIRTY),
        145, "seen", "asymmetric 200 Å at 1.6 Å/px: contamination of every size, strong ice "
                        "gradient, carbon on 3 micrographs"),
    "heldout12_ring_crowded_low_snr": Dataset(
        sim_config(20, 1800, 1800, 1.1, 45, 150.0, 300.0, shape="ring", min_separation=0.9),
        146, "seen", "C7 ring 150 Å at 1.1 Å/px at low SNR, crowded (touching)"),
    "heldout12_dumbbell_gradient_flipped": Dataset(
        sim_config(20, 1800, 1800, 1.4, 24, 190.0, 800.0, shape="dumbbell", ice_gradient=1.5,
                   ctf_mode="flipped"),
        147, "seen", "dumbbell 190 Å at 1.4 Å/px, strong ice gradient, phase-flipped"),
    # the thirteenth batch: defined after RELION's oracle was made to tune its noise filter and
    # re-read on the eleventh and twelfth batches
    "heldout13_asym_small_fine": Dataset(
        sim_config(20, 1800, 1800, 0.7, 40, 105.0, 600.0),
        151, "heldout", "asymmetric 105 Å at 0.7 Å/px"),
    "heldout13_two_species_rod_dumbbell_empty": Dataset(
        sim_config(20, 1800, 1800, 1.4, 20, 230.0, 600.0, shape="elongated",
                   second_species=Species("dumbbell", 140.0, 0.4), empty_fraction=0.45),
        152, "heldout", "two species (230 Å rod, 140 Å dumbbell), 45 % empty ice"),
    "heldout13_ring_large_no_ctf": Dataset(
        sim_config(20, 1400, 1400, 2.0, 12, 280.0, 500.0, shape="ring", ctf_mode="none"),
        153, "heldout", "C7 ring 280 Å at 2.0 Å/px, images without CTF"),
    "heldout13_dumbbell_dirty_low_snr": Dataset(
        sim_config(20, 1800, 1800, 1.6, 22, 200.0, 350.0, shape="dumbbell", **DIRTY),
        154, "heldout", "dumbbell 200 Å at 1.6 Å/px at low SNR: contamination of every size, "
                        "strong ice gradient, carbon on 3 micrographs"),
    "heldout13_rod_crowded_flipped": Dataset(
        sim_config(20, 1800, 1800, 1.2, 40, 180.0, 450.0, shape="elongated",
                   min_separation=0.9, ctf_mode="flipped"),
        155, "heldout", "elongated rod 180 Å at 1.2 Å/px, crowded (touching), phase-flipped"),
    "heldout13_shell_nonsquare_gradient": Dataset(
        sim_config(20, 2048, 1500, 1.2, 24, 170.0, 600.0, shape="shell", ice_gradient=1.5),
        156, "heldout", "hollow shell 170 Å at 1.2 Å/px, 2048 × 1500 px, strong ice gradient"),
    "heldout13_asym_sparse_carbon": Dataset(
        sim_config(20, 1800, 1800, 1.4, 14, 190.0, 900.0, empty_fraction=0.3, n_carbon=2),
        157, "heldout", "asymmetric 190 Å at 1.4 Å/px, sparse, 30 % empty ice, carbon on 2 "
                        "micrographs"),
}
