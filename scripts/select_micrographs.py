"""Snakemake adapter for rule select_micrographs; the logic is cryopick.picking.subset."""

from cryopick.io.star import read_micrographs_star
from cryopick.picking.log import log_params_from_config
from cryopick.picking.subset import plot_subset, select_by_picks, select_micrographs, \
    write_selection
from cryopick.workflow import log_to_file, write_note


def main(smk) -> None:
    log_to_file(smk.log[0])
    opts = smk.params.select
    mics = read_micrographs_star(smk.input.micrographs)
    decisions = None
    if opts["first_n"] == "auto" and not opts["micrographs"]:
        selection, counts = select_by_picks(
            mics, log_params_from_config(smk.params.log), int(opts["target_picks"]),
            int(opts["min_micrographs"]), smk.params.backend)
        decisions = [f"subset: the first {len(counts)} micrographs, {sum(counts)} LoG picks "
                     f"(target {opts['target_picks']}, at least {opts['min_micrographs']} "
                     f"micrographs)"]
    else:
        first_n = None if opts["first_n"] == "auto" else opts["first_n"]
        selection = select_micrographs(mics, first_n=first_n, names=opts["micrographs"])
        counts = []
    write_selection(selection, smk.output.selected)
    plot_subset(counts, int(opts["target_picks"]), smk.output.picture)
    write_note(str(smk.output.selected).rsplit("/", 1)[0],
               ["cryopick-select", "--i", smk.params.micrographs_star], opts, decisions)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 -- injected by Snakemake's `script:` directive
