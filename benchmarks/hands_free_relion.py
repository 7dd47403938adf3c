"""RELION 3.1.3's chain for the hands-free benchmark, with an oracle class choice.

The tutorial's chain, as ``benchmarks/workflow.py`` runs it, on the workflow's LoG subset and
micrographs: ``relion_autopick --LoG`` and ``relion_preprocess --extract`` on the subset,
``relion_refine`` 2D with the K and iterations the workflow used; then the classes nearest the
true projections as references, leaving out classes that match no true view (what a user with
perfect knowledge would pick, see :func:`oracle_classes`), re-centred as RELION's Select job
does; the optimisation pass on the subset (one ``relion_autopick --write_fom_maps`` process,
like the GUI's), template picking on every micrograph and the extraction of its picks. Timed:
those steps, once each. Not timed: the best picking settings, found by a sweep that re-reads
FOM maps of every micrograph written once. The tutorial leaves RELION's noise filters off
(``--max_stddev_noise -1 --min_avg_noise -999``) and asks the user to optimise four values:
the threshold, the minimum distance and the two filters. The sweep tries every threshold
from 0 to 3 in steps of 0.1, and below 0 down to -1 where the best is at 0, with each
``--min_avg_noise`` of :data:`NOISE_SWEEP`; the minimum distance is the user's, and
``--max_stddev_noise`` stays off (1.2 tried on one data set moved its best F1 by at most
0.015). The oracle's F1 is the best of them all; the tutorial's filters-off F1 is reported
beside it. The extraction extracts the picks at the best setting.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np
import pandas as pd
from common import timed
from truth import class_truth_ncc, score_pick_job

from cryopick.classification.class_selection import read_class_averages, recenter
from cryopick.io.mrc import write_mrc
from cryopick.io.star import read_star, write_star
from cryopick.simulate import CTF_STAR

LOG_DIR, EXTRACT_DIR = "Relion/LoG/", "Relion/Extract/"
CLASS2D_DIR, SELECT_DIR, PICK_DIR = "Relion/Class2D/", "Relion/Select/", "Relion/AutoPick/"
OPTIMISE_DIR, FINAL_EXTRACT_DIR = "Relion/optimise/", "Relion/Extract2/"
SWEEP = [round(0.1 * i, 1) for i in range(0, 31)]  # thresholds
NOISE_SWEEP = (-999.0, -0.3, -0.2, -0.1, 0.0, 0.1, 0.2)  # --min_avg_noise; -999: off (tutorial)
SWEEP_FLOOR = -1.0  # the lowest threshold tried, where the best is at 0
SWEEP_STOP = 0.1  # a filter setting's thresholds stop once F1 falls this far below its best


@dataclasses.dataclass
class RelionResult:
    """RELION's chain on one data set: time of one pass, the oracle classes, best threshold."""

    ok: bool = False
    time_s: float = float("nan")
    steps: dict = dataclasses.field(default_factory=dict)
    classes: list = dataclasses.field(default_factory=list)
    threshold: float = float("nan")
    min_avg_noise: float = NOISE_SWEEP[0]
    f1: float = float("nan")
    precision: float = float("nan")
    recall: float = float("nan")
    on_junk: int = 0
    sweep: list = dataclasses.field(default_factory=list)  # (threshold, F1), filters off
    noise_sweep: list = dataclasses.field(default_factory=list)  # (min_avg_noise, thr, F1)
    error: str = ""

    @property
    def f1_filters_off(self) -> float:
        """The best F1 with the tutorial's settings (noise filters off)."""
        return max((f1 for _, f1 in self.sweep), default=float("nan"))

    def summary(self) -> str:
        """One line: time per step, classes, the sweep's best."""
        if not self.ok:
            return f"failed: {self.error}"
        steps = ", ".join(f"{k} {v:.0f} s" for k, v in self.steps.items())
        sweep = " ".join(f"{t:.1f}:{f:.2f}" for t, f in self.sweep)
        noise = " ".join(f"{a:g}:{f:.3f}@{t:.1f}" for a, t, f in self.noise_sweep)
        return (f"{self.time_s:.0f} s ({steps}); oracle classes {self.classes}; best threshold "
                f"{self.threshold:.1f} with --min_avg_noise {self.min_avg_noise:g}: "
                f"P {self.precision:.3f} R {self.recall:.3f} F1 {self.f1:.3f}, {self.on_junk} "
                f"on junk; filters off (the tutorial's) F1 {self.f1_filters_off:.3f}, sweep "
                f"thr:F1 {sweep}; best per --min_avg_noise avg:F1@thr {noise}")


def _mpi(program: str, j: int) -> list[str]:
    return ["mpirun", "-np", str(j), f"{program}_mpi"] if j > 1 else [program]


def _run(result: RelionResult, step: str, cmd: list[str], project: Path) -> None:
    wall, _ = timed(cmd, project, project / f"relion_{step}.log")
    result.steps[step] = wall


