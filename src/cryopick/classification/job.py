"""A 2D classification job: initialise (or continue), iterate E- and M-steps, write each iteration."""

from __future__ import annotations

import collections
import concurrent.futures
import dataclasses
import logging
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from cryopick.backend import get_backend
from cryopick.classification.accuracy import N_TRIALS, class_accuracies, particle_order
from cryopick.classification.estep import expect_batch
from cryopick.classification.estep_setup import Accumulator, Batch, BatchOutcome, make_setup
from cryopick.classification.initialise import initial_model, initial_particle_state
from cryopick.classification.kernels import coefficient_list
from cryopick.classification.model import Model, ParticleState
from cryopick.classification.mstep import (
    IterationSums,
    finish_references,
    maximize,
    projector_tau2,
)
from cryopick.classification.outputs import IterationInfo, read_state, write_iteration
from cryopick.classification.overlap import InOrder, beside, in_order
from cryopick.classification.parallel import Reducer, get_reducer
from cryopick.classification.params import Class2DParams
from cryopick.classification.particles import ImageSource, ParticleSet, read_particles
from cryopick.classification.reconstruct import buckets_to_reference
from cryopick.classification.sampling import (
    coarse_size,
    make_sampling,
    next_perturbation,
    subset_size,
)
from cryopick.errors import InputError

__all__ = ["Class2DJob", "continued_params", "run_class2d"]

logger = logging.getLogger(__name__)

_HISTORY = ("iteration", "log_likelihood", "changes_classes", "changes_offsets_a",
            "changes_orientations_deg", "resolution_a", "current_size", "ave_pmax", "seconds")


@dataclasses.dataclass(frozen=True)
class Class2DJob:
    """Where a classification reads and writes, and how it runs."""

    output_root: str  # e.g. Class2D/job008/run (files: run_itNNN_*)
    params: Class2DParams
    particles_star: str | None = None  # None when continuing
    continue_from: str | None = None  # an _optimiser.star
    backend: str = "numpy"
    command: str = ""
    threads: int = 1  # E-step batches in parallel (--j); the results do not depend on it


@dataclasses.dataclass
class _Run:
    """Everything that lives for the whole job."""

    job: Class2DJob
    params: Class2DParams
    particles: ParticleSet
    source: ImageSource
    reducer: Reducer
    bk: object
    history: dict[str, list]
    order: tuple[int, np.ndarray] = (-1, np.zeros(0, np.int64))  # (iteration, its order)
    writer: InOrder = dataclasses.field(default_factory=lambda: InOrder(None))  # _write's


def run_class2d(job: Class2DJob) -> Path:
    """Run (or continue) a 2D classification; returns the last iteration's model STAR.

    BLAS runs single-threaded here: a multi-threaded matrix product sums in an order that
    depends on the thread count, and the iterations would amplify those last-bit differences,
    so results would change with the cores a job gets. Scale out with MPI ranks instead.
    """
    with threadpool_limits(limits=1, user_api="blas"):
        return _run_class2d(job)


def _run_class2d(job: Class2DJob) -> Path:
    reducer = get_reducer()
    bk = get_backend(job.backend)
    if job.continue_from:
        general, model, state, history = read_state(job.continue_from)
        particles = read_particles(str(general["rlnExperimentalDataStarFile"]), job.params.ctf)
        start = int(general["rlnCurrentIteration"])
    else:
        if not job.particles_star:
            raise InputError("give --i particles.star (or --continue run_itNNN_optimiser.star)")
        particles = read_particles(job.particles_star, job.params.ctf)
        model, state, history, start = None, initial_particle_state(particles), {}, 0
    params = _resolve(job.params, particles)
    source = ImageSource(particles, params.preread_images)
    run = _Run(job, params, particles, source, reducer, bk,
               {key: list(np.atleast_1d(history.get(key, []))) for key in _HISTORY})
    if model is None:
        model = initial_model(particles, source, params, _batches(run, np.arange(particles.n),
                                                                  model_k=params.n_classes),
                              reducer, bk)
    # each iteration's files are written beside the next iteration (on the CPU, one rank)
    with in_order(_threaded(run) and run.reducer.size == 1) as run.writer:
        _write(run, model, state, start, None, {})
        for iteration in range(start + 1, params.n_iter + 1):
            model, state = _iterate(run, model, state, iteration)
            if iteration < params.n_iter and model.collapsed(params.stop_when_collapsed):
                break  # cryopick's --stop_when_collapsed: the classes cannot recover
    return Path(f"{job.output_root}_it{max(model.iteration, start):03d}_model.star")


