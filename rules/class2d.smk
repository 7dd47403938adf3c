# 4. Bayesian 2D classification (Class2D/LoG) of the LoG particles, as relion_refine does it;
# with class2d.mpi_ranks > 1 it is an MPI job of that many ranks (srun inside a SLURM allocation,
# mpirun elsewhere); with 1 it is a plain threaded job.


rule class2d:
    input:
        particles=job("extract_log", "particles.star"),
    output:
        model=class2d_model(),
        data=class2d_model().replace("_model.star", "_data.star"),
        classes=class2d_model().replace("_model.star", "_classes.mrcs"),
        gallery=report(
            job("class2d", "classes.png"),
            caption="../report/class2d_gallery.rst",
            category="4. Class2D/LoG",
        ),
        convergence=report(
            job("class2d", "convergence.png"),
            caption="../report/class2d_convergence.rst",
            category="4. Class2D/LoG",
        ),
    log:
        "logs/class2d.log",
    params:
        class2d=config["class2d"],
        backend=config["backend"],
    threads: 2
    resources:
        mem_mb=8000,
        gres=gres(),
        **class2d_mpi(),
    conda:
        CONDA_ENV
    script:
        "../scripts/class2d.py"
