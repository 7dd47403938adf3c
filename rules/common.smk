# Shared definitions: config validation, job folders, input functions.

import os
import sys

from snakemake.utils import validate

validate(config, schema=str(REPO / "config" / "schema.yaml"))

ALIAS = config["aliases"]


wildcard_constraints:
    shard=r"\d+",

DEMO_STAR = "CtfFind/job003/micrographs_ctf.star"
# conda environment of the compute rules (--software-deployment-method conda): CuPy's for GPUs
CONDA_ENV = "../envs/cryopick-gpu.yaml" if config["backend"] == "cupy" else "../envs/cryopick.yaml"


def micrographs_star():
    """The micrograph STAR file the pipeline starts from (simulated when `demo`)."""
    star = config["micrographs_star"]
    return DEMO_STAR if star == "demo" else star


def job(alias_key, name=""):
    """A path inside the RELION job folder of a stage, e.g. job('autopick_log', 'x.star')."""
    return f"{ALIAS[alias_key]}/{name}"


def gpus():
    """GPUs a compute job asks the cluster for: one with `backend: cupy`, none otherwise.

    `auto` cannot know at planning time whether the job's node has a GPU, so it asks for none.
    """
    return 1 if config["backend"] == "cupy" else 0


def gres():
    """SLURM generic resources of a compute job (`gpu:1` with `backend: cupy`)."""
    return "gpu:1" if gpus() else ""


def class2d_mpi():
    """MPI resources of the 2D classification: none with one rank (a plain threaded job);
    with more, an MPI job of `mpi_ranks` tasks of one core each, whose ranks srun starts
    inside a SLURM allocation and mpirun elsewhere (SLURM's executor refuses MPI jobs of one
    task, and its job step runs a job with an `mpi` resource as it is, without srun)."""
    ranks = config["class2d"]["mpi_ranks"]
    if ranks <= 1:
        return {}
    launcher = "srun" if "SLURM_JOB_ID" in os.environ else "mpirun"
    return {"tasks": ranks, "mpi": launcher, "cpus_per_task": 1}


def print_resource_advice(log):
    """After a failed run: which rule ran out of memory or time on SLURM, and what to raise."""
    try:
        from cryopick.workflow import resource_advice
    except ImportError:  # a Snakemake without cryopick beside it (conda deployment)
        return
    paths = [log] if isinstance(log, (str, Path)) else list(log)  # Snakemake 9: a list
    text = "".join(Path(p).read_text(errors="replace") for p in paths if Path(p).is_file())
    for line in resource_advice(text):
        print(f"cryopick: {line}", file=sys.stderr)


def shard_flags(alias_key):
    """The done-flags of every shard of a per-micrograph stage (config `shards`)."""
    return [job(alias_key, f".shards/{i}.done") for i in range(config["shards"])]


def subset_log_params():
    """The LoG settings the subset is sized with (`select.first_n: auto`); none otherwise, so
    that a LoG setting does not re-run a fixed selection."""
    return config["autopick_log"] if config["select"]["first_n"] == "auto" else {}


def final_threshold():
    """The automatic threshold file the final template pass reads (`threshold: auto`)."""
    if config["autopick_template"]["final"]["threshold"] == "auto":
        return [job("autopick_optimise", "auto_threshold.yaml")]
    return []


def class2d_model():
    """The model STAR of the last 2D classification iteration."""
    return job("class2d", f"run_it{config['class2d']['n_iter']:03d}_model.star")


def final_targets():
    """Every stage's job-level outputs (what `snakemake` with no target builds)."""
    return [
        job("select", "micrographs_selected.star"),
        job("autopick_log", "coords_suffix_autopick.star"),
        job("extract_log", "particles.star"),
        class2d_model(),
        job("select_templates", "class_averages.star"),
        job("autopick_optimise", "coords_suffix_autopick.star"),
        job("autopick_template", "coords_suffix_autopick.star"),
        job("extract_template", "particles.star"),
    ]
