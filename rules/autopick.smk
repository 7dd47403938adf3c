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
    threads: 2
    resources:
        mem_mb=4000,
        gres=gres(),
    conda:
        CONDA_ENV
    script:
        "../scripts/autopick_log.py"


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
        auto_threshold=config["autopick_log"]["auto_threshold"],
    localrule: True
    conda:
        CONDA_ENV
    script:
        "../scripts/finish_picking.py"
