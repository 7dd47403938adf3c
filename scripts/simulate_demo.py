"""Snakemake adapter for rule simulate_demo (the simulated project)."""

from cryopick.warmstart import hand_over


def main(smk) -> None:
    from cryopick.workflow.rules import simulate_demo

    simulate_demo(smk)


if __name__ == "__main__":
    hand_over(globals().get("__real_file__"))  # a local run's warm start: runs it, exits
    main(snakemake)  # noqa: F821 -- injected by Snakemake's `script:` directive
