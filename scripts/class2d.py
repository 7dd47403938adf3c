"""Snakemake adapter for rule class2d (2D classification)."""

from cryopick.workflow.rules import class2d


def main(smk) -> None:
    class2d(smk)


if __name__ == "__main__":
    from cryopick.warmstart import hand_over

    hand_over(globals().get("__real_file__"))  # a local run's warm start: runs it, exits
    main(snakemake)  # noqa: F821 -- injected by Snakemake's `script:` directive