def continued_params(optimiser_star: str, changes: dict[str, object]) -> Class2DParams:
    """The options of the run being continued, with ``changes`` applied.

    As in RELION, the number of classes, CTF handling, zero mask, fast subsets and the seed
    cannot change on continue; asking for a different value is an error naming the option.
    """
    general, _, _, _ = read_state(optimiser_star)
    stored = dict(general["params"])
    fixed = ("n_classes", "ctf", "ctf_intact_first_peak", "zero_mask", "fast_subsets",
             "random_seed")
    for key in fixed:
        if key in changes and changes[key] != stored[key]:
            raise InputError(f"{optimiser_star}: {key} cannot change on --continue "
                             f"(was {stored[key]}, asked for {changes[key]})")
    stored.update({k: v for k, v in changes.items() if k not in fixed})
    return Class2DParams(**stored)


def _resolve(params: Class2DParams, particles: ParticleSet) -> Class2DParams:
    """Fill in defaults that depend on the data and check the data against the options."""
    if params.n_classes > particles.n:
        raise InputError(f"{particles.path}: --K {params.n_classes} is more than the "
                         f"{particles.n} particles")
    diameter = params.particle_diameter_a
    box_a = particles.box_px * particles.pixel_a
    if diameter <= 0:
        diameter = (particles.box_px - params.mask_edge_px) * particles.pixel_a
    if diameter > box_a:
        raise InputError(f"{particles.path}: --particle_diameter {diameter:g} Å exceeds the box "
                         f"({box_a:g} Å)")
    return dataclasses.replace(params, particle_diameter_a=diameter)


