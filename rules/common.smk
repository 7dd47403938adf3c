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


# The subset stages' copy of the micrograph STAR file, rewritten only when the subset depends
# on what changed (cryopick.workflow.incremental.sync_subset_source), so that micrographs
# appended during collection re-run only the per-micrograph stages.
SUBSET_SOURCE = ".cryopick/subset_micrographs.star"
SYNCED = []  # synced once per parse


def subset_source():
    """The micrograph STAR file the subset stages read, synced when the workflow is parsed (in
    Snakemake's main process only: a cluster job parses the workflow again)."""
    star = micrographs_star()
    if workflow.is_main_process and Path(star).is_file() and not SYNCED:
        SYNCED.append(star)
        from cryopick.workflow.incremental import sync_subset_source

        sync_subset_source(star, SUBSET_SOURCE, job("select", "micrographs_selected.star"),
                           config["select"], config["refresh_templates"])
    return SUBSET_SOURCE


rule copy_subset_source:
    input:
        ancient(micrographs_star()),  # a first copy only; then synced by subset_source()
    output:
        SUBSET_SOURCE,
    localrule: True
    shell:
        "cp {input:q} {output:q}.tmp && mv {output:q}.tmp {output:q}"


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


def start_warm_server():
    """Local runs (not a cluster, not a dry run): the jobs start warm (cryopick.warmstart)."""
    if not config["warm_start"] or not workflow.local_exec or workflow.dryrun:
        return
    try:
        from cryopick.warmstart import start_server
    except ImportError:  # a Snakemake without cryopick beside it (conda deployment)
        return
    start_server()


def cancel_rate_limit_timers():
    """When the run is over: no waiting ~1 s for Snakemake's last rate-limit timer
    (cryopick.workflow.cancel_timers)."""
    try:
        from cryopick.workflow import cancel_timers
    except ImportError:  # a Snakemake without cryopick beside it (conda deployment)
        return
    cancel_timers()


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


def shard_pictures(alias_key, category, shard="{shard}"):
    """The picture folder of one shard of a picking stage (a report output)."""
    caption = "autopick_log" if alias_key == "autopick_log" else "autopick_template"
    return report(
        directory(job(alias_key, f"pictures/shard{shard}")),
        patterns=["{name}.png"],
        caption=f"../report/{caption}.rst",
        category=category,
    )


def picking_outputs(alias_key, category, names, fom_caption="fom_histogram"):
    """The job-level outputs `names` of a picking stage (RELION's files and the pictures),
    declared by its gather rule, or with one shard by its picking rule."""
    shown = lambda name, caption: report(job(alias_key, name), caption=f"../report/{caption}.rst",
                                         category=category)
    files = {
        "coords": job(alias_key, "coords_suffix_autopick.star"),
        "coord_list": job(alias_key, "autopick.star"),
        "summary": job(alias_key, "summary.star"),
        "picture": shown("summary.png", "pick_summary"),
        "sweep": shown("threshold_sweep.png", "threshold_sweep"),
        "qc": shown("qc.star", "qc"),
        "threshold": job(alias_key, "auto_threshold.yaml"),
        "fom_histogram": shown("fom_histogram.png", fom_caption),
    }
    return {name: files[name] for name in names}


def log_settings():
    """`autopick_log` with `skip_side: auto` made a number: half the extraction box (px), so
    that every LoG particle lies wholly inside its micrograph."""
    cfg = {**config["autopick_log"]}
    if cfg["skip_side"] == "auto":
        cfg["skip_side"] = int(config["extract"]["box_size_px"]) // 2
    return cfg


def subset_log_params():
    """The LoG settings the subset is sized with (`select.first_n: auto`); none otherwise, so
    that a LoG setting does not re-run a fixed selection."""
    return log_settings() if config["select"]["first_n"] == "auto" else {}


def optimise_settings():
    """The `autopick_template` settings of the optimisation pass (and of the threshold it
    chooses): all but the final threshold, so that changing it re-runs only the final pass."""
    cfg = {**config["autopick_template"]}
    cfg["final"] = {k: v for k, v in cfg["final"].items() if k != "threshold"}
    return {key: cfg[key] for key in sorted(cfg)}  # an order that config overrides do not move


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
