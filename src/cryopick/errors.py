"""Errors for bad user input, and atomic writing of outputs."""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Iterator
from pathlib import Path

__all__ = ["InputError", "OutputError", "atomic_output"]


class InputError(ValueError):
    """Bad input data or options; the message starts with the offending file or option."""


class OutputError(OSError):
    """An output could not be written (read-only or full file system, no permission); the
    message starts with the output's path."""


# errors that say the output's place cannot take it (rather than a bug in the writer)
_CANNOT_WRITE = {errno.EROFS, errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EIO,
                 errno.EFBIG}


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary sibling of ``path``; move it onto ``path`` only on success.

    The temporary name keeps the final suffix (``.star``, ``.mrc``, ``.png``) so that
    libraries which choose a format by extension write the right one. On any error the
    temporary file is removed and ``path`` is left untouched. A file system that cannot take
    the output (read-only, full, no permission) raises ``OutputError`` naming ``path``.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp{path.suffix}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        yield tmp
        os.replace(tmp, path)
    except OSError as err:
        if isinstance(err, OutputError) or err.errno not in _CANNOT_WRITE:
            raise
        error = OutputError(f"{path}: cannot write ({err.strerror})")
        error.errno = err.errno
        raise error from err
    finally:
        with contextlib.suppress(OSError):  # e.g. on a read-only file system
            tmp.unlink(missing_ok=True)
