"""STAR tables without pandas: a loop as NumPy columns, and a parser for RELION's STAR files.

Importing pandas (which ``starfile`` needs) costs about 0.25 s per process, more than a whole
micrograph's extraction, and ``starfile`` takes ~7 ms per small file. The per-micrograph paths
(coordinate files, micrograph tables, particle extraction) therefore read and write
:class:`Loop` tables; :meth:`Loop.to_frame` gives a DataFrame where one is wanted.

The parser reads what RELION writes: ``data_`` blocks holding either a ``loop_`` (``_label``
lines, then one row per line) or ``_label value`` pairs (one row), ``#`` comments, and values
quoted with ``"`` or ``'`` when they contain blanks or are empty. A column whose values all
parse as integers is ``int64``, else as numbers ``float64``, else text (``object``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from cryopick.errors import InputError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Loop", "read_star_loops"]


class Loop:
    """A STAR loop: labels in order, each a 1-D NumPy column of the same length.

    Text columns have ``object`` dtype (so that assigning a longer string never truncates).
    """

    __slots__ = ("_columns", "_n")

    def __init__(self, columns: Mapping[str, Any] | None = None, n_rows: int | None = None):
        self._columns: dict[str, np.ndarray] = {}
        self._n = n_rows
        for label, values in (columns or {}).items():
            self[label] = values
        if self._n is None:
            self._n = 0

    # --- shape and access ----------------------------------------------------------------
    @property
    def columns(self) -> list[str]:
        """The labels, in order."""
        return list(self._columns)

    def __len__(self) -> int:
        return self._n

    def __contains__(self, label: object) -> bool:
        return label in self._columns

    def __getitem__(self, label: str) -> np.ndarray:
        try:
            return self._columns[label]
        except KeyError:
            raise KeyError(f"no column {label!r} (columns: {', '.join(self._columns)})") from None

    def __setitem__(self, label: str, values: Any) -> None:
        """Set a column: an array of the loop's length, or one value for every row."""
        column = _as_column(values)
        if column.ndim == 0:
            if self._n is None:
                raise ValueError(f"column {label!r}: a single value needs a row count")
            column = np.full(self._n, column.item(), dtype=column.dtype)
        if self._n is None:
            self._n = len(column)
        elif len(column) != self._n:
            raise ValueError(f"column {label!r} has {len(column)} rows, the loop {self._n}")
        self._columns[label] = column

    def __repr__(self) -> str:
        return f"Loop({len(self)} rows: {', '.join(self._columns)})"

    def copy(self) -> Loop:
        """A copy whose columns can be changed without touching this loop."""
        return Loop({label: column.copy() for label, column in self._columns.items()}, self._n)

    def take(self, rows: Sequence[int] | np.ndarray) -> Loop:
        """The rows ``rows`` (indices or a boolean mask), in that order."""
        rows = np.asarray(rows)
        n = int(np.count_nonzero(rows)) if rows.dtype == bool else len(rows)
        return Loop({label: column[rows] for label, column in self._columns.items()}, n)

    def drop(self, labels: Iterable[str]) -> Loop:
        """A loop without the columns ``labels`` (absent ones are ignored)."""
        gone = set(labels)
        return Loop({k: v for k, v in self._columns.items() if k not in gone}, self._n)

    def row(self, index: int) -> dict[str, Any]:
        """Row ``index`` as ``{label: Python scalar}``."""
        return {label: column[index].item() if isinstance(column[index], np.generic)
                else column[index] for label, column in self._columns.items()}

    # --- conversion ----------------------------------------------------------------------
    def to_frame(self) -> pd.DataFrame:
        """The loop as a pandas DataFrame (imports pandas)."""
        import pandas as pd

        return pd.DataFrame({label: column for label, column in self._columns.items()},
                            index=pd.RangeIndex(len(self)))

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> Loop:
        """A loop holding a DataFrame's columns (text as ``object`` columns)."""
        return cls({str(label): frame[label].to_numpy() for label in frame.columns}, len(frame))

    @classmethod
    def concat(cls, loops: Sequence[Loop]) -> Loop:
        """Rows of ``loops`` one after the other; a label missing from some gets 0 or "".

        Labels come in order of first appearance (as RELION joins particle tables).
        """
        labels: dict[str, np.ndarray] = {}
        for loop in loops:
            for label in loop.columns:
                labels.setdefault(label, loop[label])
        out = {}
        for label, first in labels.items():
            fill = "" if first.dtype.kind in "OUS" else 0
            parts = [loop[label] if label in loop else np.full(len(loop), fill, dtype=first.dtype)
                     for loop in loops]
            out[label] = np.concatenate(parts)
        return cls(out, sum(len(loop) for loop in loops))


