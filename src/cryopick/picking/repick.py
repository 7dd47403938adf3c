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

import numpy as np
import pandas as pd

from cryopick.errors import InputError
from cryopick.io.mrc import read_micrograph_shape
from cryopick.io.star import MicrographSet, post_name
from cryopick.picking.job import check_micrograph_files
from cryopick.picking.references import prepare_templates
from cryopick.picking.template import TemplatePickParams, background_limits, peaks_from_maps
from cryopick.picking.template_job import TemplateSpec, fom_map_paths, read_fom_maps
from cryopick.picking.working_size import working_size

__all__ = ["SWEEP_THRESHOLDS", "parse_sweep", "peak_foms", "plot_sweep", "sweep_thresholds"]

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


def _saved_maps(mics: MicrographSet, params: TemplatePickParams, spec: TemplateSpec,
                odir: str, pickname: str, leave_out: Collection[str] = ()):
    """Yield ``(name, nx, ny, templates, maps)`` for every micrograph's saved FOM maps, but
    those in ``leave_out`` (micrographs the picking job skipped as unreadable)."""
    names = [name for name in mics.names if name not in leave_out]
    check_micrograph_files(names, mics.path)
    templates = prepare_templates(spec.references, mics.pixel_size_a, spec.angpix_ref,
                                  spec.particle_diameter_a, spec.invert,
                                  spec.shrink_particle_mask, spec.healpix_order, spec.symmetry)
    for name in names:
        ny, nx = read_micrograph_shape(name)
        size = working_size(nx, ny, mics.pixel_size_a, params.lowpass_a, params.shrink,
                            params.optimise_size)
        paths = fom_map_paths(odir, name, pickname, len(templates.images))
        missing = [str(p) for p in paths.values() if not p.is_file()]
        if missing:
            raise InputError(f"{missing[0]}: FOM map not found for {name} "
                             "(write them first with --write_fom_maps)")
        yield name, nx, ny, templates, read_fom_maps(paths, len(templates.images), size)


def peak_foms(mics: MicrographSet, params: TemplatePickParams, spec: TemplateSpec, odir: str,
              pickname: str, leave_out: Collection[str] = ()) -> np.ndarray:
    """The FOM of every peak the picking would keep with no threshold (saved FOM maps)."""
    open_params = dataclasses.replace(params, threshold=-1e30)
    return np.concatenate([np.zeros(0)] + [
        peaks_from_maps(maps, nx, ny, mics.pixel_size_a, templates, open_params)[
            "rlnAutopickFigureOfMerit"].to_numpy(float)
        for _, nx, ny, templates, maps in _saved_maps(mics, params, spec, odir, pickname,
                                                       leave_out)])


def sweep_thresholds(mics: MicrographSet, params: TemplatePickParams, spec: TemplateSpec,
                     odir: str, pickname: str, thresholds: np.ndarray,
                     leave_out: Collection[str] = ()) -> pd.DataFrame:
    """Picks per micrograph (columns) at each threshold (rows), from saved FOM maps.

    ``leave_out``: micrographs the picking job skipped as unreadable (its qc.star).
    """
    counts = {}
    for name, nx, ny, templates, maps in _saved_maps(mics, params, spec, odir, pickname,
                                                     leave_out):
        limits = background_limits(maps, nx, ny, params)
        counts[post_name(name)] = [
            len(peaks_from_maps(maps, nx, ny, mics.pixel_size_a, templates,
                                dataclasses.replace(params, threshold=float(t)), limits))
            for t in thresholds]
    table = pd.DataFrame(counts, index=pd.Index(thresholds, name="threshold"))
    table["total"] = table.sum(axis=1)
    return table


def plot_sweep(table: pd.DataFrame, out_png: str | os.PathLike[str]) -> None:
    """Picks against threshold: one line per micrograph, the total on a second axis."""
    import matplotlib.pyplot as plt

    from cryopick.figures import save_figure  # (it selects the Agg backend first)

    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
    for column in table.columns.drop("total"):
        ax.plot(table.index, table[column], color="0.6", linewidth=0.8)
    ax.set_xlabel("picking threshold (FOM)")
    ax.set_ylabel("picks per micrograph (grey)")
    total = ax.twinx()
    total.plot(table.index, table["total"], color="tab:red", linewidth=2)
    total.set_ylabel("all picks (red)", color="tab:red")
    ax.set_title(f"Picks against threshold on {len(table.columns) - 1} micrograph(s)")
    save_figure(fig, out_png)
