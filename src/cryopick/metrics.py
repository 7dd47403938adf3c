"""Comparing pick sets: one-to-one matching, precision/recall/F1, agreement between pickers."""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy.spatial import cKDTree

__all__ = ["PickScore", "agreement", "match_picks", "score_picks"]


def match_picks(picks: np.ndarray, truth: np.ndarray, radius_px: float) -> np.ndarray:
    """Greedy one-to-one matching, nearest pairs first, of ``(n, 2)`` against ``(m, 2)`` points.

    Returns a ``(k, 2)`` integer array of index pairs ``(i_pick, j_truth)`` closer than
    ``radius_px``; every pick and every true position is used at most once.
    """
    if len(picks) == 0 or len(truth) == 0:
        return np.zeros((0, 2), dtype=np.int64)
    pairs = cKDTree(picks).sparse_distance_matrix(cKDTree(truth), radius_px, output_type="ndarray")
    if len(pairs) == 0:
        return np.zeros((0, 2), dtype=np.int64)
    order = np.argsort(pairs["v"], kind="stable")
    used_p, used_t, out = set(), set(), []
    for i, j in zip(pairs["i"][order], pairs["j"][order]):
        if i not in used_p and j not in used_t:
            used_p.add(i)
            used_t.add(j)
            out.append((i, j))
    return np.asarray(out, dtype=np.int64).reshape(-1, 2)


@dataclasses.dataclass(frozen=True)
class PickScore:
    """Counts and rates of picks against ground truth."""

    n_picks: int
    n_true: int
    n_matched: int

    @property
    def precision(self) -> float:
        return self.n_matched / self.n_picks if self.n_picks else 0.0

    @property
    def recall(self) -> float:
        return self.n_matched / self.n_true if self.n_true else 0.0

    @property
    def f1(self) -> float:
        total = self.n_picks + self.n_true
        return 2.0 * self.n_matched / total if total else 0.0

    def __add__(self, other: PickScore) -> PickScore:
        return PickScore(self.n_picks + other.n_picks, self.n_true + other.n_true,
                         self.n_matched + other.n_matched)


def score_picks(picks: np.ndarray, truth: np.ndarray, radius_px: float) -> PickScore:
    """Precision, recall and F1 of ``(n, 2)`` picks against ``(m, 2)`` true centres."""
    return PickScore(len(picks), len(truth), len(match_picks(picks, truth, radius_px)))


def agreement(a: np.ndarray, b: np.ndarray, radius_px: float) -> tuple[float, float]:
    """Fraction of ``a`` with a point of ``b`` within ``radius_px``, and of ``b`` in ``a``."""
    def covered(p: np.ndarray, q: np.ndarray) -> float:
        if len(p) == 0:
            return 1.0
        if len(q) == 0:
            return 0.0
        dist, _ = cKDTree(q).query(p)
        return float(np.mean(dist <= radius_px))

    return covered(a, b), covered(b, a)
