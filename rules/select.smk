# 1. Subset selection of micrographs (Select/5mics): the first N, named ones, or (first_n: auto)
# as many as it takes to reach a number of LoG picks.


rule select_micrographs:
    input:
        micrographs=micrographs_star(),
    output:
        selected=job("select", "micrographs_selected.star"),
        picture=report(
            job("select", "subset.png"),
            caption="../report/select.rst",
            category="1. Select/5mics",
        ),
    log:
        "logs/select_micrographs.log",
    params:
        select=config["select"],
        log=subset_log_params(),
        backend=config["backend"],
    conda:
        CONDA_ENV
    script:
        "../scripts/select_micrographs.py"
