"""Snakemake adapter for rule simulate_demo; the logic is cryopick.simulate."""

from cryopick.simulate import simulate_project
from cryopick.workflow import log_to_file


def main(smk) -> None:
    log_to_file(smk.log[0])
    # config `demo:` holds the preset, the seed and optional overrides (simulate_project's names)
    simulate_project(project_dir=".", **smk.params.demo)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 -- injected by Snakemake's `script:` directive