def _classification_size(project: Path, config: dict) -> tuple[int, int]:
    """K and iterations of the workflow's 2D run (its last model), else the config's."""
    models = sorted((project / config["aliases"]["class2d"]).glob("run_it*_model.star"))
    if models:
        k = len(read_star(models[-1])["model_classes"])
        return k, int(re.search(r"run_it(\d+)_model", models[-1].name).group(1))
    return int(config["class2d"]["n_classes"]), int(config["class2d"]["n_iter"])


def _log_and_extract(result: RelionResult, project: Path, subset: str, config: dict,
                     j: int) -> None:
    log = config["autopick_log"]
    _run(result, "LoG", [*_mpi("relion_autopick", j), "--i", subset, "--odir", LOG_DIR,
                         "--pickname", "autopick", "--LoG",
                         "--LoG_diam_min", str(log["diameter_min_a"]),
                         "--LoG_diam_max", str(log["diameter_max_a"]), "--shrink",
                         str(log["shrink"]), "--lowpass", str(log["lowpass_a"]),
                         "--LoG_adjust_threshold", str(log["threshold_adjust"]),
                         "--LoG_upper_threshold", str(log["threshold_upper"])], project)
    _extract(result, "extract", project, subset, LOG_DIR, EXTRACT_DIR, config, j)


def _extract(result: RelionResult, step: str, project: Path, micrographs: str, coords: str,
             out: str, config: dict, j: int) -> None:
    ext = config["extract"]
    bg_radius = ext["bg_diameter_px"] / 2 * ext["rescaled_size_px"] / ext["box_size_px"]
    _run(result, step, [*_mpi("relion_preprocess", j), "--i", micrographs, "--coord_dir",
                        coords, "--coord_suffix", "_autopick.star", "--part_star",
                        out + "particles.star", "--part_dir", out,
                        "--extract", "--extract_size", str(ext["box_size_px"]),
                        "--scale", str(ext["rescaled_size_px"]), "--norm", "--bg_radius",
                        f"{bg_radius:g}", "--white_dust", "-1", "--black_dust", "-1",
                        "--invert_contrast"], project)


def _classify(result: RelionResult, project: Path, config: dict, j: int) -> Path:
    c2d = config["class2d"]
    k, n_iter = _classification_size(project, config)
    cmd = ["relion_refine", "--o", CLASS2D_DIR + "run", "--i", EXTRACT_DIR + "particles.star",
           "--dont_combine_weights_via_disc", "--preread_images", "--pool", str(c2d["pool"]),
           "--pad", "2", "--iter", str(n_iter), "--tau2_fudge", str(c2d["tau2_fudge"]),
           "--particle_diameter", str(c2d["mask_diameter_a"]), "--K", str(k),
           "--flatten_solvent", "--zero_mask", "--oversampling", "1",
           "--psi_step", f"{2 * c2d['psi_step_deg']:g}", "--offset_range",
           str(c2d["offset_range_px"]), "--offset_step", f"{2 * c2d['offset_step_px']:g}",
           "--norm", "--scale", "--j", str(j), "--random_seed", "1"]
    _run(result, "2D", [*cmd, "--ctf"] if c2d["ctf"] else cmd, project)
    return Path(CLASS2D_DIR) / f"run_it{n_iter:03d}_model.star"


ORACLE_MIN_NCC = 0.75  # below: the class matches no true view (junk, a featureless disc)


def _sweep(result: RelionResult, project: Path, refs: str, pixel: float, config: dict,
           radius_px: float, j: int) -> tuple:
    """The best (score, picks on junk, threshold, min_avg_noise) over the thresholds of
    :data:`SWEEP` with each ``--min_avg_noise`` of :data:`NOISE_SWEEP`, re-reading the FOM
    maps (below 0 too, down to :data:`SWEEP_FLOOR`, where a setting's best is at 0); fills
    ``result.sweep`` (filters off) and ``result.noise_sweep``."""
    best = None

    def scan(thresholds, avg, mine):
        flags = _pick_flags(refs, pixel, config, min_avg_noise=avg)
        for threshold in thresholds:
            timed([*_mpi("relion_autopick", j), *flags, "--threshold", f"{threshold:g}",
                   "--read_fom_maps"], project, project / "relion_sweep.log")
            score, on_junk = score_pick_job(project, PICK_DIR, radius_px)
            if avg == NOISE_SWEEP[0]:
                result.sweep.append((threshold, score.f1))
            if mine is None or score.f1 > mine[0].f1:
                mine = (score, on_junk, threshold, avg)
            elif score.f1 < mine[0].f1 - SWEEP_STOP:
                break
        return mine

    for avg in NOISE_SWEEP:
        mine = scan(SWEEP, avg, None)
        if mine[2] == SWEEP[0]:
            below = [round(SWEEP[0] - 0.1 * i, 1) for i in range(1, 11)]
            mine = scan([t for t in below if t >= SWEEP_FLOOR], avg, mine)
        result.noise_sweep.append((avg, mine[2], mine[0].f1))
        if best is None or mine[0].f1 > best[0].f1:
            best = mine
    result.sweep.sort()
    return best


