"""Snakemake adapter for the extraction rules."""

from cryopick.workflow.rules import extract


def main(smk) -> None:
    extract(smk)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 -- injected by Snakemake's `script:` directive
