# 2. Template-free LoG picking (AutoPick/LoG) on the selected micrographs, in `shards` jobs
# (each picks every n-th micrograph) gathered into RELION's job-level files.


rule autopick_log_shard:
    input:
        micrographs=job("select", "micrographs_selected.star"),
    output:
        done=touch(job("autopick_log", ".shards/{shard}.done")),
        pictures=report(
            directory(job("autopick_log", "pictures/shard{shard}")),
            patterns=["{name}.png"],
            caption="../report/autopick_log.rst",
            category="2. AutoPick/LoG",
        ),
    log:
        "logs/autopick_log/shard{shard}.log",
    params:
        odir=job("autopick_log"),
        pick=config["autopick_log"],
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
            coords=job("autopick_log", "coords_suffix_autopick.star"),
            coord_list=job("autopick_log", "autopick.star"),
            summary=job("autopick_log", "summary.star"),
            picture=report(
                job("autopick_log", "summary.png"),
                caption="../report/pick_summary.rst",
                category="2. AutoPick/LoG",
            ),
            qc=report(
                job("autopick_log", "qc.star"),
                caption="../report/qc.rst",
                category="2. AutoPick/LoG",
            ),
            threshold=job("autopick_log", "auto_threshold.yaml"),
            fom_histogram=report(
                job("autopick_log", "fom_histogram.png"),
                caption="../report/log_fom_histogram.rst",
                category="2. AutoPick/LoG",
            ),
        log:
            "logs/autopick_log/finish.log",
        params:
            odir=job("autopick_log"),
            n_shards=config["shards"],
            pick=config["autopick_log"],
        localrule: True
        conda:
            CONDA_ENV
        script:
            "../scripts/finish_picking.py"

else:  # one shard: the picking job also writes the job-level files, no gather job to start

    use rule autopick_log_shard as autopick_log with:
        output:
            pictures=report(
                directory(job("autopick_log", "pictures/shard0")),
                patterns=["{name}.png"],
                caption="../report/autopick_log.rst",
                category="2. AutoPick/LoG",
            ),
            coords=job("autopick_log", "coords_suffix_autopick.star"),
            coord_list=job("autopick_log", "autopick.star"),
            summary=job("autopick_log", "summary.star"),
            picture=report(
                job("autopick_log", "summary.png"),
                caption="../report/pick_summary.rst",
                category="2. AutoPick/LoG",
            ),
            qc=report(
                job("autopick_log", "qc.star"),
                caption="../report/qc.rst",
                category="2. AutoPick/LoG",
            ),
            threshold=job("autopick_log", "auto_threshold.yaml"),
            fom_histogram=report(
                job("autopick_log", "fom_histogram.png"),
                caption="../report/log_fom_histogram.rst",
                category="2. AutoPick/LoG",
            ),
        log:
            "logs/autopick_log/shard0.log",
