# 8. The browser review page (Review/index.html, written at the end of every run) and the
# decisions taken on it: review.yaml in the project folder (the folder Snakemake runs in) sets
# autopick_template.final.threshold and exclude_micrographs over the config file, so that the
# next run re-picks and re-extracts (cryopick.review.decisions).
# Included before the stages' rules: they read the config when they are defined.

import dataclasses

from cryopick.review.decisions import read_project_review
from cryopick.review.inputs import ReviewInputs
from cryopick.review.screenshot import review_targets

REVIEW = read_project_review(micrographs_star())
REVIEW.apply(config)


rule review:
    input:
        final_targets(),
        qc=job("autopick_template", "qc.star"),
        decisions=job("select_templates", "decisions.txt"),
    output:
        page=report(
            "Review/index.html", caption="../report/review.rst", category="8. Review"
        ),
        applied=report(
            "Review/decisions_applied.txt",
            caption="../report/review_decisions.rst",
            category="8. Review",
        ),
    log:
        "logs/review.log",
    params:
        inputs=dataclasses.asdict(ReviewInputs.from_config(config, micrographs_star())),
        decisions=dataclasses.asdict(REVIEW),
    localrule: True
    conda:
        CONDA_ENV
    script:
        "../scripts/review.py"


rule review_screenshot:
    input:
        page="Review/index.html",
    output:
        png=report(
            "Review/screenshot.png",
            caption="../report/review_screenshot.rst",
            category="8. Review",
        ),
    log:
        "logs/review_screenshot.log",
    localrule: True
    conda:
        CONDA_ENV  # and the system's Chromium
    script:
        "../scripts/review_screenshot.py"
