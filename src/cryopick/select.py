"""Subset selection of micrographs (RELION's Select job, `Select/5mics` in the tutorial)."""

from __future__ import annotations

import logging
import os

from cryopick.errors import InputError
from cryopick.io.star import MicrographSet, write_micrographs_star

__all__ = ["select_micrographs", "write_selection"]

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


def write_selection(selection: MicrographSet, out_star: str | os.PathLike[str]) -> None:
    """Write the selection as RELION 3.1's ``micrographs_selected.star``."""
    write_micrographs_star(selection, out_star)
    logger.info("wrote %s (%d micrographs)", out_star, len(selection.names))
