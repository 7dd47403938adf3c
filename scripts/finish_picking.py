"""Snakemake adapter gathering the shards of a picking job; the logic is
cryopick.picking.gather."""

from cryopick.picking.gather import JobOutputs, gather_picking_job
from cryopick.workflow import log_to_file, rule_micrographs


def main(smk) -> None:
    log_to_file(smk.log[0])
    pick = smk.params.get("pick")
    gather_picking_job(rule_micrographs(smk), smk.params.odir,
                       smk.input.micrographs, n_shards=smk.params.n_shards,
                       outputs=JobOutputs.from_rule(smk.output), pick_config=pick,
                       references=smk.input.get("references"),
                       apply_log_threshold=bool(pick and pick.get("auto_threshold")))


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 -- injected by Snakemake's `script:` directive
