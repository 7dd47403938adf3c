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
        picking=job("select_templates", "picking.yaml"),  # settings the choice implies
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


OPTIMISE_OUTPUTS = ["coords", "summary", "picture", "sweep", "qc", "threshold", "fom_histogram"]
TEMPLATE_OUTPUTS = ["coords", "summary", "picture", "qc"]


rule autopick_optimise_shard:
    input:
        micrographs=job("select", "micrographs_selected.star"),
        references=job("select_templates", "class_averages.star"),
        picking=job("select_templates", "picking.yaml"),
    output:
        done=touch(job("autopick_optimise", ".shards/{shard}.done")),
        pictures=shard_pictures("autopick_optimise", "6. AutoPick/optimise_params"),
    log:
        "logs/autopick_optimise/shard{shard}.log",
    params:
        odir=job("autopick_optimise"),
        pick=optimise_settings(),
        stage="optimise",
        backend=config["backend"],
        n_shards=config["shards"],
        on_bad_micrograph=config["on_bad_micrograph"],
    threads: 2  # RELION writes FOM maps with one process only; cryopick's workers write theirs
    resources:
        mem_mb=6000,
        gres=gres(),
    conda:
        CONDA_ENV
    script:
        "../scripts/autopick_template.py"


use rule autopick_optimise_shard as autopick_template_shard with:
    input:
        micrographs=micrographs_star(),
        references=job("select_templates", "class_averages.star"),
        picking=job("select_templates", "picking.yaml"),
        threshold=final_threshold(),
        # the subset's FOM maps are the optimisation pass's: re-picked, not computed again
        fom_maps=job("autopick_optimise", "coords_suffix_autopick.star"),
    output:
        done=touch(job("autopick_template", ".shards/{shard}.done")),
        pictures=shard_pictures("autopick_template", "6. AutoPick/template"),
    log:
        "logs/autopick_template/shard{shard}.log",
    params:
        odir=job("autopick_template"),
        pick=config["autopick_template"],
        stage="final",
        maps_from=job("autopick_optimise"),
        backend=config["backend"],
        n_shards=config["shards"],
        on_bad_micrograph=config["on_bad_micrograph"],
        exclude=config["exclude_micrographs"],
    threads: 2


if config["shards"] > 1:

    use rule autopick_log as autopick_optimise with:
        input:
            micrographs=job("select", "micrographs_selected.star"),
            references=job("select_templates", "class_averages.star"),
            picking=job("select_templates", "picking.yaml"),
            shards=shard_flags("autopick_optimise"),
        output:
            **picking_outputs("autopick_optimise", "6. AutoPick/optimise_params", OPTIMISE_OUTPUTS),
        log:
            "logs/autopick_optimise/finish.log",
        params:
            odir=job("autopick_optimise"),
            n_shards=config["shards"],
            pick=optimise_settings(),
        localrule: False  # the threshold sweep reads every FOM map

    use rule autopick_log as autopick_template with:
        input:
            micrographs=micrographs_star(),
            shards=shard_flags("autopick_template"),
        output:
            **picking_outputs("autopick_template", "6. AutoPick/template", TEMPLATE_OUTPUTS),
        log:
            "logs/autopick_template/finish.log",
        params:
            odir=job("autopick_template"),
            n_shards=config["shards"],
            exclude=config["exclude_micrographs"],

else:  # one shard: the picking job also writes the job-level files, no gather job to start

    use rule autopick_optimise_shard as autopick_optimise with:
        output:
            pictures=shard_pictures("autopick_optimise", "6. AutoPick/optimise_params", 0),
            **picking_outputs("autopick_optimise", "6. AutoPick/optimise_params", OPTIMISE_OUTPUTS),
        log:
            "logs/autopick_optimise/shard0.log",

    use rule autopick_template_shard as autopick_template with:
        output:
            pictures=shard_pictures("autopick_template", "6. AutoPick/template", 0),
            **picking_outputs("autopick_template", "6. AutoPick/template", TEMPLATE_OUTPUTS),
        log:
            "logs/autopick_template/shard0.log",