def _as_column(values: Any) -> np.ndarray:
    """An array column: text as ``object``, everything else as NumPy makes it."""
    if isinstance(values, (str, bytes)) or np.isscalar(values):
        column = np.asarray(values)
    elif isinstance(values, np.ndarray):
        column = values
    else:
        column = np.asarray(list(values) if not hasattr(values, "to_numpy") else
                            values.to_numpy())
    if column.dtype.kind in "US":
        column = column.astype(object)
    return column


# --- parsing --------------------------------------------------------------------------------

_TOKENS = re.compile(r'"([^"]*)"|\'([^\']*)\'|(\S+)')


def _split(line: str) -> list[str]:
    """The values of a line; quoted values may hold blanks or be empty."""
    if '"' not in line and "'" not in line:
        return line.split()
    return [m.group(m.lastindex) for m in _TOKENS.finditer(line)]


def _typed(values: list[str]) -> np.ndarray:
    """A column from its text: int64 when every value is an integer, else float64, else text."""
    if not values:
        return np.zeros(0, dtype=np.float64)
    try:
        return np.array(values, dtype=np.int64)
    except (ValueError, OverflowError):
        pass
    try:
        return np.array(values, dtype=np.float64)
    except ValueError:
        return np.asarray(values, dtype=object)


def _read_text(path: Path) -> str:
    try:
        return path.read_text()
    except FileNotFoundError:
        raise InputError(f"{path}: STAR file not found") from None
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(f"{path}: not a readable STAR file ({err})") from err


def _block_loop(state: str, labels: list[str], rows: list[list[str]], pairs: dict[str, str]
                ) -> Loop:
    """One block read: its loop (``state`` header or rows), else its ``_label value`` pairs."""
    if state in ("header", "rows"):
        columns = list(zip(*rows)) if rows else [() for _ in labels]
        return Loop({label: _typed(list(values)) for label, values in zip(labels, columns)},
                    len(rows))
    if pairs:
        return Loop({label: _typed([v]) for label, v in pairs.items()}, 1)
    return Loop()


def read_star_loops(path: str | os.PathLike[str]) -> dict[str, Loop]:
    """Every block of a STAR file as ``{block name: Loop}`` (a ``_label value`` block: one row).

    Errors name the file and line: a missing file, a row with the wrong number of values, a
    file without data blocks.
    """
    path = Path(path)
    text = _read_text(path)
    blocks: dict[str, Loop] = {}
    name: str | None = None
    labels: list[str] = []
    rows: list[list[str]] = []
    pairs: dict[str, str] = {}
    state = "none"  # none | header | rows | pairs
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("data_"):
            if name is not None:
                blocks[name] = _block_loop(state, labels, rows, pairs)
            name, labels, rows, pairs, state = line[5:], [], [], {}, "pairs"
            continue
        if name is None:
            raise InputError(f"{path}, line {number}: expected data_ before {line[:40]!r}")
        if line.startswith("loop_"):
            labels, rows, state = [], [], "header"
            continue
        if line.startswith("_") and state in ("header", "pairs"):
            parts = _split(line)
            if state == "header":
                labels.append(parts[0][1:])
            elif len(parts) >= 2:
                pairs[parts[0][1:]] = parts[1]
            else:
                raise InputError(f"{path}, line {number}: {parts[0]} has no value")
            continue
        if state not in ("header", "rows"):
            raise InputError(f"{path}, line {number}: value outside a loop: {line[:40]!r}")
        values = _split(line)
        if len(values) != len(labels):
            raise InputError(f"{path}, line {number}: {len(values)} values for "
                             f"{len(labels)} labels")
        rows.append(values)
        state = "rows"
    if name is not None:
        blocks[name] = _block_loop(state, labels, rows, pairs)
    if not blocks:
        raise InputError(f"{path}: STAR file holds no data blocks")
    return blocks
