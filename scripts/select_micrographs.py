"""Snakemake adapter for rule select_micrographs (the subset)."""

from cryopick.workflow.rules import select_micrographs


def main(smk) -> None:
    select_micrographs(smk)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 -- injected by Snakemake's `script:` directive
