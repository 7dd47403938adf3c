"""Snakemake adapter for one shard of rule autopick_log; the logic is cryopick.picking.job."""

from cryopick.cli.autopick import log_command
from cryopick.io.star import read_micrographs_star
from cryopick.picking.job import AutopickJob, run_autopick_log
from cryopick.picking.log import log_params_from_config
from cryopick.workflow import log_to_file, write_note


def main(smk) -> None:
    log_to_file(smk.log[0])
    params = log_params_from_config(smk.params.pick)
    job = AutopickJob(odir=smk.params.odir, backend=smk.params.backend, jobs=smk.threads,
                      png_dir=smk.output.pictures, micrograph_list=smk.input.micrographs,
                      shard=int(smk.wildcards.shard), n_shards=smk.params.n_shards)
    write_note(smk.params.odir, log_command(smk.input.micrographs, params, job), smk.params.pick)
    run_autopick_log(read_micrographs_star(smk.input.micrographs), params, job)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 -- injected by Snakemake's `script:` directive
