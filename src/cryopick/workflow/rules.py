"""One function per Snakemake rule: the rule's job in, the library's calls out.

Each takes the job Snakemake hands a ``script:`` (its ``input``, ``output``, ``params``,
``threads``, ``resources``, ``wildcards`` and ``log``, named as in ``rules/*.smk``), sends the
log to the rule's log file, runs the stage and writes the job's ``note.txt``. The adapters in
``scripts/`` call one of these and nothing else. Each function imports its stage itself, so
that a job loads only what it runs (an extraction job, for one, neither pandas nor SciPy's FFT).
"""

from __future__ import annotations

from pathlib import Path

from cryopick.commands import log_command, preprocess_command, select_command, \
    select_templates_command, template_command
from cryopick.io.star import read_micrographs_star
from cryopick.workflow import kept_extraction, log_to_file, picking_shard, rule_micrographs, \
    with_picking_settings, write_note, write_picking_settings
from cryopick.workflow.incremental import template_set_line

__all__ = ["autopick_log", "autopick_template", "class2d", "extract", "finish_picking", "review",
           "review_screenshot", "select_micrographs", "select_templates", "simulate_demo"]


def simulate_demo(rule) -> None:
    """Rule simulate_demo: the simulated project of config ``demo:`` (preset, seed and
    optional overrides, :func:`cryopick.simulate.simulate_project`'s names) in the project
    folder."""
    from cryopick.simulate import simulate_project

    log_to_file(rule.log[0])
    simulate_project(project_dir=".", **rule.params.demo)


def select_micrographs(rule) -> None:
    """Rule select_micrographs: the first N, named, or (``first_n: auto``) as many
    micrographs as it takes to reach ``target_picks`` LoG picks."""
    from cryopick.picking.log import log_params_from_config
    from cryopick.picking.subset import plot_subset, select_by_picks, \
        select_micrographs as first_or_named, write_selection

    log_to_file(rule.log[0])
    opts = rule.params.select
    mics = read_micrographs_star(rule.input.micrographs)
    decisions = None
    if opts["first_n"] == "auto" and not opts["micrographs"]:
        selection, counts = select_by_picks(
            mics, log_params_from_config(rule.params.log), int(opts["target_picks"]),
            int(opts["min_micrographs"]), rule.params.backend, jobs=rule.threads)
        decisions = [f"subset: the first {len(counts)} micrographs, {sum(counts)} LoG picks "
                     f"(target {opts['target_picks']}, at least {opts['min_micrographs']} "
                     f"micrographs)"]
    else:
        first_n = None if opts["first_n"] == "auto" else opts["first_n"]
        selection = first_or_named(mics, first_n=first_n, names=opts["micrographs"])
        counts = []
    write_selection(selection, rule.output.selected)
    plot_subset(counts, int(opts["target_picks"]), rule.output.picture)
    write_note(str(rule.output.selected).rsplit("/", 1)[0],
               select_command(getattr(rule.params, "micrographs_star", None)
                              or rule.input.micrographs), opts, decisions)


def _host_jobs(rule) -> int:
    """Processes for a job's closing steps (pictures, sweeps): the rule's threads where the
    job computes on the host, else 1 (a CUDA context must not cross a fork)."""
    from cryopick.backend import runs_on_host

    return int(rule.threads) if runs_on_host(rule.params.backend) else 1


def autopick_log(rule) -> None:
    """Rules autopick_log_shard / autopick_log: LoG picking of a shard (with one shard, the
    whole job, which then also does the job-level step)."""
    from cryopick.picking.gather import JobOutputs, gather_picking_job
    from cryopick.picking.job import run_autopick_log
    from cryopick.picking.log import log_params_from_config

    log_to_file(rule.log[0])
    params = log_params_from_config(rule.params.pick)
    mics = rule_micrographs(rule)
    with picking_shard(rule, mics) as job:
        write_note(job.odir, log_command(rule.input.micrographs, params, job), rule.params.pick)
        run_autopick_log(mics, params, job)
    if "summary" in rule.output.keys():  # shards: 1, so this job is also the gather job
        gather_picking_job(mics, job.odir, rule.input.micrographs,
                           outputs=JobOutputs.from_rule(rule.output),
                           apply_log_threshold=rule.params.pick["auto_threshold"],
                           jobs=_host_jobs(rule))


def autopick_template(rule) -> None:
    """The template-picking rules: a shard (with one shard, the whole job with its job-level
    step), of the optimisation pass or the final one (``threshold: auto`` reads the cut)."""
    from cryopick.picking.auto_threshold import read_threshold
    from cryopick.picking.gather import JobOutputs, gather_picking_job
    from cryopick.picking.template_job import from_config, run_autopick_template

    log_to_file(rule.log[0])
    files = list(rule.input.get("threshold") or [])  # the final pass with threshold: auto
    auto = read_threshold(files[0]) if files else None
    pick = with_picking_settings(rule.params.pick, rule.input.get("picking"))
    params, spec = from_config(pick, rule.params.stage, rule.input.references,
                               auto.threshold if auto else None)
    mics = rule_micrographs(rule)
    with picking_shard(rule, mics) as job:
        decisions = [f"{auto.describe()} from {files[0]}"] if auto else []
        if rule.params.stage == "final":  # which templates picked which micrographs
            decisions.append(template_set_line(rule.input.references, len(mics.names)))
        if pick != rule.params.pick:
            decisions.append(f"from {rule.input.picking}: "
                             + ", ".join(f"{k}: {v}" for k, v in pick.items()
                                         if rule.params.pick.get(k) != v))
        write_note(job.odir, template_command(rule.input.micrographs, params, spec, job),
                   {**pick, "pass": rule.params.stage}, decisions or None)
        run_autopick_template(mics, params, spec, job)
    if "summary" in rule.output.keys():  # shards: 1, so this job is also the gather job
        gather_picking_job(mics, job.odir, rule.input.micrographs,
                           outputs=JobOutputs.from_rule(rule.output),
                           pick_config=pick, references=rule.input.references,
                           jobs=_host_jobs(rule))


