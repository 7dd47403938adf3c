"""Snakemake adapter for rule select_templates."""

from cryopick.workflow.rules import select_templates


def main(smk) -> None:
    select_templates(smk)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 -- injected by Snakemake's `script:` directive
