# 1. Subset selection of micrographs (Select/5mics): the first N, named ones, or (first_n: auto)
# as many as it takes to reach a number of LoG picks; from the subset's copy of the micrograph
# STAR file (subset_source), which micrographs appended later leave unchanged.


rule select_micrographs:
    input:
        micrographs=subset_source(),
    output:
        selected=job("select", "micrographs_selected.star"),
        picture=report(
            job("select", "subset.png"),
            caption="../report/select.rst",
            category="1. Select/5mics",
        ),
    log:
        "logs/select_micrographs.log",
    threads: 2  # LoG picks counted on two micrographs at a time
    params:
        select=config["select"],
        log=subset_log_params(),
        backend=config["backend"],
        micrographs_star=micrographs_star(),  # named in note.txt
    conda:
        CONDA_ENV
    script:
        "../scripts/select_micrographs.py"
