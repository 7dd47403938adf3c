"""Fast re-picking from saved FOM maps: one setting, or a sweep over thresholds.

Tuning threshold, minimum distance and noise filters costs only the peak search once the
maps exist (``--write_fom_maps``); a sweep reads each micrograph's maps once and counts
picks at every threshold, so a user sees in seconds what the tutorial tunes by re-running.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Collection
from pathlib import Path

import numpy as np
import pandas as pd

from cryopick.errors import InputError, atomic_output
from cryopick.io.loop import read_star_loops
from cryopick.io.star import MicrographSet, post_name
from cryopick.picking.job import AutopickJob, check_micrograph_files, finish_job, qc_path
from cryopick.picking.references import prepare_templates
from cryopick.picking.template import TemplatePickParams, peaks_from_maps
from cryopick.picking.template_job import TemplateSpec, _micrograph_shape, _read_maps, \
    fom_map_paths, from_config
from cryopick.picking.working_size import working_size

__all__ = ["SWEEP_THRESHOLDS", "gather_picking_job", "parse_sweep", "plot_sweep",
           "sweep_thresholds"]

logger = logging.getLogger(__name__)

SWEEP_THRESHOLDS = np.round(np.arange(-0.2, 2.01, 0.1), 3)  # the workflow's optimisation pass


def parse_sweep(text: str) -> np.ndarray:
    """``START:STOP:STEP`` (inclusive) or a comma list of thresholds."""
    try:
        if ":" in text:
            start, stop, step = (float(v) for v in text.split(":"))
            if step <= 0:
                raise ValueError("step must be > 0")
            return np.round(np.arange(start, stop + step / 2, step), 6)
        return np.array([float(v) for v in text.split(",")])
    except ValueError as err:
        raise InputError(f"--sweep {text!r}: give START:STOP:STEP or a comma list ({err})")


def sweep_thresholds(mics: MicrographSet, params: TemplatePickParams, spec: TemplateSpec,
                     odir: str, pickname: str, thresholds: np.ndarray,
                     leave_out: Collection[str] = ()) -> pd.DataFrame:
    """Picks per micrograph (columns) at each threshold (rows), from saved FOM maps.

    ``leave_out``: micrographs the picking job skipped as unreadable (its qc.star).
    """
    names = [name for name in mics.names if name not in leave_out]
    check_micrograph_files(names, mics.path)
    templates = prepare_templates(spec.references, mics.pixel_size_a, spec.angpix_ref,
                                  spec.particle_diameter_a, spec.invert,
                                  spec.shrink_particle_mask, spec.healpix_order, spec.symmetry)
    counts = {}
    for name in names:
        ny, nx = _micrograph_shape(name)
        size = working_size(nx, ny, mics.pixel_size_a, params.lowpass_a, params.shrink,
                            params.optimise_size)
        paths = fom_map_paths(odir, name, pickname, len(templates.images))
        missing = [str(p) for p in paths.values() if not p.is_file()]
        if missing:
            raise InputError(f"{missing[0]}: FOM map not found for {name} "
                             "(write them first with --write_fom_maps)")
        maps = _read_maps(paths, len(templates.images), size)
        counts[post_name(name)] = [
            len(peaks_from_maps(maps, nx, ny, mics.pixel_size_a, templates,
                                dataclasses.replace(params, threshold=float(t))))
            for t in thresholds]
    table = pd.DataFrame(counts, index=pd.Index(thresholds, name="threshold"))
    table["total"] = table.sum(axis=1)
    return table


def plot_sweep(table: pd.DataFrame, out_png: str | os.PathLike[str]) -> None:
    """Picks against threshold: one line per micrograph, the total on a second axis."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
    for column in table.columns.drop("total"):
        ax.plot(table.index, table[column], color="0.6", linewidth=0.8)
    ax.set_xlabel("picking threshold (FOM)")
    ax.set_ylabel("picks per micrograph (grey)")
    total = ax.twinx()
    total.plot(table.index, table["total"], color="tab:red", linewidth=2)
    total.set_ylabel("all picks (red)", color="tab:red")
    ax.set_title(f"Picks against threshold on {len(table.columns) - 1} micrograph(s)")
    fig.tight_layout()
    with atomic_output(out_png) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)


def gather_picking_job(mics: MicrographSet, odir: str, micrograph_list: str, n_shards: int = 1,
                       sweep_png: str | None = None, pick_config: dict | None = None,
                       references: str | None = None) -> None:
    """A picking job's job-level files, qc.star and summary picture in ``odir``, after all its
    ``n_shards`` shards.

    With ``sweep_png`` (the optimisation pass), also picks against threshold on its FOM maps
    (``pick_config``: the workflow's ``autopick_template`` section), leaving out the micrographs
    the job skipped as unreadable, and, if that asks for it, the tutorial's "gentle clean" of
    the maps.
    """
    job = AutopickJob(odir=odir, png_dir=odir, micrograph_list=micrograph_list,
                      n_shards=n_shards)
    finish_job(mics, job)
    if sweep_png is None:
        return
    params, spec = from_config(pick_config, "optimise", references)
    skipped = read_star_loops(qc_path(job))["skipped_micrographs"]["rlnMicrographName"]
    plot_sweep(sweep_thresholds(mics, params, spec, odir, job.pickname, SWEEP_THRESHOLDS,
                                set(skipped)), sweep_png)
    if pick_config["delete_fom_maps"]:
        for path in Path(odir).rglob("*.spi"):
            path.unlink()
