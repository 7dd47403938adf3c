"""Snakemake adapter for rule class2d; the logic is cryopick.workflow.class2d."""

from pathlib import Path

from cryopick.workflow.class2d import run_class2d_stage
from cryopick.workflow import log_to_file, write_note


def main(smk) -> None:
    log_to_file(smk.log[0])
    command = run_class2d_stage(
        particles_star=smk.input.particles, config=smk.params.class2d,
        backend=smk.params.backend, model_star=smk.output.model,
        gallery_png=smk.output.gallery, convergence_png=smk.output.convergence,
        threads=smk.threads, mpi_launcher=smk.resources.get("mpi", "mpirun"))
    write_note(Path(smk.output.model).parent, command, smk.params.class2d)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 -- injected by Snakemake's `script:` directive
