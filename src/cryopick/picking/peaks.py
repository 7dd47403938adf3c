"""Peak search and pruning on figure-of-merit maps, as RELION's template picker does it.

Peaks live on the working grid in integer working pixels; every distance threshold is the
micrograph-pixel value scaled by the working scale ``s`` (RELION compares squared distances
with thresholds scaled by ``s²``, truncated to integers where RELION truncates).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from cryopick.picking.working_size import first_xmipp_index

__all__ = ["Peaks", "peak_search", "prune_peak_clusters", "remove_close_neighbours"]

# peak lists this long (a search with no threshold, crowded maps) are paired and clustered
# with SciPy's compiled KD-tree and graph search; shorter ones with NumPy alone, as SciPy's
# spatial and graph modules cost more to import (~0.06 s per process) than they would save
LARGE_PEAK_LISTS = 2000


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
    r0 = w // 2 + first_xmipp_index(ny_s) + skip
    r1 = w // 2 + first_xmipp_index(ny_s) + ny_s - 1 - skip
    c0 = w // 2 + first_xmipp_index(nx_s) + skip
    c1 = w // 2 + first_xmipp_index(nx_s) + nx_s - 1 - skip
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
    return Peaks(x=cols - w // 2 - first_xmipp_index(nx_s),
                 y=rows - w // 2 - first_xmipp_index(ny_s),
                 fom=fom[rows, cols].astype(np.float64), psi=psi[rows, cols].astype(np.float64),
                 ref=np.full(len(rows), ref, dtype=np.int64))


def prune_peak_clusters(peaks: Peaks, min_distance_px: int, radius2_px: int,
                        scale: float) -> Peaks:
    """RELION's cluster pruning.

    Seed a cluster with the first remaining peak and grow it transitively with every peak
    closer than the (scaled) particle radius to any member; then repeatedly keep the
    highest-FOM member and drop all members closer than the (scaled) minimum distance to it.

    Computed without a loop over peaks: clusters are the connected components of the
    closeness graph (pairs found on a grid of cells), ordered by their first peak; within a cluster,
    peaks rank by FOM and, among equal FOMs, by the order RELION's breadth-first growth
    lists them (its ``>`` keeps the first of equals); the greedy keep-the-best-and-drop-its-
    neighbours is then run in rounds, each keeping every live peak that no live neighbour
    outranks. The result and its order are RELION's.
    """
    n = len(peaks)
    if n == 0:
        return peaks
    s32 = np.float32(scale)
    link2 = float(np.float32(radius2_px) * s32 * s32)
    mind2 = int(np.float32(min_distance_px * min_distance_px) * s32 * s32)
    i, j, d2 = _pairs_within(peaks.x, peaks.y, max(link2, float(mind2)))
    linked = d2 < link2
    seed, bfs_position = _clusters(n, i[linked], j[linked])
    by_rank = np.lexsort((bfs_position, -peaks.fom, seed))  # cluster, then FOM, then BFS order
    rank = np.empty(n, np.int64)
    rank[by_rank] = np.arange(n)
    close = (d2 < mind2) & (seed[i] == seed[j])
    kept = _greedy_keep(n, i[close], j[close], rank)
    return peaks.take(by_rank[kept[by_rank]])


def remove_close_neighbours(peaks: Peaks, min_distance_px: int, scale: float) -> Peaks:
    """Keep a peak only if no other peak is within the minimum distance (both of a pair go).

    Reproduces RELION's running-minimum quirk: a closer neighbour replaces the current
    minimum only when its squared distance is below ``(int)(current·s²)``. The neighbours
    of every peak (in index order, as RELION scans them) are laid out as the rows of one
    table and scanned a column at a time for all peaks together.
    """
    n = len(peaks)
    if n == 0:
        return peaks
    s2 = np.float32(scale) * np.float32(scale)
    mind2 = int(np.float32(min_distance_px * min_distance_px) * s2)
    start = 99999
    i, j, d2 = _pairs_within(peaks.x, peaks.y, float(int(np.float32(start) * s2)))
    source, d2 = np.concatenate([i, j]), np.concatenate([d2, d2])
    order = np.lexsort((np.concatenate([j, i]), source))  # each peak's neighbours by index
    source, d2 = source[order], d2[order]
    counts = np.bincount(source, minlength=n)
    column = np.arange(len(source)) - (np.cumsum(counts) - counts)[source]
    table = np.zeros((n, int(counts.max()) if len(source) else 0), np.int64)
    table[source, column] = d2
    current = np.full(n, start, np.int64)
    for k in range(table.shape[1]):
        limit = (current.astype(np.float32) * s2).astype(np.int64)  # C's (int) truncation
        closer = (k < counts) & (table[:, k] < limit)
        current = np.where(closer, table[:, k], current)
    return peaks.take(np.flatnonzero(current > mind2))


def _pairs_within(x: np.ndarray, y: np.ndarray, limit2: float
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs ``i < j`` of integer positions with squared distance ``< limit2``, and that d2.

    The points are binned into square cells at least as wide as the distance, so a pair
    lies in one cell or in two touching ones; each cell is compared with itself and with
    four of its eight neighbours (the other four see it from their side). NumPy only below
    :data:`LARGE_PEAK_LISTS` points: this runs in every picking process, where SciPy's
    KD-tree costs more to import than the search itself.
    """
    none = np.zeros(0, np.int64)
    n = len(x)
    if n < 2 or limit2 <= 0:
        return none, none, none
    x, y = np.asarray(x), np.asarray(y)
    if n >= LARGE_PEAK_LISTS:
        return _pairs_within_kd_tree(x, y, limit2)
    cell = max(1.0, math.ceil(math.sqrt(limit2)))
    cx = np.floor((x - x.min()) / cell).astype(np.int64)
    cy = np.floor((y - y.min()) / cell).astype(np.int64)
    rows = int(cy.max()) + 2  # an empty row between columns: cy ± 1 never wraps into the next
    key = cx * rows + cy
    order = np.argsort(key, kind="stable")
    sorted_key = key[order]
    firsts, lasts = [], []
    for dx, dy in ((0, 0), (0, 1), (1, -1), (1, 0), (1, 1)):
        target = sorted_key + dx * rows + dy
        lo = np.searchsorted(sorted_key, target, "left")
        hi = np.searchsorted(sorted_key, target, "right")
        if dx == 0 and dy == 0:  # within a cell: each pair once, the later point second
            lo = np.arange(1, n + 1)
        count = np.maximum(hi - lo, 0)
        a = np.repeat(np.arange(n), count)
        b = lo[a] + np.arange(len(a)) - np.repeat(np.cumsum(count) - count, count)
        firsts.append(order[a])
        lasts.append(order[b])
    first, last = np.concatenate(firsts), np.concatenate(lasts)
    i, j = np.minimum(first, last).astype(np.int64), np.maximum(first, last).astype(np.int64)
    d2 = (x[i] - x[j]) ** 2 + (y[i] - y[j]) ** 2
    inside = d2 < limit2
    return i[inside], j[inside], d2[inside]


