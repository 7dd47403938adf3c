"""Snakemake adapter for rule select_templates; the logic is cryopick.class_selection."""

from cryopick.class_selection import SelectionCriteria, choose_classes, read_class_averages, \
    write_templates
from cryopick.plots import plot_gallery
from cryopick.workflow import log_to_file, write_note


def main(smk) -> None:
    log_to_file(smk.log[0])
    opts = dict(smk.params.select)
    table, images, pixel = read_class_averages(smk.input.model)
    criteria = SelectionCriteria(**{k: opts[k] for k in (
        "n_templates", "min_distribution", "max_resolution_a", "max_offcentre_fraction",
        "min_contrast_fraction", "max_similarity", "max_edge_fraction")})
    mask_radius_px = smk.params.mask_diameter_a / (2 * pixel)
    choice = choose_classes(table, images, criteria, mask_radius_px, opts["classes"] or None)
    write_templates(table, images, choice, pixel, smk.output.star, opts["recenter"])
    order = choice.table.sort_values("rlnClassDistribution", ascending=False).index
    captions = [f"{int(r.rlnClassNumber)}: {r.rlnClassDistribution:.1%} "
                f"{r.rlnEstimatedResolution:.0f}Å\n{r.reason}" for r in choice.table.loc[order].itertuples()]
    plot_gallery(images[order], captions, choice.table.loc[order, "chosen"].to_numpy(),
                 "Class averages by distribution; chosen templates framed in red",
                 smk.output.gallery)
    write_note(str(smk.output.star).rsplit("/", 1)[0],
               ["cryopick-select-templates", "--i", smk.input.model], opts)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 -- injected by Snakemake's `script:` directive
