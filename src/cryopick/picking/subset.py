"""Subset selection of micrographs (RELION's Select job, `Select/5mics` in the tutorial).

The subset is the first N micrographs, named ones, or (``first_n: auto``) as many micrographs,
in order, as it takes to reach a number of LoG picks: a 2D classification needs particles,
and micrographs hold from a handful to hundreds of them.
"""

from __future__ import annotations

import logging
import os

import numpy as np

from cryopick.errors import InputError
from cryopick.io.star import MicrographSet, write_micrographs_star
from cryopick.picking.log import LogPickParams

__all__ = ["plot_subset", "select_by_picks", "select_micrographs", "write_selection"]

logger = logging.getLogger(__name__)


def select_micrographs(mics: MicrographSet, first_n: int | None = None,
                       names: list[str] | None = None) -> MicrographSet:
    """The first ``first_n`` micrographs, or those named in ``names`` (in the given order).

    A name matches a micrograph by its full path as written in the STAR file or by its file
    name alone. ``first_n`` larger than the number of micrographs selects all of them.
    """
    if names:
        by_path = {n: i for i, n in enumerate(mics.names)}
        by_file = {os.path.basename(n): i for i, n in enumerate(mics.names)}
        indices = []
        for name in names:
            index = by_path.get(name, by_file.get(os.path.basename(name)))
            if index is None:
                raise InputError(f"{mics.path}: micrograph {name!r} asked for in the selection "
                                 "is not listed")
            indices.append(index)
        return mics.subset(indices)
    if first_n is None or first_n < 1:
        raise InputError(f"select.first_n must be ≥ 1 (got {first_n}) unless micrographs are named")
    if first_n > len(mics.names):
        logger.warning("%s lists %d micrographs, fewer than the %d asked for; selecting all",
                       mics.path, len(mics.names), first_n)
    return mics.subset(list(range(min(first_n, len(mics.names)))))


def _count_log_picks(task: tuple[int, str, float, LogPickParams, str]) -> int:
    """Worker: the number of LoG picks on one micrograph, as the LoG job picks it."""
    from cryopick.backend import get_backend
    from cryopick.io.mrc import read_micrograph
    from cryopick.picking.log import micrograph_seed, pick_log

    index, name, pixel, params, backend = task
    seed = micrograph_seed(params.random_seed, index, name, params.seed_by_name)
    image = read_micrograph(name, mapped=True)
    return len(pick_log(image, pixel, params, get_backend(backend), seed).picks)


def select_by_picks(mics: MicrographSet, params: LogPickParams, target_picks: int,
                    min_micrographs: int, backend: str = "numpy", jobs: int = 1
                    ) -> tuple[MicrographSet, list[int]]:
    """The first micrographs whose LoG picks (``params``, as the LoG job picks them) add up
    to ``target_picks``, at least ``min_micrographs`` of them; returns them and the counts.

    With ``jobs`` > 1 (on the CPU), that many micrographs are picked at a time in forked
    workers, in order; counting stops at the same micrograph as one at a time does, and at
    most ``jobs`` − 1 micrographs past it are picked for nothing.
    """
    from cryopick.backend import runs_on_host

    if target_picks < 1 or min_micrographs < 1:
        raise InputError(f"select: target_picks and min_micrographs must be ≥ 1, got "
                         f"{target_picks}, {min_micrographs}")
    tasks = [(index, name, mics.pixel_size_a, params, backend)
             for index, name in enumerate(mics.names)]
    counts: list[int] = []

    def enough() -> bool:
        return sum(counts) >= target_picks and len(counts) >= min_micrographs

    if jobs <= 1 or len(tasks) <= 1 or not runs_on_host(backend):
        for task in tasks:
            counts.append(_count_log_picks(task))
            if enough():
                break
    else:
        import collections
        import concurrent.futures
        import multiprocessing

        import pandas  # noqa: F401  (LoG's pick tables) and the FFTs: once, before the fork
        import scipy.fft  # noqa: F401

        context = multiprocessing.get_context("fork")
        with concurrent.futures.ProcessPoolExecutor(jobs, mp_context=context) as pool:
            queue = collections.deque(tasks)
            running = collections.deque(pool.submit(_count_log_picks, queue.popleft())
                                        for _ in range(min(jobs, len(queue))))
            while running and not enough():
                counts.append(running.popleft().result())
                if queue and not enough():
                    running.append(pool.submit(_count_log_picks, queue.popleft()))
            for future in running:
                future.cancel()
    logger.info("subset: %d micrograph(s) with %d LoG picks (target %d)", len(counts),
                sum(counts), target_picks)
    return mics.subset(list(range(len(counts)))), counts


def plot_subset(counts: list[int], target_picks: int, out_png: str | os.PathLike[str]) -> None:
    """LoG picks per micrograph and their running total against the target."""
    import matplotlib.pyplot as plt

    from cryopick.figures import save_figure  # (it selects the Agg backend first)

    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
    index = range(1, len(counts) + 1)
    ax.bar(index, counts, color="0.6", label="LoG picks per micrograph")
    ax.plot(index, np.cumsum(counts), color="tab:red", marker="o", label="running total")
    ax.axhline(target_picks, color="tab:blue", linestyle="--", label=f"target {target_picks}")
    ax.set_xlabel("micrograph (STAR order)")
    ax.set_ylabel("LoG picks")
    ax.set_title(f"Subset: {len(counts)} micrographs, {sum(counts)} LoG picks", fontsize=9)
    ax.legend(fontsize=7)
    save_figure(fig, out_png)


def write_selection(selection: MicrographSet, out_star: str | os.PathLike[str]) -> None:
    """Write the selection as RELION 3.1's ``micrographs_selected.star``."""
    write_micrographs_star(selection, out_star)
    logger.info("wrote %s (%d micrographs)", out_star, len(selection.names))