def finish_picking(rule) -> None:
    """The gather rules: the job-level files of a picking job from its shards."""
    from cryopick.picking.gather import JobOutputs, gather_picking_job

    log_to_file(rule.log[0])
    pick = rule.params.get("pick")
    if pick is not None:
        pick = with_picking_settings(pick, rule.input.get("picking"))
    gather_picking_job(rule_micrographs(rule), rule.params.odir,
                       rule.input.micrographs, n_shards=rule.params.n_shards,
                       outputs=JobOutputs.from_rule(rule.output), pick_config=pick,
                       references=rule.input.get("references"),
                       apply_log_threshold=bool(pick and pick.get("auto_threshold")),
                       jobs=rule.threads)


def extract(rule) -> None:
    """The extraction rules: particles of picked coordinates, and their picture; the
    micrographs unchanged since the last run are kept (:func:`kept_extraction`)."""
    from cryopick.extraction import ExtractJob, coordinate_source, params_from_config, \
        run_extraction
    from cryopick.extraction.plots import plot_extraction_gallery

    log_to_file(rule.log[0])
    params = params_from_config(rule.params.extract)
    part_dir = Path(rule.output.particles).parent.as_posix() + "/"
    mics, source = rule_micrographs(rule), coordinate_source(rule.input.coords)
    with kept_extraction(part_dir, [rule.params.extract, rule.params.backend], mics, source,
                         params.remove_dust) as keep:
        job = ExtractJob(part_dir=part_dir, part_star=rule.output.particles,
                         backend=rule.params.backend, jobs=rule.threads, keep=keep,
                         on_bad_micrograph=rule.params.on_bad_micrograph, qc_star=rule.output.qc)
        write_note(part_dir, preprocess_command(getattr(rule.params, "micrographs_star", None)
                                                or rule.input.micrographs, source, params, job),
                   rule.params.extract)
        run_extraction(mics, source, params, job)
    plot_extraction_gallery(rule.output.particles, rule.output.gallery)


def class2d(rule) -> None:
    """Rule class2d: the configured 2D classification (under MPI with ``mpi_ranks`` > 1)."""
    from cryopick.workflow.class2d import run_class2d_stage

    log_to_file(rule.log[0])
    decisions: list[str] = []
    command = run_class2d_stage(
        particles_star=rule.input.particles, config=rule.params.class2d,
        backend=rule.params.backend, model_star=rule.output.model,
        gallery_png=rule.output.gallery, convergence_png=rule.output.convergence,
        threads=rule.threads, mpi_launcher=rule.resources.get("mpi", "mpirun"),
        decisions=decisions)
    write_note(Path(rule.output.model).parent, command, rule.params.class2d, decisions)


def select_templates(rule) -> None:
    """Rule select_templates: the templates for picking, chosen from the 2D classes."""
    from cryopick.workflow.templates import TemplateStage, select_templates_stage

    log_to_file(rule.log[0])
    opts = dict(rule.params.select)
    stage = TemplateStage(
        model_star=rule.input.model, particles_star=rule.input.particles,
        out_star=rule.output.star, gallery_png=rule.output.gallery,
        particle_diameter_a=rule.params.particle_diameter_a,
        mask_diameter_a=rule.params.class2d["mask_diameter_a"], class2d=rule.params.class2d,
        backend=rule.params.backend, threads=rule.threads, decisions_txt=rule.output.decisions)
    decisions, picking = select_templates_stage(stage, opts)
    write_note(str(rule.output.star).rsplit("/", 1)[0],
               select_templates_command(rule.input.model), opts, decisions)
    write_picking_settings(rule.output.picking, picking)


def review(rule) -> None:
    """Rule review: the browser review page of the run, and the review decisions it applied
    (``review.yaml``, read when the workflow started)."""
    from cryopick.errors import atomic_output
    from cryopick.review.decisions import ReviewDecisions
    from cryopick.review.inputs import ReviewInputs
    from cryopick.review.page import write_review_page

    log_to_file(rule.log[0])
    decisions = ReviewDecisions(**rule.params.decisions)
    write_review_page(ReviewInputs(**rule.params.inputs), rule.output.page, decisions)
    # and which templates picked the micrographs (the final pass's note names the set)
    note = Path(rule.input.qc).with_name("note.txt")
    picked_by = [line for line in note.read_text().splitlines()
                 if line.startswith("templates: ")] if note.is_file() else []
    with atomic_output(rule.output.applied) as tmp:
        tmp.write_text("\n".join([*decisions.describe(), *picked_by]) + "\n")


def review_screenshot(rule) -> None:
    """Rule review_screenshot: the review page in headless Chromium, for the report."""
    from cryopick.review.screenshot import render_screenshot

    log_to_file(rule.log[0])
    render_screenshot(rule.input.page, rule.output.png)
