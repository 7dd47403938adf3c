"""The workflow's 2D-classification stage: config section in, RELION job folder + pictures out."""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import re
import shlex
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

from cryopick.classification.job import Class2DJob, continued_params, run_class2d
from cryopick.classification.params import Class2DConfig
from cryopick.classification.plots import write_pictures
from cryopick.commands import mpi_command, refine_command
from cryopick.errors import InputError

__all__ = ["auto_n_classes", "output_root", "resume_point", "run_class2d_stage"]

logger = logging.getLogger(__name__)

_MODEL = re.compile(r"^(?P<root>.+)_it(?P<it>\d{3})_model\.star$")
_OPTIMISER = re.compile(r"_it(?P<it>\d{3})_optimiser\.star$")
RESUME_KEY = ".cryopick-resume"  # in the job folder: what the iterations there were made from


def output_root(model_star: str | os.PathLike[str], n_iter: int) -> str:
    """``Class2D/LoG/run_it025_model.star`` → ``Class2D/LoG/run`` (checking the iteration)."""
    match = _MODEL.match(str(model_star))
    if not match or int(match["it"]) != n_iter:
        raise InputError(f"{model_star}: expected <root>_it{n_iter:03d}_model.star for "
                         f"n_iter {n_iter}")
    return match["root"]


def run_key(particles_star: str, command: list[str]) -> str:
    """A digest of what a run's iterations depend on: the particles STAR text, the size and
    modification time of every stack it names, and the command (every option)."""
    digest = hashlib.sha256(Path(particles_star).read_bytes())
    stacks = sorted({line.split("@", 1)[1].split()[0] for line in
                     Path(particles_star).read_text().splitlines() if "@" in line})
    for stack in stacks:
        info = Path(stack).stat() if Path(stack).is_file() else None
        digest.update(f"{stack} {info and info.st_size} {info and info.st_mtime_ns}\n".encode())
    digest.update(shlex.join(command).encode())
    return digest.hexdigest()


def resume_point(root: str, key: str, n_iter: int) -> str | None:
    """The last complete iteration's ``_optimiser.star`` of an interrupted run, or None.

    An iteration is complete when its ``_optimiser.star`` exists: it is renamed into place
    last. Iterations are resumed only when the job folder's key matches ``key`` (same
    particles, stacks and options); otherwise the old iteration files are removed. Staged
    (temporary) files of an iteration killed while being written are removed either way.
    """
    folder = Path(root).parent
    stamp = folder / RESUME_KEY
    pattern = f"{Path(root).name}_it*"
    for leftover in folder.glob(f".{pattern}.tmp*"):  # staged files of a killed iteration
        leftover.unlink()
    old = sorted(folder.glob(pattern))
    if stamp.is_file() and stamp.read_text().strip() == key:
        done = sorted(int(m["it"]) for p in old if (m := _OPTIMISER.search(p.name)))
        done = [it for it in done if 0 < it < n_iter]
        return f"{root}_it{done[-1]:03d}_optimiser.star" if done else None
    for path in old:  # iterations of another run (other particles or options): start afresh
        path.unlink()
    folder.mkdir(parents=True, exist_ok=True)
    stamp.write_text(key + "\n")
    return None


PARTICLES_PER_CLASS = 40  # n_classes auto: K from the particle count ...
AUTO_K_RANGE = (6, 50)  # ... within these bounds


