"""The job-level step of a picking job, after all its shards: RELION's job-level files,
qc.star and the summary picture; for the optimisation pass the threshold sweep and the final
pass's automatic threshold (``threshold: auto``) on its FOM maps; for LoG the automatic
threshold of its picks."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import numpy as np

from cryopick.io.loop import read_star_loops
from cryopick.io.star import MicrographSet, read_coordinates
from cryopick.picking.auto_threshold import plot_fom_histogram, threshold_or_keep, \
    threshold_pick_files, write_threshold
from cryopick.picking.job import AutopickJob, coordinate_path, finish_job, qc_path, \
    summary_picture
from cryopick.picking.repick import SWEEP_THRESHOLDS, peak_foms, plot_sweep, sweep_thresholds
from cryopick.picking.template_job import from_config
from cryopick.tasks import side_by_side

__all__ = ["JobOutputs", "gather_picking_job"]

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class JobOutputs:
    """The optional job-level outputs a picking job's rule declares (None: not declared)."""

    sweep_png: str | None = None  # the optimisation pass: picks against threshold
    threshold_yaml: str | None = None  # the automatic threshold ...
    fom_histogram_png: str | None = None  # ... and the FOM histogram with its cut

    @classmethod
    def from_rule(cls, output) -> JobOutputs:
        """From a Snakemake rule's named outputs (``sweep``, ``threshold``, ``fom_histogram``)."""
        return cls(output.get("sweep"), output.get("threshold"), output.get("fom_histogram"))


def gather_picking_job(mics: MicrographSet, odir: str, micrograph_list: str, n_shards: int = 1,
                       outputs: JobOutputs = JobOutputs(), pick_config: dict | None = None,
                       references: str | None = None, apply_log_threshold: bool = False,
                       jobs: int = 1) -> None:
    """Finish a picking job in ``odir`` after its ``n_shards`` shards.

    LoG (no sweep, a threshold file declared): the automatic threshold of the picks' FOMs,
    applied to the pick files when ``apply_log_threshold``. The optimisation pass (a sweep
    declared; ``pick_config``: the workflow's ``autopick_template`` section): the sweep on the
    saved FOM maps, the final pass's automatic threshold (the optimisation pass's own
    threshold where no peak stands out of the noise), and, if the config asks for it, the
    tutorial's "gentle clean" of the maps. Micrographs the job skipped as unreadable (its
    qc.star) are left out. The pictures, the sweep and the final pass's threshold, each
    reading the written files, run ``jobs`` at a time (:func:`cryopick.tasks.side_by_side`).
    """
    job = AutopickJob(odir=odir, png_dir=odir, micrograph_list=micrograph_list,
                      n_shards=n_shards)
    steps: list[tuple] = []
    if outputs.sweep_png is None and outputs.threshold_yaml is not None:
        steps.append(_log_threshold(mics, job, outputs, apply_log_threshold))
    finish_job(mics, job, picture=False)
    steps.append((summary_picture, (mics, job)))
    if outputs.sweep_png is not None:
        params, spec = from_config(pick_config, "optimise", references)
        skipped = set(read_star_loops(qc_path(job))["skipped_micrographs"]["rlnMicrographName"])
        steps.insert(0, (_sweep, (mics, params, spec, job, skipped, outputs.sweep_png)))
        if outputs.threshold_yaml is not None:
            # the final pass's candidates: its minimum distance, every peak whatever its FOM
            final = dataclasses.replace(params,
                                        min_distance_a=pick_config["final"]["min_distance_a"])
            steps.insert(1, (_final_threshold, (mics, final, params.threshold, spec, job,
                                                skipped, outputs)))
    side_by_side(steps, jobs)
    if outputs.sweep_png is not None and pick_config["delete_fom_maps"]:  # "gentle clean"
        for path in Path(odir).rglob("*.spi"):
            path.unlink()


def _sweep(mics: MicrographSet, params, spec, job: AutopickJob, skipped: set[str],
           out_png: str) -> None:
    """The optimisation pass's threshold sweep on its saved FOM maps, drawn."""
    plot_sweep(sweep_thresholds(mics, params, spec, job.odir, job.pickname, SWEEP_THRESHOLDS,
                                skipped), out_png)


def _final_threshold(mics: MicrographSet, final, fallback: float, spec, job: AutopickJob,
                     skipped: set[str], outputs: JobOutputs) -> None:
    """The final pass's automatic threshold from the subset's FOM maps, written and drawn."""
    foms = peak_foms(mics, final, spec, job.odir, job.pickname, skipped)
    choice = threshold_or_keep(foms, fallback=fallback)
    write_threshold(outputs.threshold_yaml, choice)
    plot_fom_histogram(foms, choice, "Final-pass threshold from the subset's FOM maps",
                       outputs.fom_histogram_png)


def _log_threshold(mics: MicrographSet, job: AutopickJob, outputs: JobOutputs,
                   apply: bool) -> tuple:
    """LoG: the automatic threshold of the gathered picks' FOMs; applied if asked. Returns
    the step that draws it, ``(func, args)``."""
    paths = [coordinate_path(job.odir, name, job.pickname) for name in mics.names]
    paths = [p for p in paths if p.is_file()]
    foms = np.concatenate([np.zeros(0)] + [
        read_coordinates(p)["rlnAutopickFigureOfMerit"].to_numpy(float) for p in paths])
    choice = threshold_or_keep(foms)
    write_threshold(outputs.threshold_yaml, choice)
    if apply:
        threshold_pick_files(paths, choice)
    return plot_fom_histogram, (foms, choice, "LoG picks of the subset" + (
        "" if apply else " (cut shown, not applied: autopick_log.auto_threshold false)"),
        outputs.fom_histogram_png)
