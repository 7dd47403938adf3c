"""The significant set of each particle's samples: the smallest leading set, by decreasing
weight, that holds ``adaptive_fraction`` of its weight (relion-facts §4.5), found with one
sort over all particles' entries."""

from __future__ import annotations

import math

from cryopick.backend import Array, Backend
from cryopick.classification.estep_setup import EStepSetup

__all__ = ["coarse_threshold", "leading_set", "significant_list", "sort_rows",
           "threshold_of_candidates"]


def sort_rows(bk: Backend, rows: Array, values: Array, n_rows: int
               ) -> tuple[Array, Array, Array]:
    """Order entries by row, then by decreasing value; each row's [start, end) in that order."""
    xp = bk.xp
    # a row offset plus a decreasing function of ln(value) in (0, 0.5): one sort orders rows
    # and, within a row, values from the largest, resolving ratios up to e^±700
    key = xp.astype(rows, xp.float64) + 0.25 - xp.atan(xp.log(values)) / (2.0 * math.pi)
    order = xp.argsort(key)
    rows_sorted = xp.take(rows, order)
    ids = xp.arange(n_rows, dtype=rows.dtype, **bk.device_kw)
    return order, xp.searchsorted(rows_sorted, ids, side="left"), \
        xp.searchsorted(rows_sorted, ids, side="right")


def leading_set(bk: Backend, rows: Array, values: Array, start: Array, end: Array,
                 fraction: float, row_total: Array | None = None) -> tuple[Array, Array]:
    """Per row (entries sorted by decreasing value): keep the smallest leading set whose sum
    reaches ``fraction`` of the row total (the entries' own sum unless ``row_total`` is
    given). Returns the keep mask and the entries' row sums ``(n_rows,)``."""
    xp = bk.xp
    cum = xp.cumulative_sum(values)
    before = cum - values
    base = xp.take(before, start)
    total = xp.take(cum, end - 1) - base
    target = total if row_total is None else row_total
    before_in_row = before - xp.take(base, rows)
    return before_in_row < fraction * xp.take(target, rows), total


def coarse_threshold(setup: EStepSetup, logw: Array) -> tuple[Array, Array, Array]:
    """Weights relative to each particle's best ``(B, S)``, the significance threshold and
    the number of significant coarse samples per particle ``(B,)``.

    The significant set is the smallest leading set (by decreasing weight) holding
    ``adaptive_fraction`` f of the weight. Weights below ``(1 − f)·total/S`` can never be in
    it (all of them together hold less than ``1 − f``), so when few weights reach that,
    only those are sorted.
    """
    xp = setup.bk.xp
    f = setup.params.adaptive_fraction
    w = xp.exp(logw - xp.max(logw, axis=1, keepdims=True))
    total = xp.sum(w, axis=1)
    candidates = w >= ((1.0 - f) * total / w.shape[1])[:, None]
    if 16 * int(xp.count_nonzero(candidates)) < w.shape[0] * w.shape[1]:
        threshold = threshold_of_candidates(setup, w, candidates, total)
    else:
        ordered = xp.sort(w, axis=1)
        cum = xp.cumulative_sum(ordered, axis=1)
        dropped = xp.count_nonzero(cum <= (1.0 - f) * cum[:, -1:], axis=1)
        index = xp.clip(dropped, None, w.shape[1] - 1)[:, None]
        threshold = xp.take_along_axis(ordered, index, axis=1)[:, 0]
    counts = xp.astype(xp.count_nonzero(w >= threshold[:, None], axis=1), xp.int64)
    return w, threshold, counts


def threshold_of_candidates(setup: EStepSetup, w: Array, candidates: Array, total: Array
                             ) -> Array:
    """Per row, the smallest weight of the significant set, sorting only the candidates."""
    bk, xp = setup.bk, setup.bk.xp
    b, n_samples = w.shape
    rows, cols = xp.nonzero(candidates)
    values = xp.astype(xp.take(xp.reshape(w, (-1,)), rows * n_samples + cols), xp.float64)
    order, start, end = sort_rows(bk, rows, values, b)
    rows, values = xp.take(rows, order), xp.take(values, order)
    keep, _ = leading_set(bk, rows, values, start, end, setup.params.adaptive_fraction,
                           xp.astype(total, xp.float64))
    kept = xp.nonzero(keep)[0]
    ids = xp.arange(b, dtype=rows.dtype, **bk.device_kw)
    last = xp.searchsorted(xp.take(rows, kept), ids, side="right") - 1
    return xp.astype(xp.take(xp.take(values, kept), last), w.dtype)


def significant_list(setup: EStepSetup, w: Array, threshold: Array) -> tuple[Array, Array]:
    """The significant coarse samples as ``(rows, cols)``, by particle, best first."""
    bk, xp = setup.bk, setup.bk.xp
    b, n_samples = w.shape
    rows, cols = xp.nonzero(w >= threshold[:, None])
    values = xp.astype(xp.take(xp.reshape(w, (-1,)), rows * n_samples + cols), xp.float64)
    order, _, _ = sort_rows(bk, rows, values, b)
    return xp.take(rows, order), xp.take(cols, order)
