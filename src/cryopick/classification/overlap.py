"""Serial steps of a CPU iteration overlapped in a second thread: a step beside the caller's
block, and steps in the background one at a time, in order (NumPy's FFTs and array
operations release the GIL; the results are the same as run in line)."""

from __future__ import annotations

import concurrent.futures
import contextlib
from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["InOrder", "beside", "in_order"]


@contextlib.contextmanager
def beside(enabled: bool, func: Callable[..., Any], *args: Any) -> Iterator[Callable[[], Any]]:
    """Run ``func(*args)`` in a second thread while the caller's block runs; yields a function
    that waits for its result. Not ``enabled``: ``func`` runs first, in this thread."""
    if not enabled:
        result = func(*args)
        yield lambda: result
        return
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        future = pool.submit(func, *args)
        try:
            yield future.result
        finally:
            future.cancel()


class InOrder:
    """Steps run one at a time, in the order given: in a background thread, or in line."""

    def __init__(self, pool: concurrent.futures.ThreadPoolExecutor | None) -> None:
        self._pool = pool
        self._pending: concurrent.futures.Future | None = None

    def submit(self, func: Callable[..., Any], *args: Any) -> None:
        """Run ``func(*args)`` after the previous step (whose error, if any, is raised here)."""
        if self._pool is None:
            func(*args)
            return
        self.wait()
        self._pending = self._pool.submit(func, *args)

    def wait(self) -> None:
        """Wait for the last step; raise its error."""
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()


@contextlib.contextmanager
def in_order(enabled: bool) -> Iterator[InOrder]:
    """An :class:`InOrder` whose steps run in a background thread when ``enabled``; every step
    has ended, or its error has been raised, when the block ends."""
    if not enabled:
        yield InOrder(None)
        return
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        steps = InOrder(pool)
        try:
            yield steps
        finally:
            steps.wait()
