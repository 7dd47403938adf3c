"""Snakemake adapter gathering the shards of a picking job: RELION's job-level files, qc.star,
the summary picture and, for the optimisation pass, the threshold sweep on its FOM maps."""

from cryopick.io.star import read_micrographs_star
from cryopick.picking.repick import gather_picking_job
from cryopick.workflow import log_to_file


def main(smk) -> None:
    log_to_file(smk.log[0])
    gather_picking_job(read_micrographs_star(smk.input.micrographs), smk.params.odir,
                       smk.input.micrographs, n_shards=smk.params.n_shards,
                       sweep_png=smk.output.get("sweep"), pick_config=smk.params.get("pick"),
                       references=smk.input.get("references"))


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 -- injected by Snakemake's `script:` directive
