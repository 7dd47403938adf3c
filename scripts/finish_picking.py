"""Snakemake adapter for the rules gathering the shards of a picking job."""

from cryopick.workflow.rules import finish_picking


def main(smk) -> None:
    finish_picking(smk)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 -- injected by Snakemake's `script:` directive
