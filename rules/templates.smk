# 5. Template selection (Select/templates4autopick) and 6. template-based picking: the
# parameter-optimisation pass on the subset (FOM maps written, threshold sweep) and the pass
# over all micrographs (AutoPick/template).


rule select_templates:
    input:
        model=class2d_model(),
        data=class2d_model().replace("_model.star", "_data.star"),
        particles=job("extract_log", "particles.star"),
    output:
        star=job("select_templates", "class_averages.star"),
        gallery=report(
            job("select_templates", "templates.png"),
            caption="../report/select_templates.rst",
            category="5. Select/templates4autopick",
        ),
        decisions=report(
            job("select_templates", "decisions.txt"),
            caption="../report/template_decisions.rst",
            category="5. Select/templates4autopick",
        ),
    log:
        "logs/select_templates.log",
    params:
        select=config["select_templates"],
        class2d=config["class2d"],
        particle_diameter_a=config["autopick_log"]["diameter_max_a"],
        backend=config["backend"],
    threads: 2  # a retry classification when no class looks like a particle
    resources:
        mem_mb=8000,
        gres=gres(),
    conda:
        CONDA_ENV
    script:
        "../scripts/select_templates.py"


rule autopick_optimise_shard:
    input:
        micrographs=job("select", "micrographs_selected.star"),
        references=job("select_templates", "class_averages.star"),
    output:
        done=touch(job("autopick_optimise", ".shards/{shard}.done")),
        pictures=report(
            directory(job("autopick_optimise", "pictures/shard{shard}")),
            patterns=["{name}.png"],
            caption="../report/autopick_template.rst",
            category="6. AutoPick/optimise_params",
        ),
    log:
        "logs/autopick_optimise/shard{shard}.log",
    params:
        odir=job("autopick_optimise"),
        pick=config["autopick_template"],
        stage="optimise",
        backend=config["backend"],
        n_shards=config["shards"],
        on_bad_micrograph=config["on_bad_micrograph"],
    threads: 1  # RELION writes FOM maps with one process: the maps are large
    resources:
        mem_mb=6000,
        gres=gres(),
    conda:
        CONDA_ENV
    script:
        "../scripts/autopick_template.py"


if config["shards"] > 1:

    rule autopick_optimise:
        input:
            micrographs=job("select", "micrographs_selected.star"),
            references=job("select_templates", "class_averages.star"),
            shards=shard_flags("autopick_optimise"),
        output:
            coords=job("autopick_optimise", "coords_suffix_autopick.star"),
            summary=job("autopick_optimise", "summary.star"),
            picture=report(
                job("autopick_optimise", "summary.png"),
                caption="../report/pick_summary.rst",
                category="6. AutoPick/optimise_params",
            ),
            sweep=report(
                job("autopick_optimise", "threshold_sweep.png"),
                caption="../report/threshold_sweep.rst",
                category="6. AutoPick/optimise_params",
            ),
            qc=report(
                job("autopick_optimise", "qc.star"),
                caption="../report/qc.rst",
                category="6. AutoPick/optimise_params",
            ),
            threshold=job("autopick_optimise", "auto_threshold.yaml"),
            fom_histogram=report(
                job("autopick_optimise", "fom_histogram.png"),
                caption="../report/fom_histogram.rst",
                category="6. AutoPick/optimise_params",
            ),
        log:
            "logs/autopick_optimise/finish.log",
        params:
            odir=job("autopick_optimise"),
            n_shards=config["shards"],
            pick=config["autopick_template"],
        conda:
            CONDA_ENV
        script:
            "../scripts/finish_picking.py"

else:  # one shard: the picking job also writes the job-level files, no gather job to start

    use rule autopick_optimise_shard as autopick_optimise with:
        output:
            pictures=report(
                directory(job("autopick_optimise", "pictures/shard0")),
                patterns=["{name}.png"],
                caption="../report/autopick_template.rst",
                category="6. AutoPick/optimise_params",
            ),
            coords=job("autopick_optimise", "coords_suffix_autopick.star"),
            summary=job("autopick_optimise", "summary.star"),
            picture=report(
                job("autopick_optimise", "summary.png"),
                caption="../report/pick_summary.rst",
                category="6. AutoPick/optimise_params",
            ),
            sweep=report(
                job("autopick_optimise", "threshold_sweep.png"),
                caption="../report/threshold_sweep.rst",
                category="6. AutoPick/optimise_params",
            ),
            qc=report(
                job("autopick_optimise", "qc.star"),
                caption="../report/qc.rst",
                category="6. AutoPick/optimise_params",
            ),
            threshold=job("autopick_optimise", "auto_threshold.yaml"),
            fom_histogram=report(
                job("autopick_optimise", "fom_histogram.png"),
                caption="../report/fom_histogram.rst",
                category="6. AutoPick/optimise_params",
            ),
        log:
            "logs/autopick_optimise/shard0.log",

rule autopick_template_shard:
    input:
        micrographs=micrographs_star(),
        references=job("select_templates", "class_averages.star"),
        threshold=final_threshold(),
    output:
        done=touch(job("autopick_template", ".shards/{shard}.done")),
        pictures=report(
            directory(job("autopick_template", "pictures/shard{shard}")),
            patterns=["{name}.png"],
            caption="../report/autopick_template.rst",
            category="6. AutoPick/template",
        ),
    log:
        "logs/autopick_template/shard{shard}.log",
    params:
        odir=job("autopick_template"),
        pick=config["autopick_template"],
        stage="final",
        backend=config["backend"],
        n_shards=config["shards"],
        on_bad_micrograph=config["on_bad_micrograph"],
    threads: 2
    resources:
        mem_mb=6000,
        gres=gres(),
    conda:
        CONDA_ENV
    script:
        "../scripts/autopick_template.py"


if config["shards"] > 1:

    rule autopick_template:
        input:
            micrographs=micrographs_star(),
            shards=shard_flags("autopick_template"),
        output:
            coords=job("autopick_template", "coords_suffix_autopick.star"),
            summary=job("autopick_template", "summary.star"),
            picture=report(
                job("autopick_template", "summary.png"),
                caption="../report/pick_summary.rst",
                category="6. AutoPick/template",
            ),
            qc=report(
                job("autopick_template", "qc.star"),
                caption="../report/qc.rst",
                category="6. AutoPick/template",
            ),
        log:
            "logs/autopick_template/finish.log",
        params:
            odir=job("autopick_template"),
            n_shards=config["shards"],
        localrule: True
        conda:
            CONDA_ENV
        script:
            "../scripts/finish_picking.py"

else:  # one shard: the picking job also writes the job-level files, no gather job to start

    use rule autopick_template_shard as autopick_template with:
        output:
            pictures=report(
                directory(job("autopick_template", "pictures/shard0")),
                patterns=["{name}.png"],
                caption="../report/autopick_template.rst",
                category="6. AutoPick/template",
            ),
            coords=job("autopick_template", "coords_suffix_autopick.star"),
            summary=job("autopick_template", "summary.star"),
            picture=report(
                job("autopick_template", "summary.png"),
                caption="../report/pick_summary.rst",
                category="6. AutoPick/template",
            ),
            qc=report(
                job("autopick_template", "qc.star"),
                caption="../report/qc.rst",
                category="6. AutoPick/template",
            ),
        log:
            "logs/autopick_template/shard0.log",
