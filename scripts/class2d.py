"""Snakemake adapter for rule class2d (2D classification)."""

from cryopick.workflow.rules import class2d


def main(smk) -> None:
    class2d(smk)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 -- injected by Snakemake's `script:` directive
