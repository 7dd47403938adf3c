"""Incremental reruns while micrographs arrive during collection.

Two pieces keep a rerun to the new work:

* **Content-synced inputs.** Snakemake reruns a job whose input is newer than its outputs, so
  the input of the stages decided on the subset (selection, LoG on the subset, 2D
  classification, template selection) is a copy of the micrograph STAR file that is rewritten
  only when what the selection depends on changes (:func:`sync_subset_source`): micrographs
  appended after the subset was chosen leave it, and its modification time, as it was.
* **Per-micrograph keys.** A per-micrograph job (picking, extraction) that does rerun keeps each
  micrograph whose outputs were made from the same settings, the same STAR row and the same
  files (:class:`KeptMicrographs`); only the others are computed. The kept files keep their
  bytes and modification times, and the job-level files are gathered from them.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from cryopick.errors import atomic_output
from cryopick.io.star import MicrographSet, read_micrographs_star

__all__ = ["KeptMicrographs", "collecting_project", "file_stamp", "micrograph_keys", "settings_key",
           "subset_may_grow", "sync_subset_source", "sync_text", "without_excluded",
           "template_set_line", "write_first_micrographs"]

logger = logging.getLogger(__name__)


def sync_text(path: str | os.PathLike[str], text: str) -> bool:
    """Write ``text`` to ``path`` only when its content differs; True when written.

    An unchanged file keeps its modification time, so Snakemake sees an unchanged input.
    """
    path = Path(path)
    if path.is_file() and path.read_text() == text:
        return False
    with atomic_output(path) as tmp:
        tmp.write_text(text)
    return True


def file_stamp(path: str | os.PathLike[str]) -> str:
    """``size mtime_ns`` of a file ("missing" when absent): a cheap content check of a file
    that is only ever replaced whole (every cryopick output is written then renamed)."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return "missing"
    return f"{info.st_size} {info.st_mtime_ns}"


def settings_key(settings: object, files: Iterable[str] = ()) -> str:
    """A digest of a job's settings and the stamps of the job-level files it reads."""
    digest = hashlib.sha256(repr(settings).encode())
    for path in sorted(str(p) for p in files):
        digest.update(f"{path} {file_stamp(path)}\n".encode())
    return digest.hexdigest()


def micrograph_keys(mics: MicrographSet, with_index: bool = False,
                    extra: Callable[[str], Iterable[str]] | None = None) -> dict[str, str]:
    """Per micrograph, a digest of what its outputs depend on: its STAR row and optics group,
    the micrograph file's stamp, its position when ``with_index`` (seeds drawn by position),
    and the stamps of the files ``extra(name)`` names (e.g. its coordinate file)."""
    keys = {}
    for index, name in enumerate(mics.names):
        parts = [repr(sorted(mics.row(index).items())),
                 repr(sorted(mics.optics_row(index).items())), file_stamp(name),
                 str(index) if with_index else ""]
        parts += [f"{p} {file_stamp(p)}" for p in (extra(name) if extra else ())]
        keys[name] = hashlib.sha256("\n".join(parts).encode()).hexdigest()
    return keys


class KeptMicrographs:
    """The micrographs a rerun of a per-micrograph job keeps, from the state its last finished
    attempt left in ``path`` (JSON: the settings key and each finished micrograph's key).

    :meth:`begin` returns the kept micrographs and rewrites the state to hold only them, so
    that an attempt interrupted while redoing a micrograph never vouches for its old outputs;
    :meth:`finish` records every micrograph done (:meth:`written` tells the outputs this
    attempt wrote from stale ones left by an earlier run).
    """

    def __init__(self, path: str | os.PathLike[str], settings: str, keys: Mapping[str, str]):
        self.path, self.settings, self.keys = Path(path), settings, dict(keys)

    def _load(self) -> dict[str, str]:
        try:
            state = json.loads(self.path.read_text())
        except (FileNotFoundError, ValueError):
            return {}
        return state.get("micrographs", {}) if state.get("settings") == self.settings else {}

    def _save(self, done: Mapping[str, str]) -> None:
        with atomic_output(self.path) as tmp:
            tmp.write_text(json.dumps({"settings": self.settings, "micrographs": dict(done)},
                                      indent=0, sort_keys=True) + "\n")

    def recorded(self) -> dict[str, str]:
        """The recorded micrographs and their keys (none under other settings); read only."""
        return self._load()

    def begin(self, exists: Callable[[str], bool]) -> frozenset[str]:
        """The micrographs whose recorded key is current and whose output ``exists``."""
        before = self._load()
        kept = {name for name, key in self.keys.items()
                if before.get(name) == key and exists(name)}
        self._save({name: self.keys[name] for name in sorted(kept)})
        self.since_ns = self.path.stat().st_mtime_ns  # files written from now on are new
        if kept:
            logger.info("%d micrograph(s) unchanged since the last run: kept", len(kept))
        return frozenset(kept)

    def written(self, path: str | os.PathLike[str]) -> bool:
        """Whether ``path`` was written since :meth:`begin` (by this attempt)."""
        try:
            return os.stat(path).st_mtime_ns >= self.since_ns
        except FileNotFoundError:
            return False

    def finish(self, done: Iterable[str]) -> None:
        """Record ``done`` (micrographs whose outputs this attempt left complete)."""
        self._save({name: self.keys[name] for name in sorted(set(done)) if name in self.keys})


