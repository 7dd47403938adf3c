"""The working ("shrunk") size of a micrograph during picking, as RELION's autopicker sets it."""

from __future__ import annotations

import dataclasses
import functools
import logging

from cryopick.errors import InputError
from cryopick.fourier import good_fourier_size, relion_round

__all__ = ["WorkingSize", "first_xmipp_index", "working_size"]

logger = logging.getLogger(__name__)


def first_xmipp_index(n: int) -> int:
    """RELION's FIRST_XMIPP_INDEX: the logical index of the first of ``n`` centred samples,
    -(long)(n/2)."""
    return -(n // 2)


@dataclasses.dataclass(frozen=True)
class WorkingSize:
    """Sizes of one picking run: full square ``n``, low-pass size ``lowpass_n``, working ``w``."""

    n: int
    lowpass_n: int
    w: int

    @property
    def scale(self) -> float:
        return self.w / self.n


def working_size(nx: int, ny: int, pixel_size_a: float, lowpass_a: float, shrink: float,
                 optimise_size: bool = True) -> WorkingSize:
    """Working size for a micrograph of ``nx × ny`` pixels (RELION's shrink semantics).

    ``shrink`` 0: the low-pass size ``2·ROUND(N·p/lowpass)``; 0 < shrink ≤ 1: that fraction of
    N; shrink > 1: that (even) size. The size is then moved to an FFT-friendly even value
    (``optimise_size``, RELION's default; off with ``--skip_optimise_scale``).
    """
    n = max(nx, ny)
    lowpass_n = 2 * relion_round(n * pixel_size_a / lowpass_a) if lowpass_a > 0 else n
    if shrink < 0:
        raise InputError(f"--shrink must be ≥ 0, got {shrink}")
    if shrink == 0:
        w = lowpass_n
    elif shrink <= 1:
        w = relion_round(shrink * n)
        w -= w % 2
    else:
        w = relion_round(shrink)
        w -= w % 2
        if w >= n:
            raise InputError(f"--shrink {shrink} asks for a working size ≥ the micrograph size {n}")
    if w < 2:
        raise InputError(f"working size {w} px is too small (micrograph {nx}×{ny}, --shrink {shrink})")
    if optimise_size:
        w = good_fourier_size(w, n)
    w -= w % 2
    if w < lowpass_n:
        _warn_below_lowpass(w, lowpass_n)
    return WorkingSize(n=n, lowpass_n=lowpass_n, w=w)


@functools.lru_cache(maxsize=None)
def _warn_below_lowpass(w: int, lowpass_n: int) -> None:
    """The warning once per process and pair of sizes, not once per micrograph."""
    logger.warning("working size %d px is smaller than the low-pass size %d px: "
                   "picking at lower resolution than --lowpass asks", w, lowpass_n)
