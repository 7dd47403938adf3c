"""Snakemake adapter for rule select_templates; the logic is cryopick.workflow.templates."""

from cryopick.workflow.templates import TemplateStage, select_templates_stage
from cryopick.workflow import log_to_file, write_note


def main(smk) -> None:
    log_to_file(smk.log[0])
    opts = dict(smk.params.select)
    stage = TemplateStage(
        model_star=smk.input.model, particles_star=smk.input.particles,
        out_star=smk.output.star, gallery_png=smk.output.gallery,
        particle_diameter_a=smk.params.particle_diameter_a,
        mask_diameter_a=smk.params.class2d["mask_diameter_a"], class2d=smk.params.class2d,
        backend=smk.params.backend, threads=smk.threads, decisions_txt=smk.output.decisions)
    decisions = select_templates_stage(stage, opts)
    write_note(str(smk.output.star).rsplit("/", 1)[0],
               ["cryopick-select-templates", "--i", smk.input.model], opts, decisions)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 -- injected by Snakemake's `script:` directive
