"""Snakemake adapter gathering the shards of a picking job: RELION's job-level files, the
summary picture and, for the optimisation pass, the threshold sweep on its FOM maps and the
automatic threshold of the final pass (threshold: auto) with its FOM histogram; for LoG, the
automatic threshold of its picks (applied with autopick_log.auto_threshold)."""

import dataclasses
from pathlib import Path

import numpy as np

from cryopick.io.star import read_coordinates, read_micrographs_star
from cryopick.picking.auto_threshold import choose_threshold, plot_fom_histogram, \
    threshold_pick_files, write_threshold
from cryopick.picking.job import AutopickJob, coordinate_path, finish_job
from cryopick.picking.repick import peak_foms, plot_sweep, sweep_thresholds
from cryopick.picking.template_job import from_config
from cryopick.workflow import log_to_file


def main(smk) -> None:
    log_to_file(smk.log[0])
    mics = read_micrographs_star(smk.input.micrographs)
    job = AutopickJob(odir=smk.params.odir, png_dir=smk.params.odir,
                      micrograph_list=smk.input.micrographs)
    if "fom_histogram" in smk.output.keys() and "sweep" not in smk.output.keys():
        _log_threshold(smk, mics, job)
    finish_job(mics, job)
    if "sweep" in smk.output.keys():
        params, spec = from_config(smk.params.pick, "optimise", smk.input.references)
        table = sweep_thresholds(mics, params, spec, smk.params.odir, job.pickname,
                                 np.round(np.arange(-0.2, 2.01, 0.1), 3))
        plot_sweep(table, smk.output.sweep)
        # the final pass's candidates: its minimum distance, every peak whatever its FOM
        final = dataclasses.replace(
            params, min_distance_a=smk.params.pick["final"]["min_distance_a"])
        foms = peak_foms(mics, final, spec, smk.params.odir, job.pickname)
        choice = choose_threshold(foms)
        write_threshold(smk.output.threshold, choice)
        plot_fom_histogram(foms, choice, "Final-pass threshold from the subset's FOM maps",
                           smk.output.fom_histogram)
        if smk.params.pick["delete_fom_maps"]:  # the tutorial's "gentle clean"
            for path in Path(smk.params.odir).rglob("*.spi"):
                path.unlink()


def _log_threshold(smk, mics, job) -> None:
    """LoG: the automatic threshold of the gathered picks' FOMs; applied if configured."""
    paths = [coordinate_path(job.odir, name, job.pickname) for name in mics.names]
    paths = [p for p in paths if p.is_file()]
    foms = np.concatenate([np.zeros(0)] + [
        read_coordinates(p)["rlnAutopickFigureOfMerit"].to_numpy(float) for p in paths])
    choice = choose_threshold(foms)
    write_threshold(smk.output.threshold, choice)
    applied = bool(smk.params.auto_threshold)
    plot_fom_histogram(foms, choice, "LoG picks of the subset" + (
        "" if applied else " (cut shown, not applied: autopick_log.auto_threshold false)"),
        smk.output.fom_histogram)
    if applied:
        threshold_pick_files(paths, choice)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 -- injected by Snakemake's `script:` directive
