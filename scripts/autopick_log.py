"""Snakemake adapter for one shard of rule autopick_log; the logic is cryopick.picking.job."""

from cryopick.cli.autopick import log_command
from cryopick.io.star import read_micrographs_star
from cryopick.picking.job import AutopickJob, run_autopick_log
from cryopick.picking.log import LogPickParams
from cryopick.picking.repick import gather_picking_job
from cryopick.workflow import log_to_file, write_note


def main(smk) -> None:
    log_to_file(smk.log[0])
    params = LogPickParams(**smk.params.pick)
    job = AutopickJob(odir=smk.params.odir, backend=smk.params.backend, jobs=smk.threads,
                      png_dir=smk.output.pictures, micrograph_list=smk.input.micrographs,
                      shard=int(smk.wildcards.get("shard", 0)), n_shards=smk.params.n_shards)
    write_note(smk.params.odir, log_command(smk.input.micrographs, params, job), smk.params.pick)
    mics = read_micrographs_star(smk.input.micrographs)
    run_autopick_log(mics, params, job)
    if "summary" in smk.output.keys():  # shards: 1, so this job is also the gather job
        gather_picking_job(mics, smk.params.odir, smk.input.micrographs,
                           sweep_png=smk.output.get("sweep"), pick_config=smk.params.pick,
                           references=smk.input.get("references"))


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 -- injected by Snakemake's `script:` directive