def _batches(run: _Run, order: np.ndarray, model_k: int) -> list[np.ndarray]:
    """This rank's batches of ``order`` (global batches dealt round-robin to ranks). Auto
    (``batch_size`` 0): an even number of equal batches within the memory budget, so two
    threads or ranks get the same work; they do not depend on the threads, nor do results."""
    size = run.params.batch_size
    if not size:
        n_batches = -(-len(order) // _auto_batch_size(run, model_k))
        n_batches += n_batches % 2
        size = max(1, -(-len(order) // max(n_batches, 1)))
    batches = [order[i:i + size] for i in range(0, len(order), size)]
    return run.reducer.mine(batches)


def _auto_batch_size(run: _Run, n_classes: int) -> int:
    """Particles per batch so that the coarse-pass arrays stay within the memory budget."""
    p, n = run.params, run.particles.box_px
    n_psi = int(np.ceil(360.0 / p.psi_step_deg))
    n_trans = max(1, int(np.pi * (p.offset_range_px / p.offset_step_px + 1) ** 2))
    m = n * n // 2
    per_particle = 4 * n_trans * (3 * n_classes * n_psi + 4 * m) + 64 * n * n
    return int(np.clip(p.memory_budget_mb * 2**20 / per_particle, 8, 4096))


def _iterate(run: _Run, model: Model, state: ParticleState, iteration: int
             ) -> tuple[Model, ParticleState]:
    """One E-step + M-step; writes the iteration and returns the new model and state."""
    started = time.perf_counter()
    params, particles = run.params, run.particles
    perturb = next_perturbation(model.perturb, params.perturb, params.random_seed, iteration)
    sampling = make_sampling(params.psi_step_deg, params.offset_range_px, params.offset_step_px,
                             params.oversampling, perturb)
    sizes = _sizes(run, model, sampling.psi_step_deg)
    coeffs = coefficient_list(particles.box_px)
    tau2 = projector_tau2(model.refs, coeffs, model.current_size)
    setup = make_setup(model, params, sampling, sizes, coeffs, particles.pixel_a, iteration, run.bk)
    subset = _subset(run, iteration)
    acc = Accumulator(setup)
    results = _empty_results(particles.n, coeffs.n_shells)
    for own, indices, outcome in _expect(run, setup, state,
                                         _batches(run, subset, params.n_classes)):
        for name, value in vars(own).items():  # batch sums added in batch order
            setattr(acc, name, getattr(acc, name) + value)
        _store(results, indices, outcome)
    # the accuracy estimate reads only the previous model: beside the M-step (on the CPU)
    with beside(_threaded(run), _accuracies, run, model, state, iteration, sizes,
                coeffs) as accuracies:
        num, den = buckets_to_reference(acc.buckets, params.n_classes, sampling.psi_fine_deg,
                                        particles.box_px, sizes[2])
        totals = run.reducer.sum(_sums(run, acc, num, den, results))
        new_model, new_state = _maximize(run, model, state, totals, tau2, perturb, iteration)
        acc_rot, acc_trans = accuracies()
    new_model = dataclasses.replace(new_model, image_size_used=sizes[2], acc_rot_deg=acc_rot,
                                    acc_trans_a=acc_trans)
    changes = _changes(state, new_state, totals["done"] > 0, particles.pixel_a)
    _log_iteration(run, iteration, new_model, changes, sizes, time.perf_counter() - started)
    _write(run, new_model, new_state, iteration, sampling, changes,
           seconds=time.perf_counter() - started)
    return new_model, new_state


def _threaded(run: _Run) -> bool:
    """Whether serial steps may overlap in a second thread: a CPU backend, ≥ 2 threads."""
    return run.job.threads > 1 and run.bk.name in ("numpy", "strict")


def _accuracies(run: _Run, model: Model, state: ParticleState, iteration: int,
                sizes: tuple[int, int, int], coeffs) -> tuple[np.ndarray, np.ndarray]:
    """RELION's accuracy estimates of this iteration's E-step, from its first ten particles
    (at the coarse size with --strict_highres_exp, else the current size)."""
    p, particles = run.params, run.particles
    sample = _order(run, iteration)[:N_TRIALS]
    size = sizes[0] if p.strict_highres_exp_a > 0 else sizes[2]
    ctf = particles.ctf if p.ctf else None
    return class_accuracies(model.refs, model.pdf_class, model.sigma2, sample, state.psi_deg,
                            particles.group, ctf, coeffs, size, particles.pixel_a,
                            p.random_seed, run.bk, p.ctf_intact_first_peak)


def _expect(run: _Run, setup, state: ParticleState, batches: list[np.ndarray]
            ) -> Iterator[tuple[Accumulator, np.ndarray, BatchOutcome]]:
    """E-step of each batch into its own accumulator, yielded in batch order.

    ``run.job.threads`` batches run at a time (NumPy, BLAS and FFTs release the GIL); at most
    that many batches are in memory at once. Each batch is summed on its own and the caller
    adds the batch sums in batch order, so any number of threads gives the same bits.
    """
    def one(indices: np.ndarray) -> tuple[Accumulator, np.ndarray, BatchOutcome]:
        own = Accumulator(setup)
        return own, indices, expect_batch(setup, _batch(run, state, indices), own)

    threads = run.job.threads if run.bk.name in ("numpy", "strict") else 1  # one GPU stream
    if threads <= 1 or len(batches) <= 1:
        yield from map(one, batches)
        return
    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        pending: collections.deque = collections.deque()
        for indices in batches:
            pending.append(pool.submit(one, indices))
            if len(pending) == threads:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def _sizes(run: _Run, model: Model, psi_step: float) -> tuple[int, int, int]:
    """Image sizes (coarse pass, fine pass, M-step) of this iteration (§4.10)."""
    p, n = run.params, run.particles.box_px
    current = model.current_size
    coarse = coarse_size(current, n, run.particles.pixel_a, psi_step, p.particle_diameter_a,
                         p.strict_highres_exp_a)
    fine = coarse if p.strict_highres_exp_a > 0 else current
    if p.oversampling == 0:
        coarse = fine
    return coarse, fine, current


def _order(run: _Run, iteration: int) -> np.ndarray:
    """RELION's particle processing order in this iteration (cached for the iteration)."""
    if run.order[0] != iteration:
        p, particles = run.params, run.particles
        run.order = (iteration, particle_order(particles.n, p.random_seed, iteration,
                                               p.n_classes, p.fast_subsets,
                                               particles.column("rlnOpticsGroup", 1.0)))
    return run.order[1]


def _subset(run: _Run, iteration: int) -> np.ndarray:
    """Particles of this iteration: with --fast_subsets the first of RELION's order."""
    n = run.particles.n
    size = subset_size(iteration, run.params.n_classes, n, run.params.fast_subsets)
    return np.sort(_order(run, iteration)[:size]) if size < n else np.arange(n)


def _batch(run: _Run, state: ParticleState, indices: np.ndarray) -> Batch:
    particles = run.particles
    ctf = None if particles.ctf is None or not run.params.ctf else \
        {key: value[indices] for key, value in particles.ctf.items()}
    return Batch(indices, run.source.read(indices), particles.group[indices], ctf,
                 state.offset_px[indices], state.norm_correction[indices])


def _empty_results(n: int, n_shells: int) -> dict[str, np.ndarray]:
    return {"done": np.zeros(n), "class_index": np.zeros(n), "psi_deg": np.zeros(n),
            "offset_px": np.zeros((n, 2)), "max_prob": np.zeros(n),
            "n_significant": np.zeros(n), "log_likelihood": np.zeros(n),
            "norm_energy": np.zeros(n), "resid_shells": np.zeros((n, n_shells)),
            "scale_xa": np.zeros(n), "scale_aa": np.zeros(n)}


def _store(results: dict[str, np.ndarray], indices: np.ndarray, outcome: BatchOutcome) -> None:
    for key, values in results.items():
        values[indices] = 1.0 if key == "done" else getattr(outcome, key)


def _sums(run: _Run, acc: Accumulator, num: np.ndarray, den: np.ndarray,
          results: dict[str, np.ndarray]) -> dict[str, object]:
    """This rank's contribution to everything that is summed over ranks."""
    return {"num": num, "den": den, "class_weight": acc.class_weight,
            "offset_sum": acc.offset_sum, "sigma_offset_sum": acc.sigma_offset_sum, **results}


def _group_sum(values: np.ndarray, group: np.ndarray, n_groups: int) -> np.ndarray:
    out = np.zeros((n_groups,) + values.shape[1:])
    np.add.at(out, group, values)
    return out


def _maximize(run: _Run, model: Model, state: ParticleState, totals: dict, tau2: np.ndarray,
              perturb: float, iteration: int) -> tuple[Model, ParticleState]:
    """The M-step on the summed statistics; per-particle results folded into the state."""
    particles, params = run.particles, run.params
    done = totals["done"] > 0
    g, n_groups = particles.group, len(particles.group_names)
    sums = IterationSums(
        num=totals["num"], den=totals["den"], class_weight=totals["class_weight"],
        offset_sum=totals["offset_sum"], sigma_offset_sum=float(totals["sigma_offset_sum"]),
        resid=_group_sum(totals["resid_shells"], g, n_groups),
        group_weight=_group_sum(totals["done"], g, n_groups),
        scale_xa=_group_sum(totals["scale_xa"], g, n_groups),
        scale_aa=_group_sum(totals["scale_aa"], g, n_groups))
    coeffs = coefficient_list(particles.box_px)
    new = maximize(model, sums, params, coeffs, particles.pixel_a,
                   np.bincount(g, minlength=n_groups).astype(np.float64), tau2)
    new_state = state.copy()
    new_state.class_index[done] = totals["class_index"][done].astype(np.int64)
    new_state.n_significant[done] = totals["n_significant"][done].astype(np.int64)
    for key in ("psi_deg", "offset_px", "max_prob", "log_likelihood"):
        getattr(new_state, key)[done] = totals[key][done]
    if params.norm:
        new_state.norm_correction[done] = (state.norm_correction[done] / model.avg_norm
                                           * np.sqrt(2.0 * totals["norm_energy"][done]))
    new = dataclasses.replace(
        new, avg_norm=float(np.mean(new_state.norm_correction)), perturb=perturb,
        log_likelihood=float(totals["log_likelihood"][done].sum()),
        ave_pmax=float(totals["max_prob"][done].mean()), iteration=iteration)
    return finish_references(new, params, particles.pixel_a), new_state


def _changes(old: ParticleState, new: ParticleState, done: np.ndarray, pixel: float
             ) -> dict[str, float]:
    """Fraction of changed classes, rms offset change (Å) and mean |Δψ| (deg) of this iteration."""
    if not done.any():
        return {}
    seen = done & (old.class_index >= 0)
    if not seen.any():
        return {"classes": 1.0, "offsets": 999.0, "orientations": 999.0}
    dpsi = np.abs((new.psi_deg[seen] - old.psi_deg[seen] + 180.0) % 360.0 - 180.0)
    shift = np.linalg.norm(new.offset_px[seen] - old.offset_px[seen], axis=1) * pixel
    changed = new.class_index[seen] != old.class_index[seen]
    return {"classes": float(np.mean(changed)), "classes_count": float(changed.sum()),
            "offsets": float(np.sqrt(np.mean(shift**2))), "orientations": float(np.mean(dpsi))}


def _log_iteration(run: _Run, iteration: int, model: Model, changes: dict, sizes: tuple,
                   seconds: float) -> None:
    if run.reducer.is_root:
        logger.info("iteration %d/%d: %.1f s, sizes %s, resolution %.1f Å, LL %.4g, "
                    "Pmax %.3f, class changes %.3f", iteration, run.params.n_iter, seconds,
                    "/".join(map(str, sizes)), run.particles.box_px * run.particles.pixel_a
                    / model.resolution_shell, model.log_likelihood, model.ave_pmax,
                    changes.get("classes", float("nan")))


def _write(run: _Run, model: Model, state: ParticleState, iteration: int, sampling,
           changes: dict, seconds: float = 0.0) -> None:
    """Record the history and write the iteration's files (root rank only)."""
    h = run.history
    if not h["iteration"] or h["iteration"][-1] < iteration:
        values = [iteration, model.log_likelihood, changes.get("classes", np.nan),
                  changes.get("offsets", np.nan), changes.get("orientations", np.nan),
                  run.particles.box_px * run.particles.pixel_a / max(model.resolution_shell, 1),
                  model.current_size, model.ave_pmax, seconds]
        for key, value in zip(_HISTORY, values):
            h[key].append(float(value))
    if run.reducer.is_root:
        info = IterationInfo(iteration, sampling, changes, run.job.command,
                             {key: np.asarray(v) for key, v in h.items()})
        run.writer.submit(_write_files, run.job.output_root, model, state, run.particles,
                          run.params, info)
    run.reducer.barrier()


def _write_files(root: str, model: Model, state: ParticleState, particles: ParticleSet,
                 params: Class2DParams, info: IterationInfo) -> None:
    paths = write_iteration(root, model, state, particles, params, info)
    logger.info("wrote %s (%d classes, %d particles)", paths["model"], model.n_classes,
                particles.n)
