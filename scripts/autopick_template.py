"""Snakemake adapter for the template-picking rules (a shard, or with one shard the whole job
with its job-level step); the logic is cryopick.picking.template_job and .gather."""

from cryopick.commands import template_command
from cryopick.workflow.incremental import template_set_line
from cryopick.picking.auto_threshold import read_threshold
from cryopick.picking.gather import JobOutputs, gather_picking_job
from cryopick.picking.template_job import from_config, run_autopick_template
from cryopick.workflow import log_to_file, picking_shard, rule_micrographs, write_note


def main(smk) -> None:
    log_to_file(smk.log[0])
    files = list(smk.input.get("threshold") or [])  # the final pass with threshold: auto
    auto = read_threshold(files[0]) if files else None
    params, spec = from_config(smk.params.pick, smk.params.stage, smk.input.references,
                               auto.threshold if auto else None)
    mics = rule_micrographs(smk)
    with picking_shard(smk, mics) as job:
        decisions = [f"{auto.describe()} from {files[0]}"] if auto else []
        if smk.params.stage == "final":
            decisions.append(template_set_line(smk.input.references, len(mics.names)))
        write_note(job.odir, template_command(smk.input.micrographs, params, spec, job),
                   {**smk.params.pick, "pass": smk.params.stage}, decisions or None)
        run_autopick_template(mics, params, spec, job)
    if "summary" in smk.output.keys():  # shards: 1, so this job is also the gather job
        gather_picking_job(mics, job.odir, smk.input.micrographs,
                           outputs=JobOutputs.from_rule(smk.output), pick_config=smk.params.pick,
                           references=smk.input.references)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 -- injected by Snakemake's `script:` directive
