"""Snakemake adapter for rules autopick_log_shard / autopick_log (with one shard the picking
job also does the job-level step); the logic is cryopick.picking.job and .gather."""

from cryopick.commands import log_command
from cryopick.picking.gather import JobOutputs, gather_picking_job
from cryopick.picking.job import run_autopick_log
from cryopick.picking.log import log_params_from_config
from cryopick.workflow import log_to_file, picking_shard, rule_micrographs, write_note


def main(smk) -> None:
    log_to_file(smk.log[0])
    params = log_params_from_config(smk.params.pick)
    mics = rule_micrographs(smk)
    with picking_shard(smk, mics) as job:
        write_note(job.odir, log_command(smk.input.micrographs, params, job), smk.params.pick)
        run_autopick_log(mics, params, job)
    if "summary" in smk.output.keys():  # shards: 1, so this job is also the gather job
        gather_picking_job(mics, job.odir, smk.input.micrographs,
                           outputs=JobOutputs.from_rule(smk.output),
                           apply_log_threshold=smk.params.pick["auto_threshold"])


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 -- injected by Snakemake's `script:` directive
