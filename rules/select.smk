# 1. Subset selection of micrographs (Select/5mics).


rule select_micrographs:
    input:
        micrographs=micrographs_star(),
    output:
        selected=job("select", "micrographs_selected.star"),
    log:
        "logs/select_micrographs.log",
    params:
        select=config["select"],
    conda:
        CONDA_ENV
    script:
        "../scripts/select_micrographs.py"
