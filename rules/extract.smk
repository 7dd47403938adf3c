# 3. and 7. Particle extraction (Extract/LoG from the LoG picks, Extract/template from the
# template picks), as relion_preprocess --extract (micrographs without coordinates are skipped,
# as in RELION). Extract/LoG reads the subset's copy of the micrograph STAR file (unchanged
# while micrographs are appended); Extract/template the full one, less exclude_micrographs.


def extract_outputs(alias_key, category):
    """An extraction job's outputs: particles.star, the particle gallery and qc.star."""
    shown = lambda name, caption: report(job(alias_key, name), caption=f"../report/{caption}.rst",
                                         category=category)
    return {
        "particles": job(alias_key, "particles.star"),
        "gallery": shown("particles.png", "extract"),
        "qc": shown("qc.star", "qc"),
    }


rule extract_log:
    input:
        micrographs=subset_source(),
        coords=job("autopick_log", "coords_suffix_autopick.star"),
    output:
        **extract_outputs("extract_log", "3. Extract/LoG"),
    log:
        "logs/extract_log.log",
    params:
        extract=config["extract"],
        backend=config["backend"],
        on_bad_micrograph=config["on_bad_micrograph"],
        micrographs_star=micrographs_star(),  # named in note.txt
    threads: 2
    resources:
        mem_mb=4000,
        gres=gres(),
    conda:
        CONDA_ENV
    script:
        "../scripts/extract.py"


use rule extract_log as extract_template with:
    input:
        micrographs=micrographs_star(),
        coords=job("autopick_template", "coords_suffix_autopick.star"),
    output:
        **extract_outputs("extract_template", "7. Extract/template"),
    log:
        "logs/extract_template.log",
    params:
        extract=config["extract"],
        backend=config["backend"],
        on_bad_micrograph=config["on_bad_micrograph"],
        exclude=config["exclude_micrographs"],
