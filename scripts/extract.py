"""Snakemake adapter for rules extract_log / extract_template; the logic is
cryopick.extraction (micrographs unchanged since the last run are kept: cryopick.workflow.incremental)."""

from pathlib import Path

from cryopick.commands import preprocess_command
from cryopick.extraction import ExtractJob, coordinate_source, params_from_config, run_extraction
from cryopick.extraction.plots import plot_extraction_gallery
from cryopick.workflow import kept_extraction, log_to_file, rule_micrographs, write_note


def main(smk) -> None:
    log_to_file(smk.log[0])
    params = params_from_config(smk.params.extract)
    part_dir = Path(smk.output.particles).parent.as_posix() + "/"
    mics, source = rule_micrographs(smk), coordinate_source(smk.input.coords)
    with kept_extraction(part_dir, [smk.params.extract, smk.params.backend], mics, source,
                         params.remove_dust) as keep:
        job = ExtractJob(part_dir=part_dir, part_star=smk.output.particles,
                         backend=smk.params.backend, jobs=smk.threads, keep=keep,
                         on_bad_micrograph=smk.params.on_bad_micrograph, qc_star=smk.output.qc)
        write_note(part_dir, preprocess_command(getattr(smk.params, "micrographs_star", None)
                                                or smk.input.micrographs, source, params, job),
                   smk.params.extract)
        run_extraction(mics, source, params, job)
    plot_extraction_gallery(smk.output.particles, smk.output.gallery)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 -- injected by Snakemake's `script:` directive
