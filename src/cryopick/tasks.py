"""Per-micrograph work in parallel: a fork pool over micrographs, with progress and a log line;
unreadable micrographs either stop the job or are skipped and listed (``qc.star``)."""

from __future__ import annotations

import concurrent.futures
import dataclasses
import functools
import importlib
import logging
import multiprocessing
import sys
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from cryopick.errors import InputError

__all__ = ["BAD_MICROGRAPH_POLICIES", "Skipped", "map_micrographs", "side_by_side",
           "write_qc_star"]

BAD_MICROGRAPH_POLICIES = ("skip", "fail")  # config on_bad_micrograph

logger = logging.getLogger(__name__)


class _NoBar:
    def update(self) -> None:
        pass

    def close(self) -> None:
        pass


def _progress_bar(total: int, desc: str) -> Any:
    """A tqdm bar on a terminal; otherwise nothing (the log lines say the progress)."""
    if not sys.stderr.isatty():
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=total, unit="mic", desc=desc)


@dataclasses.dataclass(frozen=True)
class Skipped:
    """The result of a task whose micrograph could not be read (``on_bad_micrograph: skip``)."""

    task: Any
    reason: str  # the InputError's message: it starts with the offending file


def _guarded(worker: Callable[[Any], Any], task: Any) -> Any:
    try:
        return worker(task)
    except InputError as err:
        return Skipped(task, str(err))


def map_micrographs(worker: Callable[[Any], Any], tasks: Sequence[Any], n_jobs: int, desc: str,
                    describe: Callable[[Any], str],
                    preload: Sequence[str] = ("scipy.fft",), skip_bad: bool = False) -> list[Any]:
    """``worker`` over ``tasks`` in order (one process) or in a fork pool of ``n_jobs``.

    Results come back in task order. Each is logged as ``describe(result)``; a progress bar
    runs when stderr is a terminal. ``preload`` names modules the workers need, imported
    once here before the pool forks rather than in every worker. With ``skip_bad``, a task
    whose worker raises InputError (a bad micrograph) gives a ``Skipped`` result, logged as a
    warning, and the others go on; otherwise the error stops the job.
    """
    bar = _progress_bar(len(tasks), desc)
    results = []
    if skip_bad:
        worker = functools.partial(_guarded, worker)

    def report(result: Any) -> None:
        if isinstance(result, Skipped):
            logger.warning("skipping a bad micrograph: %s", result.reason)
        else:
            logger.info("%s", describe(result))
        results.append(result)
        bar.update()

    if n_jobs == 1 or len(tasks) <= 1:
        for task in tasks:
            report(worker(task))
    else:
        # e.g. scipy.fft costs ~0.2 s per process: import it once, not in every forked worker
        for module in preload:
            importlib.import_module(module)

        ctx = multiprocessing.get_context("fork")
        with concurrent.futures.ProcessPoolExecutor(max_workers=n_jobs, mp_context=ctx) as pool:
            for result in pool.map(worker, tasks):
                report(result)
    bar.close()
    return results


def side_by_side(calls: Sequence[tuple[Callable[..., Any], tuple]], n_jobs: int) -> list[Any]:
    """``func(*args)`` for each ``(func, args)`` of ``calls``: independent steps (pictures, a
    threshold sweep) at most ``n_jobs`` at a time in a fork pool, or one after the other in
    this process with ``n_jobs`` 1 or a single call. Results come back in order; the first
    error raised is raised here, after the other calls have ended. ``func`` is a module-level
    function; each writes its own files (under a temporary name, then renamed).
    """
    if n_jobs <= 1 or len(calls) <= 1:
        return [func(*args) for func, args in calls]
    ctx = multiprocessing.get_context("fork")
    with concurrent.futures.ProcessPoolExecutor(max_workers=min(n_jobs, len(calls)),
                                                mp_context=ctx) as pool:
        futures = [pool.submit(func, *args) for func, args in calls]
        concurrent.futures.wait(futures)
    return [future.result() for future in futures]


def write_qc_star(path: str | os.PathLike[str], skipped: dict[str, str]) -> None:
    """``qc.star``: the micrographs a job left out, each with the reason (a table, maybe empty).

    ``skipped`` maps a micrograph (as named in the input STAR file) to the reason.
    """
    import numpy as np

    from cryopick.io.loop import Loop
    from cryopick.io.star import write_star

    table = Loop({"rlnMicrographName": np.array(list(skipped), dtype=object),
                  "cryopickSkipReason": np.array(list(skipped.values()), dtype=object)})
    write_star(Path(path), {"skipped_micrographs": table})
    if skipped:
        logger.warning("%s: %d micrograph(s) skipped as unreadable", path, len(skipped))
