"""Helpers shared by the Snakemake adapters in ``scripts/``: logging, job notes, resuming."""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import logging
import os
import platform
import re
import shlex
import shutil
import sys
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

import yaml

from cryopick import __version__
from cryopick.errors import atomic_output

__all__ = ["end_attempt", "job_key", "log_to_file", "picking_shard", "publish_pictures",
           "resource_advice", "resumable_shard", "start_attempt", "write_note"]

logger = logging.getLogger(__name__)


def log_to_file(path: str | os.PathLike[str]) -> None:
    """Send cryopick's log lines to a job's log file (and keep them on stderr)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(message)s", datefmt="%H:%M:%S")
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    for handler in (logging.FileHandler(path, mode="w"), logging.StreamHandler(sys.stderr)):
        handler.setFormatter(fmt)
        root.addHandler(handler)


def write_note(job_dir: str | os.PathLike[str], command: list[str],
               config_slice: Mapping[str, object], decisions: list[str] | None = None) -> None:
    """Write ``note.txt`` (RELION's habit): the equivalent command, config and versions, and
    the automatic decisions the job took (one line each), if any."""
    import numpy
    import scipy

    lines = [
        f"# {datetime.datetime.now().isoformat(timespec='seconds')}",
        "# equivalent command:",
        shlex.join(command),
        "",
        "# config:",
        yaml.safe_dump(dict(config_slice), sort_keys=False).rstrip(),
        "",
        *(["# automatic decisions:", *decisions, ""] if decisions else []),
        f"# cryopick {__version__}, python {platform.python_version()}, numpy {numpy.__version__},"
        f" scipy {scipy.__version__}",
    ]
    with atomic_output(Path(job_dir) / "note.txt") as tmp:
        tmp.write_text("\n".join(lines) + "\n")


def job_key(inputs: Iterable[str], settings: object) -> str:
    """A digest of what a job's outputs depend on: its settings and the size and modification
    time of each input file (an upstream job that re-ran changes them)."""
    digest = hashlib.sha256(repr(settings).encode())
    for path in sorted(str(p) for p in inputs):
        info = os.stat(path)
        digest.update(f"{path} {info.st_size} {info.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def start_attempt(marker: str | os.PathLike[str], key: str) -> int | None:
    """Begin an attempt of a per-micrograph job; say from when its finished outputs count.

    ``marker`` exists only while an attempt runs (``end_attempt`` removes it). When it holds
    ``key``, an attempt of this same job (same inputs and settings) was interrupted: returns
    the marker's modification time (ns); outputs written since then are complete and are kept.
    Otherwise (a first attempt, or one of a job that has changed since) the marker is written
    with ``key`` and None is returned: everything is done afresh.
    """
    marker = Path(marker)
    if marker.is_file() and marker.read_text().strip() == key:
        logger.info("resuming the interrupted attempt of this job (%s)", marker)
        return marker.stat().st_mtime_ns
    with atomic_output(marker) as tmp:
        tmp.write_text(key + "\n")
    return None


def end_attempt(marker: str | os.PathLike[str]) -> None:
    """The attempt finished: a later run of the job (forced, or changed) starts afresh."""
    Path(marker).unlink(missing_ok=True)


def publish_pictures(staging: str | os.PathLike[str], dest: str | os.PathLike[str]) -> None:
    """Hard-link (or copy) every file under ``staging`` into ``dest``, keeping the layout.

    Pictures are drawn into a staging folder that outlives a failed job (Snakemake removes a
    failed job's declared outputs), so a resumed attempt need not redraw finished micrographs.
    """
    staging, dest = Path(staging), Path(dest)
    for path in sorted(staging.rglob("*")):
        if path.is_file() and not path.name.startswith("."):
            target = dest / path.relative_to(staging)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.unlink(missing_ok=True)
            try:
                os.link(path, target)
            except OSError:  # another file system, or no hard links there
                shutil.copy2(path, target)
    dest.mkdir(parents=True, exist_ok=True)


@contextlib.contextmanager
def resumable_shard(odir: str, shard: int, inputs: Iterable[str], settings: object,
                    pictures: str) -> Iterator[tuple[int | None, str]]:
    """One attempt of a picking shard: yields ``(resume_since_ns, staging picture folder)``.

    A re-run of an interrupted attempt (same inputs and settings) keeps the micrographs it
    finished; on success the pictures are published into ``pictures`` (the rule's output).
    """
    marker = Path(odir) / ".shards" / f"{shard}.attempt"
    staging = Path(odir) / ".pictures" / f"shard{shard}"
    since = start_attempt(marker, job_key(inputs, settings))
    if since is None:
        shutil.rmtree(staging, ignore_errors=True)
    yield since, str(staging)
    publish_pictures(staging, pictures)
    end_attempt(marker)


@contextlib.contextmanager
def picking_shard(smk) -> Iterator:
    """One attempt of a picking rule (a shard, or with one shard the whole job): yields its
    ``AutopickJob``, resuming an interrupted attempt (:func:`resumable_shard`). The job-level
    files are left to the job-level step (``cryopick.picking.gather``)."""
    from cryopick.picking.job import AutopickJob

    shard = int(smk.wildcards.get("shard", 0))
    with resumable_shard(smk.params.odir, shard, smk.input, dict(smk.params.items()),
                         smk.output.pictures) as (since, pictures):
        yield AutopickJob(odir=smk.params.odir, backend=smk.params.backend, jobs=smk.threads,
                          png_dir=pictures, micrograph_list=smk.input.micrographs, shard=shard,
                          n_shards=smk.params.n_shards, resume_since_ns=since,
                          on_bad_micrograph=smk.params.on_bad_micrograph, finish=False,
                          record_qc=smk.params.get("stage") == "final")


# SLURM job states that mean a job asked for too little of a resource, and what to raise
_SHORT_OF = {"OUT_OF_MEMORY": ("memory", "mem_mb", "MB"), "TIMEOUT": ("time", "runtime",
                                                                       "minutes")}
_FAILED_RULE = re.compile(r"^Error in rule (?P<rule>\w+):\s*$")
_SLURM_STATE = re.compile(r"SLURM status is: '(?P<state>[A-Z_]+)'")


def resource_advice(snakemake_log: str) -> list[str]:
    """For each rule whose SLURM job ran out of memory or time, what to raise and where.

    ``snakemake_log`` is the text of Snakemake's log of the failed run, whose ``Error in rule
    <rule>:`` blocks quote the SLURM state (OUT_OF_MEMORY, TIMEOUT) in their message.
    """
    advice, rule = [], None
    for line in snakemake_log.splitlines():
        if match := _FAILED_RULE.match(line):
            rule = match["rule"]
        elif rule and (match := _SLURM_STATE.search(line)) and match["state"] in _SHORT_OF:
            what, resource, unit = _SHORT_OF[match["state"]]
            text = (f"rule {rule} ran out of {what} (SLURM state {match['state']}): raise its "
                    f"`{resource}` ({unit}) under set-resources: {rule}: in the profile "
                    f"(profiles/slurm/config.v8+.yaml), or for one run with --set-resources "
                    f"{rule}:{resource}=<more>")
            if text not in advice:
                advice.append(text)
            rule = None
    return advice
