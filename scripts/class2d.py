"""Snakemake adapter for rule class2d (2D classification)."""

from cryopick.warmstart import hand_over


def main(smk) -> None:
    from cryopick.workflow.rules import class2d

    class2d(smk)


if __name__ == "__main__":
    hand_over(globals().get("__real_file__"))  # a local run's warm start: runs it, exits
    main(snakemake)  # noqa: F821 -- injected by Snakemake's `script:` directive
