# 3. and 7. Particle extraction (Extract/LoG from the LoG picks, Extract/template from the
# template picks), as relion_preprocess --extract, from the full micrograph STAR (micrographs
# without coordinates are skipped, as in RELION).


rule extract_log:
    input:
        micrographs=micrographs_star(),
        coords=job("autopick_log", "coords_suffix_autopick.star"),
    output:
        particles=job("extract_log", "particles.star"),
        gallery=report(
            job("extract_log", "particles.png"),
            caption="../report/extract.rst",
            category="3. Extract/LoG",
        ),
        qc=report(
            job("extract_log", "qc.star"),
            caption="../report/qc.rst",
            category="3. Extract/LoG",
        ),
    log:
        "logs/extract_log.log",
    params:
        extract=config["extract"],
        backend=config["backend"],
        on_bad_micrograph=config["on_bad_micrograph"],
    threads: 2
    resources:
        mem_mb=4000,
        gres=gres(),
    conda:
        CONDA_ENV
    script:
        "../scripts/extract.py"


rule extract_template:
    input:
        micrographs=micrographs_star(),
        coords=job("autopick_template", "coords_suffix_autopick.star"),
    output:
        particles=job("extract_template", "particles.star"),
        gallery=report(
            job("extract_template", "particles.png"),
            caption="../report/extract.rst",
            category="7. Extract/template",
        ),
        qc=report(
            job("extract_template", "qc.star"),
            caption="../report/qc.rst",
            category="7. Extract/template",
        ),
    log:
        "logs/extract_template.log",
    params:
        extract=config["extract"],
        backend=config["backend"],
        on_bad_micrograph=config["on_bad_micrograph"],
    threads: 2
    resources:
        mem_mb=4000,
        gres=gres(),
    conda:
        CONDA_ENV
    script:
        "../scripts/extract.py"
