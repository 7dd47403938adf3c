"""Compare two workflow run folders file by file.

Used to check that a refactor or an incremental rerun leaves every output
byte-identical to a reference run:

    python tests/compare_runs.py RUN_A RUN_B

Files that legitimately differ between two runs of the same commit are
compared by content, not bytes: ``note.txt`` (its first line is a time stamp)
and the per-iteration ``*_cryopick.npz`` histories (wall-clock seconds and NaN
entries). The review page's ``screenshot.png`` is a headless Chromium rendering,
which is not byte-reproducible (rounded corners antialias a grey level or two
differently from run to run), so it is compared by its size in pixels; the page it shows,
``Review/index.html``, is compared by bytes. Skipped: Snakemake's files and logs, the ``.cryopick-resume`` keys and
``*.cryopick-resume`` states of resumable jobs (file stamps), and the
``.cryopick/`` copy of the micrograph STAR file the subset is chosen from.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import numpy as np

SKIPPED_PARTS = {".snakemake", "logs", ".cryopick"}
SKIPPED_SUFFIX = ".cryopick-resume"  # resume keys and per-micrograph states: file stamps
TIMING_KEYS = {"h_seconds"}


def _files(root: Path) -> set[str]:
    return {
        str(p.relative_to(root))
        for p in root.rglob("*")
        if p.is_file() and not SKIPPED_PARTS & set(p.relative_to(root).parts)
        and not p.name.endswith(SKIPPED_SUFFIX)
    }


def _same_note(a: Path, b: Path) -> bool:
    strip = lambda p: [ln for ln in p.read_text().splitlines() if not ln.startswith("# 20")]
    return strip(a) == strip(b)


def _same_npz(a: Path, b: Path) -> bool:
    with np.load(a) as x, np.load(b) as y:
        if sorted(x.files) != sorted(y.files):
            return False
        return all(
            k in TIMING_KEYS or np.array_equal(x[k], y[k], equal_nan=x[k].dtype.kind in "fc")
            for k in x.files
        )


def _same_png_size(a: Path, b: Path) -> bool:
    # PNG width and height: big-endian at bytes 16..24 of the IHDR chunk
    return a.read_bytes()[16:24] == b.read_bytes()[16:24]


def _digest(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def compare_trees(a: Path, b: Path) -> list[str]:
    """Return one line for each difference between run folders ``a`` and ``b``."""
    a, b = Path(a), Path(b)
    fa, fb = _files(a), _files(b)
    problems = [f"only in {a}: {f}" for f in sorted(fa - fb)]
    problems += [f"only in {b}: {f}" for f in sorted(fb - fa)]
    for f in sorted(fa & fb):
        pa, pb = a / f, b / f
        if pa.name == "note.txt":
            same = _same_note(pa, pb)
        elif pa.name == "screenshot.png":
            same = _same_png_size(pa, pb)
        elif pa.suffix == ".npz":
            same = _same_npz(pa, pb)
        else:
            same = _digest(pa) == _digest(pb)
        if not same:
            problems.append(f"differs: {f}")
    return problems


if __name__ == "__main__":
    found = compare_trees(Path(sys.argv[1]), Path(sys.argv[2]))
    print("\n".join(found) or "identical")
    sys.exit(1 if found else 0)
