"""``cryopick review --project DIR``: write ``DIR/Review/index.html`` for a finished run
(cryopick's own command; the workflow writes the same page at the end of every run)."""

from __future__ import annotations

import argparse
import contextlib
import os
from pathlib import Path

import yaml

from cryopick.errors import InputError

__all__ = ["build_parser", "run"]

# the workflow's own config, beside the package in a source checkout (pip install -e)
_REPO_CONFIG = Path(__file__).resolve().parents[3] / "config" / "config.yaml"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="cryopick review",
                                description="Write the browser review page of a finished run.")
    p.add_argument("--project", default=".",
                   help="the project folder the workflow ran in (default: here)")
    p.add_argument("--configfile", default=None,
                   help="the run's config (job folder aliases, micrograph STAR, particle "
                        "diameter); default: the workflow's config/config.yaml")
    p.add_argument("--o", dest="output", default="Review/index.html",
                   help="the page, relative to the project (default: Review/index.html)")
    p.add_argument("--verbose", action="store_true")
    return p


def run(args: argparse.Namespace) -> None:
    from cryopick.io.star import read_micrographs_star
    from cryopick.review.decisions import REVIEW_FILE, read_review
    from cryopick.review.inputs import ReviewInputs
    from cryopick.review.page import write_review_page
    from cryopick.simulate import CTF_STAR

    project = Path(args.project)
    if not project.is_dir():
        raise InputError(f"{project}: project folder not found")
    config = _config(Path(args.configfile).resolve() if args.configfile else None)
    with contextlib.chdir(project):  # the run's paths are relative to its project folder
        star = config["micrographs_star"]
        inputs = ReviewInputs.from_config(config, CTF_STAR if star == "demo" else star)
        names = read_micrographs_star(inputs.micrographs_star).names
        write_review_page(inputs, args.output, read_review(REVIEW_FILE, names))
    print(os.path.join(project, args.output))


def _config(path: Path | None) -> dict:
    """The run's config as Snakemake builds it: the workflow's config/config.yaml, with
    ``path`` (a --configfile) merged over it."""
    config = yaml.safe_load(_REPO_CONFIG.read_text()) if _REPO_CONFIG.is_file() else {}
    if path is not None:
        if not path.is_file():
            raise InputError(f"{path}: config file not found")
        _merge(config, yaml.safe_load(path.read_text()) or {})
    if "aliases" not in config:
        raise InputError("no workflow config found: give the run's --configfile")
    return config


def _merge(base: dict, update: dict) -> None:
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = value