def auto_n_classes(n_particles: int) -> int:
    """K for ``n_classes: auto``: one class per 40 particles, at least 6 and at most 50."""
    low, high = AUTO_K_RANGE
    return int(min(high, max(low, n_particles // PARTICLES_PER_CLASS)))


def _resolve_auto(particles_star: str, config: Mapping[str, object]) -> dict[str, object]:
    config = dict(config)
    if config.get("n_classes") == "auto":
        from cryopick.io.star import read_star

        particles = read_star(particles_star).get("particles")
        n = 0 if particles is None else len(particles)
        config["n_classes"] = auto_n_classes(n)
        logger.info("n_classes auto: K %d for %d particles", config["n_classes"], n)
    return config


def run_class2d_stage(particles_star: str, config: Mapping[str, object], backend: str,
                      model_star: str, gallery_png: str, convergence_png: str,
                      threads: int = 1, mpi_launcher: str = "mpirun",
                      decisions: list[str] | None = None) -> list[str]:
    """Run the configured classification into the job folder of ``model_star``; draw pictures.

    With ``mpi_ranks > 1`` in the config and the launcher available, the classification runs as
    ``<mpi_launcher> -n R python -m cryopick.cli.main refine …`` (``mpirun`` on one machine,
    ``srun`` inside a SLURM job). ``n_classes: auto`` takes K from the particle count
    (:func:`auto_n_classes`). With ``rerun_when_collapsed`` F, a CTF-corrected run stops once
    one class holds F of the particles; its files move to ``collapsed/`` and the same particles
    are classified again with the CTFs ignored until their first peak (RELION's remedy), into
    the job's usual files. Returns the equivalent command of the run that wrote
    ``model_star``; what was decided is appended to ``decisions``.
    """
    from cryopick.backend import runs_on_host

    jobs = threads if runs_on_host(backend) else 1  # the two pictures side by side
    section = Class2DConfig.from_mapping(_resolve_auto(particles_star, config))
    command = _classify(particles_star, section, backend, model_star, threads, mpi_launcher)
    note = ""
    if not Path(model_star).is_file():
        stopped = _set_aside_collapsed(model_star, section, jobs)
        line = (f"the CTF-corrected classification collapsed: at iteration {stopped[0]} one "
                f"class held {stopped[1]:.1%} of the particles (rerun_when_collapsed "
                f"{section.rerun_when_collapsed:g}); it stopped there ({stopped[2]}/) and the "
                "same particles were classified again ignoring the CTFs until their first peak")
        logger.warning("%s", line)
        if decisions is not None:
            decisions.append(line)
        note = (f"CTFs ignored until their first peak: the CTF-corrected run collapsed at "
                f"iteration {stopped[0]} (collapsed/classes.png)")
        section = dataclasses.replace(section, ctf_intact_first_peak=True)
        command = _classify(particles_star, section, backend, model_star, threads, mpi_launcher)
    if not Path(model_star).is_file():
        raise InputError(f"{model_star}: the classification did not write it")
    write_pictures(model_star, gallery_png, convergence_png, jobs=jobs, note=note)
    return command


def _classify(particles_star: str, section: Class2DConfig, backend: str, model_star: str,
              threads: int, mpi_launcher: str) -> list[str]:
    """One classification run (resumed where an interrupted one stopped); its command."""
    params = section.to_params()
    root = output_root(model_star, params.n_iter)
    command = refine_command(particles_star, root, params, backend, threads)
    resume = resume_point(root, run_key(particles_star, command), params.n_iter)
    run_command = command
    if resume:
        logger.info("resuming the interrupted run from %s", resume)
        run_command = [*command, "--continue", resume]
    launcher = shlex.split(mpi_launcher)
    if section.mpi_ranks > 1 and launcher and shutil.which(launcher[0]):
        full = mpi_command(launcher, section.mpi_ranks, run_command)
        logger.info("running %s", shlex.join(full))
        subprocess.run(full, check=True)
    else:
        if section.mpi_ranks > 1:
            logger.warning("mpi_ranks %d but no %s on PATH: running in one process",
                           section.mpi_ranks, mpi_launcher)
        if resume:
            params = continued_params(resume, dataclasses.asdict(params))
        run_class2d(Class2DJob(output_root=root, params=params, particles_star=particles_star,
                               continue_from=resume, backend=backend,
                               command=shlex.join(run_command[1:]), threads=threads))
    return command


def _set_aside_collapsed(model_star: str, section: Class2DConfig,
                         jobs: int) -> tuple[int, float, str]:
    """Move the iterations of a run stopped as collapsed to ``collapsed/`` (with its gallery
    and convergence plot); returns (its last iteration, the largest class share, the folder).
    A run that stopped early without collapsing is an error."""
    from cryopick.io.star import read_star

    root = output_root(model_star, int(section.n_iter))
    folder = Path(root).parent
    models = sorted(folder.glob(f"{Path(root).name}_it*_model.star"))
    last = models[-1] if models else None
    share = 0.0
    if last is not None:
        share = float(read_star(last)["model_classes"]["rlnClassDistribution"].max())
    if last is None or not 0 < section.rerun_when_collapsed <= share:
        raise InputError(f"{model_star}: the classification did not write it")
    aside = folder / "collapsed"
    shutil.rmtree(aside, ignore_errors=True)
    aside.mkdir()
    write_pictures(str(last), str(aside / "classes.png"), str(aside / "convergence.png"),
                   jobs=jobs)
    for path in folder.glob(f"{Path(root).name}_it*"):  # kept for the record
        path.rename(aside / path.name)
    return int(_MODEL.match(str(last))["it"]), share, str(aside)
