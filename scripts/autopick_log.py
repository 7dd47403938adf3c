"""Snakemake adapter for rules autopick_log_shard / autopick_log (LoG picking)."""

from cryopick.workflow.rules import autopick_log


def main(smk) -> None:
    autopick_log(smk)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 -- injected by Snakemake's `script:` directive