def oracle_classes(ncc: dict[int, tuple[float, int, float]], n: int) -> list[int]:
    """Up to ``n`` classes nearest the true projections: the best of every species, then the
    next best that match a true view (truth NCC ≥ ``ORACLE_MIN_NCC``), as a person who knows
    the particle would choose; a junk class is not taken to make up the number."""
    order = sorted(ncc, key=lambda c: ncc[c][0], reverse=True)
    chosen = []
    for species in sorted({v[1] for v in ncc.values()}):
        chosen.append(next(c for c in order if ncc[c][1] == species))
    chosen += [c for c in order if c not in chosen and ncc[c][0] >= ORACLE_MIN_NCC
               ][:max(0, n - len(chosen))]
    return sorted(chosen)


def _write_references(project: Path, model: Path, classes: list[int]) -> tuple[str, float]:
    """Re-centred averages of ``classes`` as RELION's Select job writes class_averages.star."""
    import os
    cwd = os.getcwd()
    os.chdir(project)
    try:
        table, images, pixel = read_class_averages(model)
    finally:
        os.chdir(cwd)
    refs = np.stack([recenter(images[c - 1]) for c in classes])
    write_mrc(project / SELECT_DIR / "class_averages.mrcs", refs, pixel, stack=True)
    star = SELECT_DIR + "class_averages.star"
    write_star(project / star, {"": pd.DataFrame({
        "rlnReferenceImage": [f"{i:06d}@{SELECT_DIR}class_averages.mrcs"
                              for i in range(1, len(classes) + 1)],
        "rlnClassNumber": classes})})
    return star, pixel


def _pick_flags(refs: str, pixel: float, config: dict, micrographs: str = CTF_STAR,
                odir: str = PICK_DIR, stage: str = "final",
                min_avg_noise: float = NOISE_SWEEP[0]) -> list[str]:
    tpl, mask = config["autopick_template"], config["class2d"]["mask_diameter_a"]
    flags = ["--i", micrographs, "--odir", odir, "--pickname", "autopick", "--ref", refs,
             "--angpix_ref", f"{pixel:g}", "--invert", "--ang",
             str(tpl["angular_sampling_deg"]), "--lowpass", str(tpl["lowpass_a"]),
             "--shrink", str(tpl["shrink"]), "--particle_diameter", str(mask),
             "--min_distance", str(tpl[stage]["min_distance_a"]),
             "--max_stddev_noise", "-1", "--min_avg_noise", f"{min_avg_noise:g}"]
    return [*flags, "--ctf"] if tpl["ctf"] else flags


def _optimise_threshold(config: dict) -> float:
    """The optimisation pass's threshold: the config's number (RELION's GUI default 0.05
    where the config says auto)."""
    value = config["autopick_template"]["optimise"].get("threshold", 0.05)
    return float(value) if not isinstance(value, str) else 0.05


def run_relion_chain(project: Path, subset: str, config: dict, radius_px: float,
                     j: int) -> RelionResult:
    """RELION's chain on the workflow's subset and micrographs (see the module docstring)."""
    result = RelionResult()
    for folder in (LOG_DIR, EXTRACT_DIR, CLASS2D_DIR, SELECT_DIR, PICK_DIR, OPTIMISE_DIR,
                   FINAL_EXTRACT_DIR):
        (project / folder).mkdir(parents=True, exist_ok=True)
    try:
        _log_and_extract(result, project, subset, config, j)
        model = _classify(result, project, config, j)
        ncc = class_truth_ncc(project, model, config["class2d"]["mask_diameter_a"])
        n = config["select_templates"]["n_templates"]
        result.classes = oracle_classes(ncc, n if isinstance(n, int) else 4)
        refs, pixel = _write_references(project, model, result.classes)
        _run(result, "optimise", ["relion_autopick", *_pick_flags(
            refs, pixel, config, subset, OPTIMISE_DIR, "optimise"), "--threshold",
            f"{_optimise_threshold(config):g}", "--write_fom_maps"], project)
        flags = _pick_flags(refs, pixel, config)
        _run(result, "template", [*_mpi("relion_autopick", j), *flags, "--threshold",
                                  f"{SWEEP[0]:g}"], project)
        # not timed: the best settings, from FOM maps written once and re-read
        timed(["relion_autopick", *flags, "--threshold", f"{SWEEP[0]:g}", "--write_fom_maps"],
              project, project / "relion_sweep.log")
        score, result.on_junk, result.threshold, result.min_avg_noise = _sweep(
            result, project, refs, pixel, config, radius_px, j)
        result.f1, result.precision, result.recall = score.f1, score.precision, score.recall
        timed([*_mpi("relion_autopick", j), *_pick_flags(refs, pixel, config,
                                                       min_avg_noise=result.min_avg_noise),
               "--threshold", f"{result.threshold:g}", "--read_fom_maps"], project,
              project / "relion_sweep.log")
        _extract(result, "extract all", project, CTF_STAR, PICK_DIR, FINAL_EXTRACT_DIR, config,
                 j)
        result.time_s = sum(result.steps.values())
        result.ok = True
    except Exception as err:  # report RELION's failure with the data set's row, go on
        result.error = f"{type(err).__name__}: {err}"
    return result
