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
from cryopick.workflow.incremental import KeptMicrographs, micrograph_keys, settings_key

__all__ = ["cancel_timers", "end_attempt", "job_key", "kept_extraction", "log_to_file",
           "picking_shard", "publish_pictures", "resource_advice", "resumable_shard",
           "rule_micrographs", "start_attempt", "with_picking_settings", "write_note",
           "write_picking_settings"]

logger = logging.getLogger(__name__)

# the per-micrograph state a job keeps for its next run (skipped by run comparisons)
STATE_SUFFIX = ".cryopick-resume"


def log_to_file(path: str | os.PathLike[str]) -> None:
    """Send cryopick's log lines to a job's log file (and keep them on stderr)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(message)s", datefmt="%H:%M:%S")
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    for handler in (logging.FileHandler(path, mode="w"), logging.StreamHandler(sys.stderr)):
        handler.setFormatter(fmt)
        root.addHandler(handler)


# template-picking settings the template choice may set (the rest stay the config's)
PICKING_SETTINGS = ("ctf_intact_first_peak",)


def write_picking_settings(path: str | os.PathLike[str], settings: Mapping[str, object]) -> None:
    """The template-picking settings the template choice implies (YAML; ``{}``: none)."""
    unknown = set(settings) - set(PICKING_SETTINGS)
    if unknown:
        raise ValueError(f"not a template-picking setting the choice may set: {sorted(unknown)}")
    with atomic_output(path) as tmp:
        tmp.write_text(yaml.safe_dump(dict(settings), sort_keys=True))


def with_picking_settings(pick: Mapping[str, object],
                          path: str | os.PathLike[str] | None) -> dict:
    """The ``autopick_template`` config with the template choice's settings (``path``, written
    by :func:`write_picking_settings`; None: the config as it is)."""
    if not path:
        return dict(pick)
    settings = yaml.safe_load(Path(path).read_text()) or {}
    return {**pick, **{k: v for k, v in settings.items() if k in PICKING_SETTINGS}}


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


def _clear_staging(staging: Path, keep: Iterable[str]) -> None:
    """Remove the staged pictures but those of the micrographs in ``keep`` (file stems)."""
    keep = set(keep)
    for path in sorted(staging.rglob("*")) if staging.is_dir() else []:
        if path.is_file() and path.stem.rsplit("_", 1)[0] not in keep:
            path.unlink()


@contextlib.contextmanager
def resumable_shard(odir: str, shard: int, inputs: Iterable[str], settings: object,
                    pictures: str, kept: KeptMicrographs | None = None,
                    exists=None) -> Iterator[tuple[int | None, str, frozenset[str]]]:
    """One attempt of a picking shard: yields ``(resume_since_ns, staging picture folder,
    kept micrographs)``.

    A re-run of an interrupted attempt (same inputs and settings) keeps the micrographs it
    finished; a rerun of a finished job keeps those ``kept`` vouches for (unchanged since, and
    ``exists(name)`` true), whose pictures stay staged. On success the pictures are published
    into ``pictures`` (the rule's output).
    """
    marker = Path(odir) / ".shards" / f"{shard}.attempt"
    staging = Path(odir) / ".pictures" / f"shard{shard}"
    since = start_attempt(marker, job_key(inputs, settings))
    keep = kept.begin(exists) if kept is not None else frozenset()
    if since is None:
        _clear_staging(staging, {Path(name).stem for name in keep})
    yield since, str(staging), keep
    publish_pictures(staging, pictures)
    end_attempt(marker)


def rule_micrographs(smk):
    """The micrographs of a rule: its ``micrographs`` STAR file less ``exclude`` (a param)."""
    from cryopick.workflow.incremental import without_excluded
    from cryopick.io.star import read_micrographs_star

    return without_excluded(read_micrographs_star(smk.input.micrographs),
                            getattr(smk.params, "exclude", None) or [])


@contextlib.contextmanager
def picking_shard(smk, mics) -> Iterator:
    """One attempt of a picking rule (a shard, or with one shard the whole job) over ``mics``
    (the rule's micrographs, less any excluded): yields its ``AutopickJob``.

    An interrupted attempt is resumed, and a rerun (micrographs appended or removed, one
    excluded) computes only the micrographs whose STAR row, file or settings changed: the
    others keep their coordinate files and pictures, bytes and times
    (:class:`cryopick.workflow.incremental.KeptMicrographs`). The job-level files are left to the
    job-level step (``cryopick.picking.gather``).
    """
    from cryopick.io.loop import read_star_loops
    from cryopick.picking.job import AutopickJob, coordinate_path, qc_path

    shard, n_shards = int(smk.wildcards.get("shard", 0)), smk.params.n_shards
    settings = {k: v for k, v in smk.params.items() if k != "exclude"}
    pick = smk.params.pick
    mine = [n for i, n in enumerate(mics.names) if i % n_shards == shard]
    keys = micrograph_keys(mics, with_index=not pick.get("seed_by_name", True))
    # none kept: LoG picks thresholded in place after picking, FOM maps deleted after the sweep
    redo = pick.get("auto_threshold") or (smk.params.get("stage") == "optimise"
                                          and pick.get("delete_fom_maps"))
    kept = None if redo else KeptMicrographs(
        Path(smk.params.odir) / ".shards" / f"{shard}{STATE_SUFFIX}",
        settings_key(settings, [p for k, p in smk.input.items()
                                if k not in ("micrographs", "fom_maps")]),
        {name: keys[name] for name in mine})
    exists = lambda name: coordinate_path(smk.params.odir, name, "autopick").is_file()  # noqa: E731
    maps, has_maps = _saved_fom_maps(smk, shard, {name: keys[name] for name in mine})
    borrow_dir = smk.params.get("maps_from")
    with resumable_shard(smk.params.odir, shard, smk.input, dict(smk.params.items()),
                         smk.output.pictures, kept, exists) as (since, pictures, keep):
        reuse = maps.begin(has_maps) if maps is not None else frozenset()
        borrow = _borrowed_fom_maps(smk, borrow_dir, {name: keys[name] for name in mine
                                                      if name not in keep | reuse})
        job = AutopickJob(odir=smk.params.odir, backend=smk.params.backend, jobs=smk.threads,
                          png_dir=pictures, micrograph_list=smk.input.micrographs, shard=shard,
                          n_shards=n_shards, resume_since_ns=since, keep=keep, reuse_maps=reuse,
                          borrow_maps=borrow, borrow_dir=borrow_dir,
                          on_bad_micrograph=smk.params.on_bad_micrograph, finish=False,
                          record_qc=smk.params.get("stage") == "final")
        yield job
        bad = set(read_star_loops(qc_path(job, shard))["skipped_micrographs"][
            "rlnMicrographName"])
        if kept is not None:
            kept.finish(n for n in mine if n not in bad and exists(n))
        if maps is not None:
            maps.finish(n for n in mine if n not in bad and has_maps(n) and (
                n in reuse or maps.written(coordinate_path(smk.params.odir, n, "autopick"))))


def _fom_map(odir: str, name: str) -> Path:
    """A micrograph's saved noise-std FOM map (written, with the others, before its picks)."""
    from cryopick.picking.template_job import fom_map_paths

    return fom_map_paths(odir, name, "autopick", 0)["stddev"]


# template-picking settings the FOM maps do not depend on (only the peak search does)
_PEAK_SETTINGS = ("final", "optimise", "max_stddev_noise", "min_avg_noise", "auto_noise_mads",
                  "auto_noise_pick_mads", "delete_fom_maps")


def _maps_key(smk) -> str:
    """What a template pass's FOM maps depend on: the map settings (the template choice's
    ``picking.yaml`` applied), the backend and the references."""
    pick = with_picking_settings(smk.params.pick, smk.input.get("picking"))
    settings = [sorted((k, v) for k, v in pick.items() if k not in _PEAK_SETTINGS),
                smk.params.backend]
    return settings_key(settings, [smk.input.references])


def _saved_fom_maps(smk, shard: int, keys: Mapping[str, str]):
    """A template pass that keeps its FOM maps (the optimisation pass, and the final one with
    ``final.write_fom_maps``): the state of its saved maps (same references, micrograph and
    map settings: re-picked from them), and whether a micrograph's maps exist; ``(None,
    None)`` otherwise."""
    pick, stage = smk.params.pick, smk.params.get("stage")
    if stage not in ("optimise", "final") or not pick[stage].get("write_fom_maps") \
            or (stage == "optimise" and pick.get("delete_fom_maps")):  # deleted after the sweep
        return None, None
    state = KeptMicrographs(Path(smk.params.odir) / ".shards" / f"{shard}.maps{STATE_SUFFIX}",
                            _maps_key(smk), keys)
    return state, lambda name: _fom_map(smk.params.odir, name).is_file()


def _borrowed_fom_maps(smk, folder: str | None, keys: Mapping[str, str]) -> frozenset[str]:
    """The micrographs of ``keys`` whose current FOM maps another template pass saved in
    ``folder`` (the final pass borrows the optimisation pass's: the same maps, computed once).

    Current: that pass's map state (any of its shards) vouches for the micrograph's key under
    this pass's map settings, and the maps are there. Per-micrograph seeds by position
    (``seed_by_name: false``) give different maps in the subset, and nothing is borrowed.
    """
    if not folder or not keys or not smk.params.pick.get("seed_by_name", True):
        return frozenset()
    settings, vouched = _maps_key(smk), {}
    for path in sorted((Path(folder) / ".shards").glob(f"*.maps{STATE_SUFFIX}")):
        vouched.update(KeptMicrographs(path, settings, {}).recorded())
    borrow = frozenset(name for name, key in keys.items()
                       if vouched.get(name) == key and _fom_map(folder, name).is_file())
    if borrow:
        logger.info("%d micrograph(s) re-picked from the FOM maps of %s", len(borrow), folder)
    return borrow


@contextlib.contextmanager
def kept_extraction(part_dir: str, settings: object, mics, source,
                    by_position: bool = False) -> Iterator[frozenset[str]]:
    """One attempt of an extraction job over ``mics`` from coordinate ``source``: yields the
    micrographs whose particle stack and table are kept (same settings, STAR row, micrograph
    and coordinate file, and position when ``by_position``: dust noise is seeded by it, as
    when they were made); records every extracted one on success."""
    from cryopick.extraction.job import extract_star_path

    def coordinate_file(name: str) -> list[str]:
        path = source.table(name)[0] if hasattr(source, "files") else source.path(name)
        return [str(path)] if path is not None else []

    kept = KeptMicrographs(Path(part_dir) / STATE_SUFFIX, settings_key(settings),
                           micrograph_keys(mics, by_position, coordinate_file))
    table = lambda name: extract_star_path(part_dir, name)  # noqa: E731
    keep = kept.begin(lambda name: table(name).is_file())
    yield keep
    kept.finish(name for name in mics.names if name in keep or kept.written(table(name)))


# SLURM job states that mean a job asked for too little of a resource, and what to raise
_SHORT_OF = {"OUT_OF_MEMORY": ("memory", "mem_mb", "MB"), "TIMEOUT": ("time", "runtime",
                                                                       "minutes")}
_FAILED_RULE = re.compile(r"^Error in rule (?P<rule>\w+):\s*$")
_SLURM_STATE = re.compile(r"SLURM status is: '(?P<state>[A-Z_]+)'")


def cancel_timers() -> int:
    """Cancel the ``threading.Timer`` threads still waiting in this process; returns how many.

    Snakemake's job rate limiter (``--max-jobs-per-timespan``, 100/1s by default) starts a
    timer of one timespan at every scheduling pass that waits for running jobs, to schedule
    again. The timers are not daemon threads, so the interpreter waited for the last one and
    every run ended about a second after its last job. The workflow's ``onsuccess`` and
    ``onerror`` handlers call this once nothing is left to schedule.
    """
    import threading

    timers = [t for t in threading.enumerate() if isinstance(t, threading.Timer) and t.is_alive()]
    for timer in timers:
        timer.cancel()
    return len(timers)


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
