"""Watch mode: rerun the workflow whenever the micrograph STAR file changes (micrographs
arriving during collection), one log line per cycle.

Snakemake runs as a child process. SIGINT or SIGTERM, between or during cycles, is passed on
to it and waited for: Snakemake stops its jobs and every output is written under a temporary
name and renamed, so nothing is left half-written, and the next start resumes (the
per-micrograph work done is kept, :mod:`cryopick.workflow.incremental`). A floor below both
doors: ``cryopick watch`` (cli) and the workflow may call it; it starts Snakemake, never a
stage.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import yaml

from cryopick.errors import InputError

__all__ = ["WatchOptions", "default_snakefile", "watch"]

logger = logging.getLogger(__name__)

DEMO_STAR = "CtfFind/job003/micrographs_ctf.star"  # micrographs_star: demo (rules/common.smk)


def default_snakefile() -> Path:
    """The workflow's Snakefile, beside the package in the source tree."""
    return Path(__file__).resolve().parents[2] / "Snakefile"


@dataclasses.dataclass(frozen=True)
class WatchOptions:
    """What ``cryopick watch`` runs, and how often."""

    project: Path  # the RELION project directory (Snakemake's --directory)
    configfile: Path
    every_s: float = 60.0  # seconds between looks at the micrograph STAR file
    profile: str | None = None  # a Snakemake profile (e.g. profiles/slurm), else local cores
    cores: int = 2
    cycles: int | None = None  # stop after this many cycles (None: until interrupted)
    snakefile: Path = dataclasses.field(default_factory=default_snakefile)


def _config(options: WatchOptions) -> dict:
    """The config the workflow sees: the defaults beside the Snakefile, then the user's file."""
    def load(path: Path) -> dict:
        try:
            return yaml.safe_load(path.read_text()) or {}
        except (OSError, yaml.YAMLError) as err:
            raise InputError(f"{path}: cannot read the config ({err})") from err

    config = load(options.snakefile.parent / "config" / "config.yaml")
    for key, value in load(options.configfile).items():
        config[key] = {**config[key], **value} if isinstance(value, dict) and isinstance(
            config.get(key), dict) else value
    return config


def _count_rows(path: Path, block: str, label: str) -> int:
    """Rows of ``block`` in a STAR file (0 when it does not exist yet)."""
    if not path.is_file():
        return 0
    from cryopick.io.loop import read_star_loops

    table = read_star_loops(path).get(block)
    return 0 if table is None else len(table[label])


def _tally(project: Path, config: dict) -> tuple[int, int, int, int]:
    """Micrographs listed, micrographs template-picked, their picks and the final particles,
    from the files written."""
    from cryopick.io.star import read_star

    star = config["micrographs_star"]
    mics = _count_rows(project / (DEMO_STAR if star == "demo" else star), "micrographs",
                       "rlnMicrographName")
    summary = project / config["aliases"]["autopick_template"] / "summary.star"
    table = read_star(summary)[""] if summary.is_file() and summary.stat().st_size else None
    picked = 0 if table is None else len(table)
    picks = 0 if table is None else int(table["rlnGroupNrParticles"].sum())
    particles = _count_rows(project / config["aliases"]["extract_template"] / "particles.star",
                            "particles", "rlnImageName")
    return mics, picked, picks, particles


def _stamp(path: Path) -> tuple[int, int] | None:
    """Size and modification time of the micrograph STAR file (None while it is missing)."""
    try:
        return path.stat().st_size, path.stat().st_mtime_ns
    except FileNotFoundError:
        return None


def _snakemake_command(options: WatchOptions) -> list[str]:
    command = [sys.executable, "-m", "snakemake", "-s", str(options.snakefile), "--directory",
               str(options.project), "--configfile", str(options.configfile),
               "--rerun-incomplete", "--quiet", "progress"]
    return command + (["--profile", options.profile] if options.profile
                      else ["--cores", str(options.cores)])


class _Stop:
    """SIGINT/SIGTERM: remember it, pass it on to the running child, wake the waiting loop."""

    def __init__(self):
        self.event, self.child = threading.Event(), None

    def __call__(self, signum, frame) -> None:
        self.event.set()
        if self.child is not None and self.child.poll() is None:
            os.killpg(self.child.pid, signal.SIGTERM)


def _print(line: str) -> None:
    print(line, flush=True)


def watch(options: WatchOptions, emit: Callable[[str], None] = _print) -> int:
    """Rerun the workflow in ``options.project`` whenever its micrograph STAR file changes
    (and once at start), until interrupted or ``options.cycles`` cycles; ``emit`` gets one
    line per cycle. Returns 0, or the status of a Snakemake run that failed on the last cycle.
    """
    project = options.project
    if not project.is_dir():
        raise InputError(f"{project}: project directory not found")
    config = _config(options)
    star = config["micrographs_star"]
    star_path = project / (DEMO_STAR if star == "demo" else star)
    stop = _Stop()
    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    listed, picked = _tally(project, config)[:2]
    stamp, status, cycle = None, 0, 0
    try:
        while not stop.event.is_set() and (options.cycles is None or cycle < options.cycles):
            cycle += 1
            started = time.perf_counter()
            now = _stamp(star_path)
            if now == stamp and status == 0:
                emit(f"cycle {cycle}: no new micrographs ({listed} listed)")
            else:
                stop.child = subprocess.Popen(_snakemake_command(options), stdout=sys.stderr,
                                              start_new_session=True)  # stdout: cycle lines
                status = stop.child.wait()
                stop.child, stamp = None, now
                mics, now_picked, picks, particles = _tally(project, config)
                emit(f"cycle {cycle}: {max(now_picked - picked, 0)} new micrograph(s) picked, "
                     f"{mics} in all; "
                     f"{picks} picks, {particles} particles; {time.perf_counter() - started:.1f} s"
                     + (f"; snakemake exited with status {status}" if status else "")
                     + ("; stopped" if stop.event.is_set() else ""))
                listed, picked = mics, now_picked
            if options.cycles is None or cycle < options.cycles:
                stop.event.wait(options.every_s)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0 if stop.event.is_set() else status
