"""Snakemake adapter for rule review_screenshot; the logic is cryopick.review.screenshot."""

from cryopick.review.screenshot import render_screenshot
from cryopick.workflow import log_to_file


def main(smk) -> None:
    log_to_file(smk.log[0])
    render_screenshot(smk.input.page, smk.output.png)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 -- injected by Snakemake's `script:` directive
