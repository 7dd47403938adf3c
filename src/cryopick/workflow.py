"""Helpers shared by the Snakemake adapters in ``scripts/``: logging and job notes."""

from __future__ import annotations

import datetime
import logging
import os
import platform
import shlex
import sys
from collections.abc import Mapping
from pathlib import Path

import yaml

from cryopick import __version__
from cryopick.errors import atomic_output

__all__ = ["log_to_file", "write_note"]


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
