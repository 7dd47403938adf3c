"""The equivalent command lines of note.txt (cryopick.commands) are the inverse of the
command-line door: parsed back by ``cryopick``'s own parsers they give the same records."""

from __future__ import annotations

import sys

from cryopick.classification.params import Class2DParams
from cryopick.cli import autopick, preprocess, refine
from cryopick.commands import log_command, mpi_command, preprocess_command, template_command
from cryopick.extraction import CoordinateFiles, ExtractJob, ExtractParams
from cryopick.picking.job import AutopickJob
from cryopick.picking.log import LogPickParams
from cryopick.picking.template import TemplatePickParams
from cryopick.picking.template_job import TemplateSpec

JOB = AutopickJob(odir="AutoPick/job006/", backend="numpy", jobs=3, png_dir="AutoPick/pics")


def test_log_command_parses_back_to_the_same_job():
    params = LogPickParams(150.0, 180.0, particles_white=True, lowpass_a=20.0, shrink=0.0,
                           threshold_adjust=0.3, threshold_upper=5.0, neighbour_percent=90.0,
                           skip_side=4, optimise_size=False, seed_by_name=True,
                           max_stddev_noise=1.5, min_avg_noise=-0.5, auto_noise_mads=2.5,
                           drop_border_picks=True)
    cmd = log_command("Select/5mics/micrographs_selected.star", params, JOB)
    assert cmd[:2] == ["cryopick", "autopick"]
    args = autopick.build_parser().parse_args(cmd[2:])
    assert autopick.log_params(args) == params
    assert (args.i, args.odir, args.j, args.backend, args.png_dir) == (
        "Select/5mics/micrographs_selected.star", JOB.odir, 3, "numpy", JOB.png_dir)


def test_template_command_parses_back_to_the_same_job():
    params = TemplatePickParams(lowpass_a=20.0, highpass_a=500.0, angular_sampling_deg=5.0,
                                ctf=True, ctf_intact_first_peak=True, shrink=0.0,
                                threshold=0.4, min_distance_a=100.0, max_stddev_noise=2.0,
                                min_avg_noise=-0.3, random_seed=3, optimise_size=False,
                                auto_noise_mads=2.5, auto_noise_pick_mads=3.5,
                                deterministic_fom_scale=True)
    spec = TemplateSpec(references="Select/t/class_averages.star", angpix_ref=3.54,
                        particle_diameter_a=200.0, invert=True, write_fom_maps=True,
                        seed_by_name=True)
    cmd = template_command("mics.star", params, spec, JOB)
    assert autopick.template_params(autopick.build_parser().parse_args(cmd[2:])) == \
        (params, spec)


def test_preprocess_command_parses_back_to_the_same_job():
    params = ExtractParams(box_size_px=256, rescaled_size_px=64, normalise=True,
                           bg_radius_px=25, white_dust=5.0, black_dust=4.0,
                           invert_contrast=True)
    job = ExtractJob(part_dir="Extract/LoG/", part_star="Extract/LoG/particles.star",
                     backend="numpy", jobs=2)
    source = CoordinateFiles(coord_dir="AutoPick/LoG/", suffix="_autopick.star")
    cmd = preprocess_command("mics.star", source, params, job)
    args = preprocess.build_parser().parse_args(cmd[2:])
    assert (args.coord_dir, args.coord_suffix, args.part_dir, args.part_star, args.j) == (
        "AutoPick/LoG/", "_autopick.star", "Extract/LoG/", "Extract/LoG/particles.star", 2)
    assert (args.extract_size, args.scale, args.bg_radius, args.white_dust, args.black_dust,
            args.invert_contrast, args.norm) == (256, 64, 25, 5.0, 4.0, True, True)


def test_refine_command_parses_back_to_the_same_options():
    from cryopick.classification.params import Class2DConfig
    from cryopick.commands import refine_command

    params = Class2DConfig(n_classes=12, ctf=True, rerun_when_collapsed=0.98).to_params()
    assert params.stop_when_collapsed == 0.98  # CTF-corrected, nothing ignored: it may stop
    cmd = refine_command("p.star", "Class2D/LoG/run", params, "numpy", 2)
    args = refine.build_parser().parse_args(cmd[2:])
    assert Class2DParams(**refine._given(args)) == params
    # RELION's own line (no cryopick option) never stops early; nor does the rerun
    assert Class2DConfig(n_classes=12).to_params().stop_when_collapsed == 0
    assert Class2DConfig(n_classes=12, ctf=True, ctf_intact_first_peak=True,
                         rerun_when_collapsed=0.98).to_params().stop_when_collapsed == 0


def test_mpi_command_starts_the_same_program_on_each_rank():
    cmd = ["cryopick", "refine", "--i", "p.star", "--K", "4"]
    assert mpi_command(["srun", "--mpi=pmix"], 4, cmd) == [
        "srun", "--mpi=pmix", "-n", "4", sys.executable, "-m", "cryopick.cli.main",
        "refine", "--i", "p.star", "--K", "4"]
