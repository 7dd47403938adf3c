"""Snakemake adapter for rules autopick_log_shard / autopick_log; the logic is
cryopick.picking.job (with one shard the picking job also writes the job-level files)."""

from cryopick.cli.autopick import log_command
from cryopick.io.star import read_micrographs_star
from cryopick.picking.gather import JobOutputs, gather_picking_job
from cryopick.picking.job import AutopickJob, run_autopick_log
from cryopick.picking.log import log_params_from_config
from cryopick.workflow import log_to_file, resumable_shard, write_note


def main(smk) -> None:
    log_to_file(smk.log[0])
    params = log_params_from_config(smk.params.pick)
    shard = int(smk.wildcards.get("shard", 0))
    with resumable_shard(smk.params.odir, shard, smk.input, dict(smk.params.items()),
                         smk.output.pictures) as (since, pictures):
        job = AutopickJob(odir=smk.params.odir, backend=smk.params.backend, jobs=smk.threads,
                          png_dir=pictures, micrograph_list=smk.input.micrographs,
                          shard=shard, n_shards=smk.params.n_shards, resume_since_ns=since,
                          on_bad_micrograph=smk.params.on_bad_micrograph)
        write_note(smk.params.odir, log_command(smk.input.micrographs, params, job),
                   smk.params.pick)
        mics = read_micrographs_star(smk.input.micrographs)
        run_autopick_log(mics, params, job)
    if "summary" in smk.output.keys():  # shards: 1, so this job is also the gather job
        gather_picking_job(mics, smk.params.odir, smk.input.micrographs,
                           outputs=JobOutputs.from_rule(smk.output),
                           apply_log_threshold=smk.params.pick["auto_threshold"])


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 -- injected by Snakemake's `script:` directive
