"""Snakemake adapter for one shard of rules autopick_optimise/autopick_template."""

from cryopick.cli.autopick import template_command
from cryopick.io.star import read_micrographs_star
from cryopick.picking.auto_threshold import read_threshold
from cryopick.picking.job import AutopickJob
from cryopick.picking.template_job import from_config, run_autopick_template
from cryopick.workflow import log_to_file, write_note


def main(smk) -> None:
    log_to_file(smk.log[0])
    files = list(smk.input.get("threshold") or [])  # the final pass with threshold: auto
    auto = read_threshold(files[0]) if files else None
    params, spec = from_config(smk.params.pick, smk.params.stage, smk.input.references,
                               auto.threshold if auto else None)
    job = AutopickJob(odir=smk.params.odir, backend=smk.params.backend, jobs=smk.threads,
                      png_dir=smk.output.pictures, micrograph_list=smk.input.micrographs,
                      shard=int(smk.wildcards.shard), n_shards=smk.params.n_shards)
    write_note(smk.params.odir, template_command(smk.input.micrographs, params, spec, job),
               {**smk.params.pick, "pass": smk.params.stage},
               [f"{auto.describe()} from {files[0]}"] if auto else None)
    run_autopick_template(read_micrographs_star(smk.input.micrographs), params, spec, job)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 -- injected by Snakemake's `script:` directive
