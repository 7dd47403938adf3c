"""Per-micrograph work in parallel: a fork pool over micrographs, with progress and a log line."""

from __future__ import annotations

import concurrent.futures
import importlib
import logging
import multiprocessing
import sys
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["map_micrographs"]

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


def map_micrographs(worker: Callable[[Any], Any], tasks: Sequence[Any], n_jobs: int, desc: str,
                    describe: Callable[[Any], str],
                    preload: Sequence[str] = ("scipy.fft",)) -> list[Any]:
    """``worker`` over ``tasks`` in order (one process) or in a fork pool of ``n_jobs``.

    Results come back in task order. Each is logged as ``describe(result)``; a progress bar
    runs when stderr is a terminal. ``preload`` names modules the workers need, imported
    once here before the pool forks rather than in every worker.
    """
    bar = _progress_bar(len(tasks), desc)
    results = []

    def report(result: Any) -> None:
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