def _pairs_within_kd_tree(x: np.ndarray, y: np.ndarray, limit2: float
                          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`_pairs_within` for long lists, with SciPy's KD-tree (its import then pays):
    pairs found a little beyond the distance, then cut by the exact integer test."""
    from scipy.spatial import cKDTree

    pairs = cKDTree(np.column_stack([x, y]).astype(np.float64)).query_pairs(
        math.sqrt(limit2) * (1 + 1e-9) + 1e-9, output_type="ndarray")
    i, j = pairs[:, 0].astype(np.int64), pairs[:, 1].astype(np.int64)  # i < j
    d2 = (x[i] - x[j]) ** 2 + (y[i] - y[j]) ** 2
    inside = d2 < limit2
    return i[inside], j[inside], d2[inside]


def _clusters(n: int, i: np.ndarray, j: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per peak: the first peak of its cluster, and its position in RELION's growth order.

    RELION grows a cluster breadth-first from its first peak, adding a member's unvisited
    neighbours in index order. One breadth-first search from an extra node linked to every
    cluster's first peak (in index order) visits each cluster in that same relative order;
    it runs a level at a time, a level's nodes in order of discovery: by the queue position
    of the node that found them first, then by index.
    """
    source, target = np.concatenate([i, j]), np.concatenate([j, i])
    by_source = np.argsort(source * n + target)  # by source, then by target
    source, target = source[by_source], target[by_source]
    start = np.searchsorted(source, np.arange(n + 1))
    if len(source) >= 2 * LARGE_PEAK_LISTS:
        return _clusters_csgraph(n, target, start)
    first = np.arange(n)  # the smallest index of each component: spread minima, then jump
    while True:
        lowest = first.copy()
        np.minimum.at(lowest, source, first[target])
        lowest = lowest[lowest]
        if np.array_equal(lowest, first):
            break
        first = lowest
    position = np.full(n, -1, np.int64)
    frontier = np.flatnonzero(first == np.arange(n))
    position[frontier] = np.arange(len(frontier))
    placed = len(frontier)
    while len(frontier):
        count = start[frontier + 1] - start[frontier]
        offset = np.repeat(start[frontier] - (np.cumsum(count) - count), count)
        found = target[offset + np.arange(int(count.sum()))]
        found = found[position[found] < 0]
        found = found[np.sort(np.unique(found, return_index=True)[1])]
        position[found] = placed + np.arange(len(found))
        placed += len(found)
        frontier = found
    return first, position


def _clusters_csgraph(n: int, target: np.ndarray, start: np.ndarray
                      ) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_clusters` for large graphs (given as sorted adjacency lists ``target``
    indexed by ``start``), with SciPy's compiled components and breadth-first search: the
    same extra node, linked to each cluster's first peak, roots one search."""
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import breadth_first_order, connected_components

    graph = csr_matrix((np.ones(len(target), np.int8), target, start), shape=(n, n))
    n_clusters, label = connected_components(graph, directed=False)
    first = np.full(n_clusters, n)
    np.minimum.at(first, label, np.arange(n))
    rooted = csr_matrix((np.ones(len(target) + n_clusters, np.int8),
                         np.concatenate([target, np.sort(first)]),
                         np.append(start, start[-1] + n_clusters)), shape=(n + 1, n + 1))
    order = breadth_first_order(rooted, n, directed=True, return_predecessors=False)[1:]
    position = np.empty(n, np.int64)
    position[order] = np.arange(n)
    return first[label], position


def _greedy_keep(n: int, i: np.ndarray, j: np.ndarray, rank: np.ndarray) -> np.ndarray:
    """Greedy suppression in rank order (lower rank first) over the pairs ``(i, j)``.

    Sequentially: take the best live peak, keep it, drop its neighbours. In rounds: every
    live peak with no better live neighbour is one the sequential pass keeps; keep them all
    and drop their neighbours. Same set; the rounds number about log(n) on FOM maps.
    """
    better, worse = np.where(rank[i] < rank[j], i, j), np.where(rank[i] < rank[j], j, i)
    alive, kept = np.ones(n, bool), np.zeros(n, bool)
    while alive.any():
        live = alive[better] & alive[worse]
        better, worse = better[live], worse[live]
        beaten = np.zeros(n, bool)
        beaten[worse] = True
        winners = alive & ~beaten
        kept |= winners
        alive &= ~winners
        alive[worse[winners[better]]] = False
    return kept
