"""Snakemake adapter for the template-picking rules (a shard, or the whole job)."""

from cryopick.workflow.rules import autopick_template


def main(smk) -> None:
    autopick_template(smk)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 -- injected by Snakemake's `script:` directive
