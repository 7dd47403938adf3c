"""Snakemake adapter for rule review."""

from cryopick.workflow.rules import review


def main(smk) -> None:
    review(smk)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 -- injected by Snakemake's `script:` directive
