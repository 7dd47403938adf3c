# Simulated RELION project (`micrographs_star: demo`): micrographs, CTF STAR, ground truth.


rule simulate_demo:
    output:
        micrographs=DEMO_STAR,
        truth=directory("Demo/truth"),
        density="Demo/density.mrc",
    log:
        "logs/simulate_demo.log",
    params:
        demo=config["demo"],
    script:
        "../scripts/simulate_demo.py"
