"""The equivalent ``cryopick`` command lines (RELION's flags) of parameter records.

The inverse of ``cryopick.cli``, which maps flags to the same records: every job's
``note.txt`` states the command that reproduces it, and a 2D classification with several MPI
ranks is started from its command line (:func:`mpi_command`).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the records' modules load on use: a short job imports only its own stage
    from cryopick.classification.params import Class2DParams
    from cryopick.extraction import CoordinateFiles, CoordinateList, ExtractJob, ExtractParams
    from cryopick.picking.job import AutopickJob
    from cryopick.picking.log import LogPickParams
    from cryopick.picking.template import TemplatePickParams
    from cryopick.picking.template_job import TemplateSpec

__all__ = ["log_command", "mpi_command", "preprocess_command", "refine_command",
           "select_command", "select_templates_command", "template_command"]


def log_command(micrographs_star: str, params: LogPickParams, job: AutopickJob) -> list[str]:
    """The ``cryopick autopick`` command line (RELION flags) that reproduces a LoG job."""
    from cryopick.picking.log import LogPickParams

    cmd = ["cryopick", "autopick", "--i", str(micrographs_star), "--odir", job.odir,
           "--pickname", job.pickname, "--LoG",
           "--LoG_diam_min", f"{params.diameter_min_a:g}",
           "--LoG_diam_max", f"{params.diameter_max_a:g}",
           "--shrink", f"{params.shrink:g}", "--lowpass", f"{params.lowpass_a:g}",
           "--LoG_adjust_threshold", f"{params.threshold_adjust:g}",
           "--LoG_upper_threshold", f"{params.threshold_upper:g}"]
    if params.particles_white:
        cmd.append("--Log_invert")
    defaults = LogPickParams(params.diameter_min_a, params.diameter_max_a)
    extra = {"LoG_neighbour": "neighbour_percent", "Log_max_search": "max_search",
             "outlier_removal_zscore": "outlier_zscore", "skip_side": "skip_side",
             "random_seed": "random_seed"}
    for flag, field in extra.items():
        if getattr(params, field) != getattr(defaults, field):
            cmd += [f"--{flag}", f"{getattr(params, field):g}"]
    if not params.optimise_size:
        cmd.append("--skip_optimise_scale")
    if params.seed_by_name:
        cmd.append("--seed_by_name")
    if params.drop_border_picks:
        cmd.append("--LoG_drop_border_picks")
    if params.max_stddev_noise > 0 or params.min_avg_noise > -900 or params.auto_noise_mads > 0:
        cmd += ["--LoG_noise_filters", "--max_stddev_noise", f"{params.max_stddev_noise:g}",
                "--min_avg_noise", f"{params.min_avg_noise:g}"]
        if params.auto_noise_mads > 0:
            cmd += ["--auto_noise_mads", f"{params.auto_noise_mads:g}"]
    cmd += ["--j", str(job.jobs), "--backend", job.backend]
    if job.png_dir:
        cmd += ["--png_dir", job.png_dir]
    return cmd


def template_command(micrographs_star: str, params: TemplatePickParams, spec: TemplateSpec,
                     job: AutopickJob) -> list[str]:
    """The ``cryopick autopick`` command line (RELION flags) that reproduces a template job."""
    cmd = ["cryopick", "autopick", "--i", str(micrographs_star), "--odir", job.odir,
           "--pickname", job.pickname, "--ref", spec.references,
           "--ang", f"{params.angular_sampling_deg:g}", "--lowpass", f"{params.lowpass_a:g}",
           "--shrink", f"{params.shrink:g}", "--threshold", f"{params.threshold:g}",
           "--min_distance", f"{params.min_distance_a:g}",
           "--max_stddev_noise", f"{params.max_stddev_noise:g}"]
    optional = [("--angpix_ref", spec.angpix_ref, 0), ("--particle_diameter",
                 spec.particle_diameter_a, 0), ("--highpass", params.highpass_a, 0)]
    cmd += [item for flag, value, floor in optional if value > floor
            for item in (flag, f"{value:g}")]
    if params.min_avg_noise > -900:
        cmd += ["--min_avg_noise", f"{params.min_avg_noise:g}"]
    if params.auto_noise_mads > 0:
        cmd += ["--auto_noise_mads", f"{params.auto_noise_mads:g}"]
    if params.auto_noise_pick_mads > 0:
        cmd += ["--auto_noise_pick_mads", f"{params.auto_noise_pick_mads:g}"]
    flags = [("--invert", spec.invert), ("--ctf", params.ctf),
             ("--ctf_intact_first_peak", params.ctf_intact_first_peak),
             ("--write_fom_maps", spec.write_fom_maps), ("--read_fom_maps", spec.read_fom_maps),
             ("--skip_optimise_scale", not params.optimise_size),
             ("--seed_by_name", spec.seed_by_name),
             ("--deterministic_fom_scale", params.deterministic_fom_scale)]
    cmd += [flag for flag, on in flags if on]
    if params.random_seed != 1:
        cmd += ["--random_seed", str(params.random_seed)]
    cmd += ["--j", str(job.jobs), "--backend", job.backend]
    if job.png_dir:
        cmd += ["--png_dir", job.png_dir]
    return cmd


def preprocess_command(micrographs_star: str, source: CoordinateFiles | CoordinateList,
                       params: ExtractParams, job: ExtractJob) -> list[str]:
    """The ``cryopick preprocess`` command line (RELION flags) that reproduces a job."""
    from cryopick.extraction import CoordinateList

    cmd = ["cryopick", "preprocess", "--i", str(micrographs_star)]
    if isinstance(source, CoordinateList):
        cmd += ["--coord_list", str(source.path)]
    else:
        if source.coord_dir is not None:
            cmd += ["--coord_dir", source.coord_dir]
        cmd += ["--coord_suffix", source.suffix]
    cmd += ["--part_star", job.part_star, "--part_dir", job.part_dir, "--extract",
            "--extract_size", str(params.box_size_px)]
    if params.rescale:
        cmd += ["--scale", str(params.final_size_px)]
    if params.normalise:
        cmd += ["--norm", "--bg_radius", str(params.bg_radius_px),
                "--white_dust", f"{params.white_dust:g}", "--black_dust", f"{params.black_dust:g}"]
        if not params.ramp:
            cmd.append("--no_ramp")
    if params.invert_contrast:
        cmd.append("--invert_contrast")
    if job.only_unfinished:
        cmd.append("--only_do_unfinished")
    if params.random_seed != 1:
        cmd += ["--random_seed", str(params.random_seed)]
    return cmd + ["--j", str(job.jobs), "--backend", job.backend]


def refine_command(particles_star: str, root: str, params: Class2DParams, backend: str,
                   threads: int) -> list[str]:
    """The ``cryopick refine`` command line (relion_refine's flags) of a stage run."""
    cmd = ["cryopick", "refine", "--o", root, "--i", str(particles_star),
           "--dont_combine_weights_via_disc", "--pool", "30", "--pad", "2",
           "--iter", str(params.n_iter), "--tau2_fudge", f"{params.tau2_fudge:g}",
           "--particle_diameter", f"{params.particle_diameter_a:g}", "--K",
           str(params.n_classes), "--flatten_solvent", "--oversampling", "1",
           "--psi_step", f"{params.psi_step_deg:g}", "--offset_range",
           f"{params.offset_range_px:g}", "--offset_step", f"{params.offset_step_px:g}",
           "--norm", "--scale", "--j", str(threads), "--random_seed", str(params.random_seed),
           "--backend", backend]
    switches = [("--ctf", params.ctf), ("--ctf_intact_first_peak", params.ctf_intact_first_peak),
                ("--zero_mask", params.zero_mask), ("--fast_subsets", params.fast_subsets),
                ("--preread_images", params.preread_images),
                ("--center_classes", params.center_classes)]
    cmd += [flag for flag, on in switches if on]
    if params.strict_highres_exp_a > 0:
        cmd += ["--strict_highres_exp", f"{params.strict_highres_exp_a:g}"]
    if params.stop_when_collapsed > 0:
        cmd += ["--stop_when_collapsed", f"{params.stop_when_collapsed:g}"]
    return cmd


def mpi_command(launcher: Sequence[str], ranks: int, command: Sequence[str]) -> list[str]:
    """``command`` (a ``cryopick …`` line) started on ``ranks`` MPI ranks by ``launcher``
    (``mpirun`` on one machine, ``srun`` inside a SLURM job), with this Python."""
    return [*launcher, "-n", str(ranks), sys.executable, "-m", "cryopick.cli.main",
            *command[1:]]


def select_command(micrographs_star: str) -> list[str]:
    """The line that names a subset-selection job in its ``note.txt`` (no ``cryopick``
    subcommand runs it: the job's config section says what it did)."""
    return ["cryopick-select", "--i", str(micrographs_star)]


def select_templates_command(model_star: str) -> list[str]:
    """The line that names a template-selection job in its ``note.txt`` (as
    :func:`select_command`)."""
    return ["cryopick-select-templates", "--i", str(model_star)]
