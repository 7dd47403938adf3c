"""Peak search and pruning on figure-of-merit maps, as RELION's template picker does it.

Peaks live on the working grid in integer working pixels; every distance threshold is the
micrograph-pixel value scaled by the working scale ``s`` (RELION compares squared distances
with thresholds scaled by ``s²``, truncated to integers where RELION truncates).
"""

from __future__ import annotations

import dataclasses

import numpy as np

__all__ = ["Peaks", "peak_search", "prune_peak_clusters", "remove_close_neighbours"]


@dataclasses.dataclass
class Peaks:
    """A list of peaks: working-pixel positions, FOM, ψ (deg) and 0-based reference index."""

    x: np.ndarray
    y: np.ndarray
    fom: np.ndarray
    psi: np.ndarray
    ref: np.ndarray

    @classmethod
    def empty(cls) -> Peaks:
        i, f = np.zeros(0, np.int64), np.zeros(0, np.float64)
        return cls(i, i.copy(), f, f.copy(), i.copy())

    def __len__(self) -> int:
        return len(self.x)

    def take(self, index: np.ndarray | list[int]) -> Peaks:
        index = np.asarray(index, dtype=np.int64)
        return Peaks(self.x[index], self.y[index], self.fom[index], self.psi[index],
                     self.ref[index])

    @staticmethod
    def concat(parts: list[Peaks]) -> Peaks:
        if not parts:
            return Peaks.empty()
        return Peaks(*(np.concatenate([getattr(p, f) for p in parts])
                       for f in ("x", "y", "fom", "psi", "ref")))


def _first(n: int) -> int:
    return -(n // 2)


def peak_search(fom: np.ndarray, psi: np.ndarray, ref: int, threshold: float, nx_s: int,
                ny_s: int, skip: int, unscaled: bool, stddev: np.ndarray | None = None,
                max_stddev: float = -1.0, avg: np.ndarray | None = None,
                min_avg: float = -999.0) -> Peaks:
    """4-neighbour local maxima of a ``(w, w)`` FOM map at or above ``threshold``.

    Scans logical rows/columns of the shrunk micrograph area (``ny_s × nx_s`` working px)
    minus ``skip`` on each side. A neighbour may not be larger; without shrinking
    (``unscaled``) all four neighbours must also reach the threshold. The noise filters drop
    peaks whose local background std is above ``max_stddev`` (if > 0) or whose background
    mean is below ``min_avg`` (if > -900). Peaks come out in row-major order.
    """
    w = fom.shape[0]
    r0 = w // 2 + _first(ny_s) + skip
    r1 = w // 2 + _first(ny_s) + ny_s - 1 - skip
    c0 = w // 2 + _first(nx_s) + skip
    c1 = w // 2 + _first(nx_s) + nx_s - 1 - skip
    r0, c0 = max(r0, 1), max(c0, 1)
    r1, c1 = min(r1, w - 2), min(c1, w - 2)
    if r1 < r0 or c1 < c0:
        return Peaks.empty()
    centre = fom[r0:r1 + 1, c0:c1 + 1]
    neighbours = [fom[r0 - 1:r1, c0:c1 + 1], fom[r0 + 1:r1 + 2, c0:c1 + 1],
                  fom[r0:r1 + 1, c0 - 1:c1], fom[r0:r1 + 1, c0 + 1:c1 + 2]]
    ok = centre >= threshold
    for nb in neighbours:
        ok &= nb <= centre
        if unscaled:
            ok &= nb >= threshold
    if stddev is not None and max_stddev > 0:
        ok &= stddev[r0:r1 + 1, c0:c1 + 1] <= max_stddev
    if avg is not None and min_avg > -900:
        ok &= avg[r0:r1 + 1, c0:c1 + 1] >= min_avg
    rows, cols = np.nonzero(ok)
    rows, cols = rows + r0, cols + c0
    return Peaks(x=cols - w // 2 - _first(nx_s), y=rows - w // 2 - _first(ny_s),
                 fom=fom[rows, cols].astype(np.float64), psi=psi[rows, cols].astype(np.float64),
                 ref=np.full(len(rows), ref, dtype=np.int64))


def prune_peak_clusters(peaks: Peaks, min_distance_px: int, radius2_px: int,
                        scale: float) -> Peaks:
    """RELION's cluster pruning.

    Seed a cluster with the first remaining peak and grow it transitively with every peak
    closer than the (scaled) particle radius to any member; then repeatedly keep the
    highest-FOM member and drop all members closer than the (scaled) minimum distance to it.
    """
    s32 = np.float32(scale)
    link2 = np.float32(radius2_px) * s32 * s32
    mind2 = int(np.float32(min_distance_px * min_distance_px) * s32 * s32)
    remaining = list(range(len(peaks)))
    out: list[int] = []
    x, y, fom = peaks.x, peaks.y, peaks.fom
    while remaining:
        cluster = [remaining.pop(0)]
        k = 0
        while k < len(cluster):
            if remaining:
                rem = np.asarray(remaining)
                d2 = (x[cluster[k]] - x[rem]) ** 2 + (y[cluster[k]] - y[rem]) ** 2
                joined = rem[d2 < link2]
                if len(joined):
                    cluster.extend(joined.tolist())
                    keep = set(joined.tolist())
                    remaining = [r for r in remaining if r not in keep]
            k += 1
        members = np.asarray(cluster)
        while len(members):
            best = members[int(np.argmax(fom[members]))]  # first of equals, as RELION's strict >
            out.append(int(best))
            d2 = (x[members] - x[best]) ** 2 + (y[members] - y[best]) ** 2
            members = members[(d2 >= mind2) & (members != best)]
    return peaks.take(out)


def remove_close_neighbours(peaks: Peaks, min_distance_px: int, scale: float) -> Peaks:
    """Keep a peak only if no other peak is within the minimum distance (both of a pair go).

    Reproduces RELION's running-minimum quirk: a closer neighbour replaces the current
    minimum only when its squared distance is below ``(int)(current·s²)``.
    """
    s2 = np.float32(scale) * np.float32(scale)
    mind2 = int(np.float32(min_distance_px * min_distance_px) * s2)
    keep = []
    for i in range(len(peaks)):
        d2 = (peaks.x - peaks.x[i]) ** 2 + (peaks.y - peaks.y[i]) ** 2
        current = 99999
        for j in np.flatnonzero(d2 < int(np.float32(current) * s2)):
            if j != i and d2[j] < int(np.float32(current) * s2):
                current = int(d2[j])
        if current > mind2:
            keep.append(i)
    return peaks.take(keep)
