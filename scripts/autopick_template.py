"""Snakemake adapter for rules autopick_optimise/autopick_template (cryopick.picking.template_job)."""

from pathlib import Path

import numpy as np

from cryopick.cli.autopick import template_command
from cryopick.io.star import read_micrographs_star
from cryopick.picking.job import AutopickJob
from cryopick.picking.repick import plot_sweep, sweep_thresholds
from cryopick.picking.template import TemplatePickParams
from cryopick.picking.template_job import TemplateSpec, run_autopick_template
from cryopick.workflow import log_to_file, write_note


def main(smk) -> None:
    log_to_file(smk.log[0])
    cfg, stage = smk.params.pick, smk.params.stage
    params = TemplatePickParams(
        lowpass_a=cfg["lowpass_a"], highpass_a=cfg["highpass_a"],
        angular_sampling_deg=cfg["angular_sampling_deg"], ctf=cfg["ctf"],
        ctf_intact_first_peak=cfg["ctf_intact_first_peak"], shrink=cfg["shrink"],
        threshold=cfg[stage]["threshold"], min_distance_a=cfg[stage]["min_distance_a"],
        max_stddev_noise=cfg["max_stddev_noise"], min_avg_noise=cfg["min_avg_noise"],
        random_seed=cfg["random_seed"])
    write_maps = bool(cfg[stage].get("write_fom_maps", False))
    spec = TemplateSpec(references=smk.input.references, angpix_ref=cfg["angpix_ref_a"],
                        particle_diameter_a=cfg["mask_diameter_a"], invert=cfg["invert"],
                        write_fom_maps=write_maps, seed_by_name=cfg["seed_by_name"])
    job = AutopickJob(odir=smk.params.odir, backend=smk.params.backend, jobs=smk.threads,
                      png_dir=smk.output.pictures, micrograph_list=smk.input.micrographs)
    write_note(smk.params.odir, template_command(smk.input.micrographs, params, spec, job),
               {**cfg, "pass": stage})
    mics = read_micrographs_star(smk.input.micrographs)
    run_autopick_template(mics, params, spec, job)
    if "sweep" in smk.output.keys():
        table = sweep_thresholds(mics, params, spec, smk.params.odir, job.pickname,
                                 np.round(np.arange(-0.2, 2.01, 0.1), 3))
        plot_sweep(table, smk.output.sweep)
        if cfg["delete_fom_maps"]:
            for path in Path(smk.params.odir).rglob("*.spi"):
                path.unlink()


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 -- injected by Snakemake's `script:` directive
