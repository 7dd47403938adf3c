# 2. Template-free LoG picking (AutoPick/LoG) on the selected micrographs.


rule autopick_log:
    input:
        micrographs=job("select", "micrographs_selected.star"),
    output:
        coords=job("autopick_log", "coords_suffix_autopick.star"),
        coord_list=job("autopick_log", "autopick.star"),
        summary=job("autopick_log", "summary.star"),
        pictures=report(
            directory(job("autopick_log", "pictures")),
            patterns=["{name}.png"],
            caption="../report/autopick_log.rst",
            category="2. AutoPick/LoG",
        ),
    log:
        "logs/autopick_log.log",
    params:
        odir=job("autopick_log"),
        pick=config["autopick_log"],
        backend=config["backend"],
    threads: 2
    resources:
        mem_mb=4000,
    conda:
        "../envs/cryopick.yaml"
    script:
        "../scripts/autopick_log.py"
