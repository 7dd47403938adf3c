# cryopick: RELION's auto-picking tutorial pipeline as a Snakemake workflow.
#   snakemake -s <repo>/Snakefile --directory <RELION project> --configfile <config> --cores N
# Outputs are RELION job folders (Select/5mics/, AutoPick/LoG/, ...) in the project directory.

from pathlib import Path

REPO = Path(workflow.basedir)


configfile: str(REPO / "config" / "config.yaml")


report: "report/workflow.rst"


include: "rules/common.smk"
include: "rules/review.smk"
include: "rules/demo.smk"
include: "rules/select.smk"
include: "rules/autopick.smk"
include: "rules/extract.smk"
include: "rules/class2d.smk"
include: "rules/templates.smk"


onstart:
    start_warm_server()


onsuccess:
    cancel_rate_limit_timers()


onerror:
    print_resource_advice(log)
    cancel_rate_limit_timers()


rule all:
    input:
        final_targets(),
        review_targets(),
    default_target: True
