"""Snakemake adapter for rule select_templates."""

from cryopick.warmstart import hand_over


def main(smk) -> None:
    from cryopick.workflow.rules import select_templates

    select_templates(smk)


if __name__ == "__main__":
    hand_over(globals().get("__real_file__"))  # a local run's warm start: runs it, exits
    main(snakemake)  # noqa: F821 -- injected by Snakemake's `script:` directive
