"""``review.yaml``: the decisions taken on the review page, as workflow config overrides.

The page's *Export* writes it; saved in the project folder (the folder Snakemake runs in,
``--directory``), the next run reads it::

    threshold: 0.25                  # the template picks' FOM threshold
    exclude_micrographs:             # rlnMicrographName of each micrograph to leave out
    - MotionCorr/job002/Movies/mic003.mrc

and applies it over the config file: ``threshold`` becomes the final template pass's
``autopick_template.final.threshold``,
``exclude_micrographs`` becomes ``exclude_micrographs``. Both keys are optional.
"""

from __future__ import annotations

import dataclasses
import math
import os
from pathlib import Path

import yaml

from cryopick.errors import InputError

__all__ = ["REVIEW_FILE", "ReviewDecisions", "read_project_review", "read_review"]

REVIEW_FILE = "review.yaml"
_KEYS = ("threshold", "exclude_micrographs")


@dataclasses.dataclass(frozen=True)
class ReviewDecisions:
    """The decisions of one ``review.yaml`` (None / empty: not decided)."""

    path: str | None = None  # the file they came from (None: no review.yaml)
    threshold: float | None = None
    exclude_micrographs: tuple[str, ...] = ()

    def config_overrides(self) -> dict:
        """The workflow config keys these decisions set: ``autopick_template.final.threshold``
        and ``exclude_micrographs`` (only those decided)."""
        overrides: dict = {}
        if self.threshold is not None:
            overrides["autopick_template"] = {"final": {"threshold": self.threshold}}
        if self.exclude_micrographs:
            overrides["exclude_micrographs"] = list(self.exclude_micrographs)
        return overrides

    def apply(self, config: dict) -> None:
        """Set :meth:`config_overrides` in a workflow config (nested keys merged)."""
        _merge(config, self.config_overrides())

    def describe(self) -> list[str]:
        """One line per decision applied (none: one line saying so)."""
        if self.path is None:
            return [f"no {REVIEW_FILE}: the config's values apply"]
        lines = []
        if self.threshold is not None:
            lines.append(f"autopick_template.final.threshold: {self.threshold:g} "
                         f"(from {self.path})")
        if self.exclude_micrographs:
            lines.append(f"exclude_micrographs: {len(self.exclude_micrographs)} micrograph(s) "
                         f"(from {self.path}): " + ", ".join(self.exclude_micrographs))
        return lines or [f"{self.path}: no decisions"]


def read_review(path: str | os.PathLike[str] = REVIEW_FILE,
                micrographs: list[str] | None = None) -> ReviewDecisions:
    """The decisions of ``path``; none when the file does not exist.

    ``micrographs``: the names of the micrograph STAR, when known; an excluded micrograph
    must be one of them. A malformed file raises InputError naming it and what is wrong.
    """
    path = Path(path)
    if not path.is_file():
        return ReviewDecisions()
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise InputError(f"{path}: not valid YAML ({err})") from err
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a mapping with keys {', '.join(_KEYS)}, "
                         f"got {type(data).__name__}")
    unknown = sorted(set(map(str, data)) - set(_KEYS))
    if unknown:
        raise InputError(f"{path}: unknown key(s) {', '.join(unknown)}; "
                         f"known: {', '.join(_KEYS)}")
    return ReviewDecisions(str(path), _threshold(path, data.get("threshold")),
                           _excluded(path, data.get("exclude_micrographs"), micrographs))


def _merge(config: dict, overrides: dict) -> None:
    for key, value in overrides.items():
        if isinstance(value, dict):
            _merge(config.setdefault(key, {}), value)
        else:
            config[key] = value


def _threshold(path: Path, value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not math.isfinite(value):
        raise InputError(f"{path}: threshold must be a finite number, got {value!r}")
    return float(value)


def _excluded(path: Path, value: object, micrographs: list[str] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise InputError(f"{path}: exclude_micrographs must be a list of micrograph names "
                         f"(rlnMicrographName), got {value!r}")
    repeated = sorted({v for v in value if value.count(v) > 1})
    if repeated:
        raise InputError(f"{path}: exclude_micrographs lists {', '.join(repeated)} twice")
    if micrographs is not None:
        known = set(micrographs)
        missing = [v for v in value if v not in known]
        if missing:
            raise InputError(f"{path}: exclude_micrographs names micrograph(s) not in the "
                             f"micrograph STAR file: {', '.join(missing)}")
    return tuple(value)


def read_project_review(micrographs_star: str | os.PathLike[str]) -> ReviewDecisions:
    """The workflow's decisions: ``review.yaml`` in the current (project) folder, its excluded
    micrographs checked against ``micrographs_star`` when that exists (a simulated demo's
    does not before its first run). The STAR file is read only when ``review.yaml`` exists."""
    if not Path(REVIEW_FILE).is_file():
        return ReviewDecisions()
    names = None
    if Path(micrographs_star).is_file():
        from cryopick.io.star import read_micrographs_star

        names = read_micrographs_star(micrographs_star).names
    return read_review(REVIEW_FILE, names)
