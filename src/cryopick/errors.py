"""Errors for bad user input, and atomic writing of outputs."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

__all__ = ["InputError", "atomic_output"]


class InputError(ValueError):
    """Bad input data or options; the message starts with the offending file or option."""


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary sibling of ``path``; move it onto ``path`` only on success.

    The temporary name keeps the final suffix (``.star``, ``.mrc``, ``.png``) so that
    libraries which choose a format by extension write the right one. On any error the
    temporary file is removed and ``path`` is left untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp{path.suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
