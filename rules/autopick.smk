# 2. Template-free LoG picking (AutoPick/LoG) on the selected micrographs, in `shards` jobs
# (each picks every n-th micrograph) gathered into RELION's job-level files. The template
# passes (templates.smk) reuse these two rules.

LOG_OUTPUTS = ["coords", "coord_list", "summary", "picture", "qc", "threshold", "fom_histogram"]


rule autopick_log_shard:
    input:
        micrographs=job("select", "micrographs_selected.star"),
    output:
        done=touch(job("autopick_log", ".shards/{shard}.done")),
        pictures=shard_pictures("autopick_log", "2. AutoPick/LoG"),
    log:
        "logs/autopick_log/shard{shard}.log",
    params:
        odir=job("autopick_log"),
        pick=log_settings(),
        backend=config["backend"],
        n_shards=config["shards"],
        on_bad_micrograph=config["on_bad_micrograph"],
    threads: 2
    resources:
        mem_mb=4000,
        gres=gres(),
    conda:
        CONDA_ENV
    script:
        "../scripts/autopick_log.py"


if config["shards"] > 1:

    rule autopick_log:
        input:
            micrographs=job("select", "micrographs_selected.star"),
            shards=shard_flags("autopick_log"),
        output:
            **picking_outputs("autopick_log", "2. AutoPick/LoG", LOG_OUTPUTS, "log_fom_histogram"),
        log:
            "logs/autopick_log/finish.log",
        params:
            odir=job("autopick_log"),
            n_shards=config["shards"],
            pick=log_settings(),
        localrule: True
        conda:
            CONDA_ENV
        script:
            "../scripts/finish_picking.py"

else:  # one shard: the picking job also writes the job-level files, no gather job to start

    use rule autopick_log_shard as autopick_log with:
        output:
            pictures=shard_pictures("autopick_log", "2. AutoPick/LoG", 0),
            **picking_outputs("autopick_log", "2. AutoPick/LoG", LOG_OUTPUTS, "log_fom_histogram"),
        log:
            "logs/autopick_log/shard0.log",
