"""Snakemake adapter for rule review_screenshot."""

from cryopick.workflow.rules import review_screenshot


def main(smk) -> None:
    review_screenshot(smk)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 -- injected by Snakemake's `script:` directive
