"""The workflow's 2D-classification stage: config section in, RELION job folder + pictures out."""

from __future__ import annotations

import logging
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from cryopick.classification.job import Class2DJob, run_class2d
from cryopick.classification.params import Class2DConfig, Class2DParams
from cryopick.classification.plots import write_pictures
from cryopick.errors import InputError

__all__ = ["output_root", "refine_command", "run_class2d_stage"]

logger = logging.getLogger(__name__)

_MODEL = re.compile(r"^(?P<root>.+)_it(?P<it>\d{3})_model\.star$")


def output_root(model_star: str | os.PathLike[str], n_iter: int) -> str:
    """``Class2D/LoG/run_it025_model.star`` → ``Class2D/LoG/run`` (checking the iteration)."""
    match = _MODEL.match(str(model_star))
    if not match or int(match["it"]) != n_iter:
        raise InputError(f"{model_star}: expected <root>_it{n_iter:03d}_model.star for "
                         f"n_iter {n_iter}")
    return match["root"]


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
    return cmd


def run_class2d_stage(particles_star: str, config: Mapping[str, object], backend: str,
                      model_star: str, gallery_png: str, convergence_png: str,
                      threads: int = 1, mpi_launcher: str = "mpirun") -> list[str]:
    """Run the configured classification into the job folder of ``model_star``; draw pictures.

    With ``mpi_ranks > 1`` in the config and the launcher available, the classification runs as
    ``<mpi_launcher> -n R python -m cryopick.cli.main refine …`` (``mpirun`` on one machine,
    ``srun`` inside a SLURM job). Returns the equivalent command.
    """
    section = Class2DConfig.from_mapping(config)
    params = section.to_params()
    root = output_root(model_star, params.n_iter)
    command = refine_command(particles_star, root, params, backend, threads)
    launcher = shlex.split(mpi_launcher)
    if section.mpi_ranks > 1 and launcher and shutil.which(launcher[0]):
        full = [*launcher, "-n", str(section.mpi_ranks), sys.executable, "-m",
                "cryopick.cli.main", *command[1:]]
        logger.info("running %s", shlex.join(full))
        subprocess.run(full, check=True)
    else:
        if section.mpi_ranks > 1:
            logger.warning("mpi_ranks %d but no %s on PATH: running in one process",
                           section.mpi_ranks, mpi_launcher)
        run_class2d(Class2DJob(output_root=root, params=params, particles_star=particles_star,
                               backend=backend, command=shlex.join(command[1:])))
    if not Path(model_star).is_file():
        raise InputError(f"{model_star}: the classification did not write it")
    write_pictures(model_star, gallery_png, convergence_png)
    return command
