"""Peak pruning without a loop over peaks gives RELION's picks, in RELION's order.

The reference implementations below are the direct transcriptions of RELION's loops (one
peak at a time); the library's versions must agree with them exactly, ties included.
"""

import numpy as np
import pytest

from cryopick.picking import peaks as peaks_module
from cryopick.picking.peaks import Peaks, peak_search, prune_peak_clusters, remove_close_neighbours


def _prune_one_at_a_time(peaks: Peaks, min_distance_px: int, radius2_px: int,
                         scale: float) -> Peaks:
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
                cluster.extend(joined.tolist())
                remaining = [r for r in remaining if r not in set(joined.tolist())]
            k += 1
        members = np.asarray(cluster)
        while len(members):
            best = members[int(np.argmax(fom[members]))]
            out.append(int(best))
            d2 = (x[members] - x[best]) ** 2 + (y[members] - y[best]) ** 2
            members = members[(d2 >= mind2) & (members != best)]
    return peaks.take(out)


def _remove_one_at_a_time(peaks: Peaks, min_distance_px: int, scale: float) -> Peaks:
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


@pytest.fixture(params=["numpy", "scipy"])
def paths(request, monkeypatch):
    """Both ways of pairing and clustering: NumPy's, and SciPy's for long peak lists (here
    forced on every list)."""
    if request.param == "scipy":
        monkeypatch.setattr(peaks_module, "LARGE_PEAK_LISTS", 2)
    return request.param


def _same(a: Peaks, b: Peaks) -> None:
    for field in ("x", "y", "fom", "psi", "ref"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))


def _random_peaks(seed: int, size: int, levels: int, n_refs: int) -> Peaks:
    """Peaks of random FOM maps; few grey levels make many equal FOMs (ties)."""
    rng = np.random.default_rng(seed)
    parts = []
    for ref in range(n_refs):
        fom = np.round(rng.random((size, size)) * levels) / levels
        psi = rng.integers(0, 72, (size, size)) * 5.0
        parts.append(peak_search(fom, psi, ref, 0.0, size - 2, size - 2, 2, unscaled=False))
    return Peaks.concat(parts)


@pytest.mark.parametrize("seed,levels,min_distance,radius2,scale", [
    (0, 3, 40, 1600, 0.1), (1, 5, 12, 100, 1.0), (2, 1000, 100, 12321, 0.0886),
    (3, 4, 30, 400, 0.25), (4, 2, 0, 900, 0.2), (5, 1_000_000, 25, 3600, 0.15)])
def test_cluster_pruning_equals_relions_loop_ties_included(seed, levels, min_distance, radius2,
                                                          scale, paths):
    peaks = _random_peaks(seed, 44, levels, n_refs=2)
    assert len(peaks) > 300
    _same(prune_peak_clusters(peaks, min_distance, radius2, scale),
          _prune_one_at_a_time(peaks, min_distance, radius2, scale))


@pytest.mark.parametrize("seed,min_distance,scale", [
    (0, 40, 0.1), (1, 12, 1.0), (2, 100, 0.0886), (3, 60, 0.3), (4, 0, 0.5)])
def test_neighbour_removal_equals_relions_loop(seed, min_distance, scale, paths):
    peaks = _random_peaks(seed, 40, 4, n_refs=2)
    pruned = prune_peak_clusters(peaks, min_distance // 2, 100, scale)
    for candidates in (peaks, pruned):
        _same(remove_close_neighbours(candidates, min_distance, scale),
              _remove_one_at_a_time(candidates, min_distance, scale))


def test_duplicate_positions_and_empty_lists(paths):
    peaks = Peaks(x=np.array([5, 5, 9, 30]), y=np.array([5, 5, 5, 1]),
                  fom=np.array([1.0, 1.0, 1.0, 2.0]), psi=np.zeros(4), ref=np.arange(4))
    for mind in (0, 3, 10):
        _same(prune_peak_clusters(peaks, mind, 36, 1.0), _prune_one_at_a_time(peaks, mind, 36, 1.0))
        _same(remove_close_neighbours(peaks, mind, 1.0), _remove_one_at_a_time(peaks, mind, 1.0))
    assert len(prune_peak_clusters(Peaks.empty(), 5, 25, 1.0)) == 0
    assert len(remove_close_neighbours(Peaks.empty(), 5, 1.0)) == 0


def test_grid_pairs_and_growth_order_match_scipys_kd_tree_and_breadth_first_search(paths):
    """The NumPy-only pair search and cluster growth order give what SciPy's cKDTree and
    csgraph breadth-first search give, for sparse to crowded points and every radius."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import breadth_first_order, connected_components
    from scipy.spatial import cKDTree

    from cryopick.picking.peaks import _clusters, _pairs_within

    rng = np.random.default_rng(0)
    for _ in range(200):
        n, size = int(rng.integers(2, 300)), int(rng.integers(5, 300))
        x, y = rng.integers(-20, size, n), rng.integers(0, size, n)
        limit2 = float(rng.choice([0.5, 1, 2, 9, 25, 50.5, 400, 99999]))
        pairs = cKDTree(np.column_stack([x, y]).astype(float)).query_pairs(
            np.sqrt(limit2) + 1, output_type="ndarray")
        d2 = (x[pairs[:, 0]] - x[pairs[:, 1]]) ** 2 + (y[pairs[:, 0]] - y[pairs[:, 1]]) ** 2
        expected = sorted(map(tuple, np.column_stack([pairs, d2])[d2 < limit2].tolist()))
        i, j, got_d2 = _pairs_within(x, y, limit2)
        assert sorted(zip(i.tolist(), j.tolist(), got_d2.tolist())) == expected

        graph = coo_matrix((np.ones(2 * len(i)), (np.r_[i, j], np.r_[j, i])), shape=(n, n))
        n_clusters, label = connected_components(graph.tocsr(), directed=False)
        first = np.full(n_clusters, n)
        np.minimum.at(first, label, np.arange(n))
        rooted = coo_matrix((np.ones(2 * len(i) + n_clusters),
                             (np.r_[i, j, np.full(n_clusters, n)], np.r_[j, i, first])),
                            shape=(n + 1, n + 1)).tocsr()
        rooted.sort_indices()
        order = breadth_first_order(rooted, n, directed=True, return_predecessors=False)[1:]
        seed, position = _clusters(n, i, j)
        assert np.array_equal(seed, first[label])
        assert np.array_equal(order, np.argsort(position))
