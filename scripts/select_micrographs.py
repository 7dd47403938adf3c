"""Snakemake adapter for rule select_micrographs; the logic is cryopick.select."""

from cryopick.io.star import read_micrographs_star
from cryopick.select import select_micrographs, write_selection
from cryopick.workflow import log_to_file, write_note


def main(smk) -> None:
    log_to_file(smk.log[0])
    opts = smk.params.select
    mics = read_micrographs_star(smk.input.micrographs)
    selection = select_micrographs(mics, first_n=opts["first_n"], names=opts["micrographs"])
    write_selection(selection, smk.output.selected)
    write_note(str(smk.output.selected).rsplit("/", 1)[0],
               ["cryopick-select", "--i", smk.input.micrographs], opts)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 -- injected by Snakemake's `script:` directive
