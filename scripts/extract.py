"""Snakemake adapter for rule extract; the logic is cryopick.extraction."""

from pathlib import Path

from cryopick.commands import preprocess_command
from cryopick.extraction import ExtractJob, coordinate_source, params_from_config, run_extraction
from cryopick.extraction.plots import plot_extraction_gallery
from cryopick.io.star import read_micrographs_star
from cryopick.workflow import log_to_file, write_note


def main(smk) -> None:
    log_to_file(smk.log[0])
    params = params_from_config(smk.params.extract)
    part_dir = Path(smk.output.particles).parent.as_posix() + "/"
    job = ExtractJob(part_dir=part_dir, part_star=smk.output.particles,
                     backend=smk.params.backend, jobs=smk.threads,
                     on_bad_micrograph=smk.params.on_bad_micrograph, qc_star=smk.output.qc)
    source = coordinate_source(smk.input.coords)
    write_note(part_dir, preprocess_command(smk.input.micrographs, source, params, job),
               smk.params.extract)
    run_extraction(read_micrographs_star(smk.input.micrographs), source, params, job)
    plot_extraction_gallery(smk.output.particles, smk.output.gallery)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 -- injected by Snakemake's `script:` directive