def without_excluded(mics: MicrographSet, exclude: Iterable[str]) -> MicrographSet:
    """``mics`` without the micrographs named in ``exclude`` (``rlnMicrographName`` values, or
    file names); the same set when none is excluded."""
    exclude = set(exclude)
    if not exclude:
        return mics
    keep = [i for i, name in enumerate(mics.names)
            if name not in exclude and os.path.basename(name) not in exclude]
    if len(keep) < len(mics.names):
        logger.info("%d micrograph(s) excluded (exclude_micrographs)", len(mics.names) - len(keep))
    return mics.subset(keep)


def subset_may_grow(select: Mapping, n_selected: int, n_source: int) -> bool:
    """Whether a selection of ``n_selected`` of ``n_source`` micrographs could take more were
    more micrographs listed: it took every one and was still short (``first_n: auto`` below
    its target, or a number above the micrographs there were). Named micrographs never grow."""
    if select.get("micrographs"):
        return False
    first_n = select["first_n"]
    return n_selected == n_source and (first_n == "auto" or n_selected < int(first_n))


def _rows(mics: MicrographSet, names: Iterable[str]) -> list | None:
    index = {name: i for i, name in enumerate(mics.names)}
    if any(name not in index for name in names):
        return None
    return [(mics.row(index[n]), mics.optics_row(index[n])) for n in names]


def sync_subset_source(micrographs_star: str | os.PathLike[str], source: str | os.PathLike[str],
                       selected: str | os.PathLike[str], select: Mapping,
                       refresh: str = "never") -> bool:
    """Keep ``source``, the copy of ``micrographs_star`` the subset is chosen from, as it was
    while the subset it gave still holds; True when rewritten.

    It is rewritten (and the subset stages rerun) on a first run, when a selected micrograph's
    row changed or left, when the first micrographs changed order (a first-N selection), and,
    with ``refresh: when_subset_grows``, when micrographs were appended to a selection that
    took every micrograph and could take more (:func:`subset_may_grow`).
    """
    text = Path(micrographs_star).read_text()
    source, selected = Path(source), Path(selected)
    if not (source.is_file() and selected.is_file()) or source.read_text() == text:
        return sync_text(source, text)
    old, new = read_micrographs_star(source), read_micrographs_star(micrographs_star)
    chosen = read_micrographs_star(selected).names
    rows = _rows(old, chosen)
    same = rows is not None and rows == _rows(new, chosen)
    if same and not select.get("micrographs"):  # first N: the same first N, in order
        same = new.names[:len(chosen)] == chosen
    grows = subset_may_grow(select, len(chosen), len(old.names)) and len(new.names) > len(chosen)
    if same and not (grows and refresh == "when_subset_grows"):
        if grows:
            logger.info("%s: the subset could grow with the new micrographs; kept as it is "
                        "(refresh_templates: never)", selected)
        return False
    return sync_text(source, text)


def write_first_micrographs(star: str | os.PathLike[str], out: str | os.PathLike[str],
                            n: int, leave_out: Iterable[str] = ()) -> None:
    """Write the first ``n`` micrographs of ``star`` (less those in ``leave_out``) to ``out``:
    the STAR file of a collection that has reached micrograph ``n``."""
    from cryopick.io.star import write_micrographs_star

    mics = read_micrographs_star(star)
    leave_out = set(leave_out)
    write_micrographs_star(mics.subset([i for i, name in enumerate(mics.names[:n])
                                        if name not in leave_out]), out)


def template_set_line(references: str | os.PathLike[str], n_micrographs: int) -> str:
    """The note line saying which templates picked which micrographs: one digest of the
    template STAR file and its stack for all of them (a new template set re-picks every
    micrograph, so no micrograph keeps picks of an older set)."""
    digest = hashlib.sha256()
    for path in (Path(references), Path(references).with_suffix(".mrcs")):
        if path.is_file():
            digest.update(path.read_bytes())
    return (f"templates: {references} (sha256 {digest.hexdigest()[:12]}) picked all "
            f"{n_micrographs} micrograph(s) listed")


def collecting_project(root: str | os.PathLike[str], simulated: str | os.PathLike[str], n: int,
                       config: Mapping, star: str = "CtfFind/job003/micrographs_ctf.star") -> Path:
    """A project in ``root`` whose collection has reached micrograph ``n`` of the simulated
    project ``simulated`` (its micrographs linked, its STAR file copied): ``stream.star``
    lists the first ``n``, and ``config.yaml`` holds ``config`` (which should name
    ``stream.star`` as ``micrographs_star``). For benchmarks and tests of incremental reruns."""
    import shutil

    import yaml

    root, simulated = Path(root), Path(simulated)
    (root / star).parent.mkdir(parents=True, exist_ok=True)
    (root / "MotionCorr").symlink_to(simulated.resolve() / "MotionCorr")
    shutil.copy2(simulated / star, root / star)
    write_first_micrographs(root / star, root / "stream.star", n)
    (root / "config.yaml").write_text(yaml.safe_dump(dict(config)))
    return root
