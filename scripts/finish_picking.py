"""Snakemake adapter gathering the shards of a picking job: RELION's job-level files, the
summary picture and, for the optimisation pass, the threshold sweep on its FOM maps."""

from pathlib import Path

import numpy as np

from cryopick.io.loop import read_star_loops
from cryopick.io.star import read_micrographs_star
from cryopick.picking.job import AutopickJob, finish_job, qc_path
from cryopick.picking.repick import plot_sweep, sweep_thresholds
from cryopick.picking.template_job import from_config
from cryopick.workflow import log_to_file


def main(smk) -> None:
    log_to_file(smk.log[0])
    mics = read_micrographs_star(smk.input.micrographs)
    job = AutopickJob(odir=smk.params.odir, png_dir=smk.params.odir,
                      micrograph_list=smk.input.micrographs, n_shards=smk.params.n_shards)
    finish_job(mics, job)
    if "sweep" in smk.output.keys():
        params, spec = from_config(smk.params.pick, "optimise", smk.input.references)
        skipped = read_star_loops(qc_path(job))["skipped_micrographs"]["rlnMicrographName"]
        table = sweep_thresholds(mics, params, spec, smk.params.odir, job.pickname,
                                 np.round(np.arange(-0.2, 2.01, 0.1), 3), set(skipped))
        plot_sweep(table, smk.output.sweep)
        if smk.params.pick["delete_fom_maps"]:  # the tutorial's "gentle clean"
            for path in Path(smk.params.odir).rglob("*.spi"):
                path.unlink()


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 -- injected by Snakemake's `script:` directive
