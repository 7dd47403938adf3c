"""Snakemake adapter for rule review; the logic is cryopick.review.page."""

from cryopick.errors import atomic_output
from cryopick.review.decisions import ReviewDecisions
from cryopick.review.page import ReviewInputs, write_review_page
from cryopick.workflow import log_to_file


def main(smk) -> None:
    log_to_file(smk.log[0])
    decisions = ReviewDecisions(**smk.params.decisions)
    write_review_page(ReviewInputs(**smk.params.inputs), smk.output.page, decisions)
    with atomic_output(smk.output.applied) as tmp:
        tmp.write_text("\n".join(decisions.describe()) + "\n")


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 -- injected by Snakemake's `script:` directive
