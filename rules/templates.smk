# 5. Template selection (Select/templates4autopick) and 6. template-based picking: the
# parameter-optimisation pass on the subset (FOM maps written, threshold sweep) and the pass
# over all micrographs (AutoPick/template).


rule select_templates:
    input:
        model=class2d_model(),
    output:
        star=job("select_templates", "class_averages.star"),
        gallery=report(
            job("select_templates", "templates.png"),
            caption="../report/select_templates.rst",
            category="5. Select/templates4autopick",
        ),
    log:
        "logs/select_templates.log",
    params:
        select=config["select_templates"],
        mask_diameter_a=config["class2d"]["mask_diameter_a"],
    conda:
        "../envs/cryopick.yaml"
    script:
        "../scripts/select_templates.py"


rule autopick_optimise:
    input:
        micrographs=job("select", "micrographs_selected.star"),
        references=job("select_templates", "class_averages.star"),
    output:
        coords=job("autopick_optimise", "coords_suffix_autopick.star"),
        summary=job("autopick_optimise", "summary.star"),
        sweep=report(
            job("autopick_optimise", "threshold_sweep.png"),
            caption="../report/threshold_sweep.rst",
            category="6. AutoPick/template",
        ),
        pictures=report(
            directory(job("autopick_optimise", "pictures")),
            patterns=["{name}.png"],
            caption="../report/autopick_template.rst",
            category="6. AutoPick/optimise_params",
        ),
    log:
        "logs/autopick_optimise.log",
    params:
        odir=job("autopick_optimise"),
        pick=config["autopick_template"],
        stage="optimise",
        backend=config["backend"],
    threads: 1  # RELION writes FOM maps with one process; the maps are large
    resources:
        mem_mb=6000,
    conda:
        "../envs/cryopick.yaml"
    script:
        "../scripts/autopick_template.py"


rule autopick_template:
    input:
        micrographs=micrographs_star(),
        references=job("select_templates", "class_averages.star"),
    output:
        coords=job("autopick_template", "coords_suffix_autopick.star"),
        summary=job("autopick_template", "summary.star"),
        pictures=report(
            directory(job("autopick_template", "pictures")),
            patterns=["{name}.png"],
            caption="../report/autopick_template.rst",
            category="6. AutoPick/template",
        ),
    log:
        "logs/autopick_template.log",
    params:
        odir=job("autopick_template"),
        pick=config["autopick_template"],
        stage="final",
        backend=config["backend"],
    threads: 2
    resources:
        mem_mb=6000,
    conda:
        "../envs/cryopick.yaml"
    script:
        "../scripts/autopick_template.py"
