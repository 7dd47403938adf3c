"""Iteration outputs as relion_refine writes them (relion-facts §1.7, §4.12), and reading them back.

Per iteration: ``<root>_itNNN_{model,data,sampling,optimiser}.star``, ``_classes.mrcs``,
``<root>_unmasked_classes.mrcs``, and ``_cryopick.npz`` (the exact state in float64 and the
convergence history, for ``--continue``). All files of an iteration are written under
temporary names and renamed together, the optimiser STAR last, so an interrupted run never
leaves a usable-looking partial iteration.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import itertools
import json
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from cryopick.classification.model import Model, ParticleState
from cryopick.classification.params import Class2DParams
from cryopick.classification.particles import ParticleSet
from cryopick.classification.sampling import Sampling
from cryopick.errors import InputError
from cryopick.io.mrc import write_mrc
from cryopick.io.star import iter_star, read_star

__all__ = ["IterationInfo", "iteration_paths", "read_state", "write_iteration"]


@dataclasses.dataclass
class IterationInfo:
    """What the optimiser/sampling STAR files and the history need besides the model."""

    iteration: int
    sampling: Sampling | None
    changes: dict[str, float]
    command: str
    history: dict[str, np.ndarray]


def iteration_paths(root: str, iteration: int) -> dict[str, Path]:
    """Paths of one iteration's files for output root ``root`` (e.g. ``Class2D/job008/run``)."""
    stem = f"{root}_it{iteration:03d}"
    return {name: Path(f"{stem}_{name}.star") for name in ("model", "data", "sampling",
                                                           "optimiser")} | {
        "classes": Path(f"{stem}_classes.mrcs"), "state": Path(f"{stem}_cryopick.npz"),
        "unmasked": Path(f"{root}_unmasked_classes.mrcs")}


@contextlib.contextmanager
def _staged(paths: list[Path]) -> Iterator[dict[Path, Path]]:
    """Temporary siblings for ``paths``; all renamed (in the given order) only on success."""
    tmps = {p: p.with_name(f".{p.stem}.{os.getpid()}.tmp{p.suffix}") for p in paths}
    for p in paths:
        p.parent.mkdir(parents=True, exist_ok=True)
    try:
        yield tmps
        for p in paths:
            os.replace(tmps[p], p)
    finally:
        for tmp in tmps.values():
            tmp.unlink(missing_ok=True)


def write_iteration(root: str, model: Model, state: ParticleState, particles: ParticleSet,
                    params: Class2DParams, info: IterationInfo) -> dict[str, Path]:
    """Write every file of iteration ``info.iteration``; returns their paths."""
    paths = iteration_paths(root, info.iteration)
    order = ["classes", "unmasked", "state", "model", "data", "sampling", "optimiser"]
    with _staged([paths[name] for name in order]) as tmp:
        write_mrc(tmp[paths["classes"]], model.refs, particles.pixel_a, stack=True)
        write_mrc(tmp[paths["unmasked"]], model.unmasked_refs, particles.pixel_a, stack=True)
        np.savez(tmp[paths["state"]], **model.arrays(), **state.arrays(),
                 **{f"h_{k}": v for k, v in info.history.items()},
                 params_json=np.array(json.dumps(dataclasses.asdict(params))))
        texts = {  # streamed: the data table is formatted a chunk of rows at a time
            "model": iter_star(_model_blocks(model, particles, params, paths["classes"])),
            "data": iter_star({"optics": particles.optics,
                               "particles": data_table(particles, state, model)}),
            "sampling": iter_star({"sampling_general": _sampling_block(params, model, info,
                                                                        particles.pixel_a)}),
            "optimiser": itertools.chain(
                [f"# RELION optimiser; version 3.1.3\n# {info.command}\n"],
                iter_star({"optimiser_general": _optimiser_block(root, paths, params, model,
                                                                 info, particles.pixel_a)})),
        }
        for name, pieces in texts.items():
            with open(tmp[paths[name]], "w") as out:
                out.writelines(pieces)
    return paths


def data_table(particles: ParticleSet, state: ParticleState, model: Model) -> pd.DataFrame:
    """``data_particles``: the input columns, then RELION's refinement columns (§4.12)."""
    table = particles.table.copy()
    p = particles.pixel_a
    columns = {
        "rlnGroupNumber": particles.group + 1, "rlnAngleRot": np.zeros(particles.n),
        "rlnAngleTilt": np.zeros(particles.n), "rlnAnglePsi": state.psi_deg,
        "rlnOriginXAngst": state.offset_px[:, 1] * p, "rlnOriginYAngst": state.offset_px[:, 0] * p,
        "rlnClassNumber": np.maximum(state.class_index, 0) + 1,
        "rlnNormCorrection": state.norm_correction,
        "rlnLogLikeliContribution": state.log_likelihood,
        "rlnMaxValueProbDistribution": state.max_prob,
        "rlnNrOfSignificantSamples": state.n_significant.astype(np.int64)}
    for label, values in columns.items():
        table[label] = values
    return table


@functools.lru_cache(maxsize=64)
def _ball_shell_counts(maxres: int) -> np.ndarray:
    """Points of the cube ``[−(maxres−1), maxres−1]³`` per truncated radius ``⌊|k|⌋ ≤ maxres``."""
    axis = np.arange(-(maxres - 1), maxres, dtype=np.int64) ** 2
    plane = axis[:, None] + axis[None, :]
    counts = np.zeros(maxres + 1)
    for k2 in axis:  # one plane at a time: at most (n−1)² points in memory
        r = np.floor(np.sqrt(plane + k2)).astype(np.int64)
        counts += np.bincount(r[r <= maxres], minlength=maxres + 1)[:maxres + 1]
    return counts


def overall_completeness(ssnr: np.ndarray, completeness: np.ndarray) -> float:
    """A class's ``rlnOverallFourierCompleteness`` as RELION computes it.

    The shell completeness averaged over the points of a ball up to the estimated resolution
    (the last shell before the SSNR first drops below 1, counted from shell 0), weighing each
    shell by its points in a 3D cube of side 2·maxres − 1 (RELION uses the 3D form for 2D
    classes too). 0 when the SSNR is below 1 from shell 0 on (RELION divides 0 by 0 there).
    """
    below = np.flatnonzero(np.asarray(ssnr) < 1.0)
    maxres = int(below[0]) - 1 if len(below) else len(ssnr) - 1
    if maxres < 1:
        return 0.0
    counts = _ball_shell_counts(maxres)
    return float(np.dot(counts, np.asarray(completeness)[:maxres + 1]) / counts.sum())


def _per_class(values: np.ndarray, k: int) -> np.ndarray:
    """A per-class estimate, 0 before the first E-step has made one (as RELION's it000)."""
    return np.asarray(values, np.float64) if len(values) == k else np.zeros(k)


def _best(values: np.ndarray) -> float:
    """The optimiser's accuracy: the best (smallest) over classes; 999 before any estimate."""
    return float(np.min(values, initial=999.0))


def _model_blocks(model: Model, particles: ParticleSet, params: Class2DParams,
                  classes: Path) -> dict[str, object]:
    n, p, k = model.box_px, particles.pixel_a, model.n_classes
    shells = np.arange(n // 2 + 1)
    inv_res = shells / (n * p)
    ang = np.where(shells > 0, n * p / np.maximum(shells, 1), 999.0)
    blocks: dict[str, object] = {"model_general": {
        "rlnReferenceDimensionality": 2, "rlnDataDimensionality": 2, "rlnOriginalImageSize": n,
        "rlnCurrentResolution": float(n * p / max(model.resolution_shell, 1)),
        "rlnCurrentImageSize": int(model.image_size_used or model.current_size), "rlnPaddingFactor": 2.0,
        "rlnIsHelix": 0, "rlnFourierSpaceInterpolator": 1, "rlnMinRadiusNnInterpolation": 10,
        "rlnPixelSize": float(p), "rlnNrClasses": k, "rlnNrBodies": 1,
        "rlnNrGroups": len(particles.group_names), "rlnTau2FudgeFactor": float(params.tau2_fudge),
        "rlnNormCorrectionAverage": float(model.avg_norm),
        "rlnSigmaOffsetsAngst": float(model.sigma_offset_px * p), "rlnOrientationalPriorMode": 0,
        "rlnSigmaPriorRotAngle": 0.0, "rlnSigmaPriorTiltAngle": 0.0,
        "rlnSigmaPriorPsiAngle": 0.0, "rlnLogLikelihood": float(model.log_likelihood),
        "rlnAveragePmax": float(model.ave_pmax)}}
    blocks["model_classes"] = pd.DataFrame({
        "rlnReferenceImage": [f"{i + 1:06d}@{classes}" for i in range(k)],
        "rlnClassDistribution": model.pdf_class,
        "rlnAccuracyRotations": _per_class(model.acc_rot_deg, k),
        "rlnAccuracyTranslationsAngst": _per_class(model.acc_trans_a, k),
        "rlnEstimatedResolution": model.resolution_a,
        "rlnOverallFourierCompleteness": [overall_completeness(model.ssnr[i],
                                                               model.completeness[i])
                                          for i in range(k)],
        "rlnClassPriorOffsetX": model.prior_offset_px[:, 1] * p,
        "rlnClassPriorOffsetY": model.prior_offset_px[:, 0] * p})
    for i in range(k):
        blocks[f"model_class_{i + 1}"] = pd.DataFrame({
            "rlnSpectralIndex": shells, "rlnResolution": inv_res, "rlnAngstromResolution": ang,
            "rlnSsnrMap": model.ssnr[i], "rlnGoldStandardFsc": np.zeros(len(shells)),
            "rlnFourierCompleteness": model.completeness[i],
            "rlnReferenceSigma2": model.ref_sigma2[i], "rlnReferenceTau2": model.tau2[i],
            "rlnSpectralOrientabilityContribution": np.zeros(len(shells))})
    blocks["model_groups"] = pd.DataFrame({
        "rlnGroupNumber": np.arange(1, len(particles.group_names) + 1),
        "rlnGroupName": particles.group_names,
        "rlnGroupNrParticles": np.bincount(particles.group, minlength=len(model.scale)),
        "rlnGroupScaleCorrection": model.scale})
    for g in range(len(particles.group_names)):
        blocks[f"model_group_{g + 1}"] = pd.DataFrame({
            "rlnSpectralIndex": shells, "rlnResolution": inv_res, "rlnSigma2Noise": model.sigma2[g]})
    return blocks


def _sampling_block(params: Class2DParams, model: Model, info: IterationInfo,
                    pixel: float) -> dict[str, object]:
    return {"rlnIs3DSampling": 0, "rlnIs3DTranslationalSampling": 0,
            "rlnPsiStep": float(params.psi_step_deg),
            "rlnOffsetRange": float(params.offset_range_px * pixel),
            "rlnOffsetStep": float(params.offset_step_px * pixel), "rlnHelicalOffsetStep": -1.0,
            "rlnSamplingPerturbInstance": float(model.perturb),
            "rlnSamplingPerturbFactor": float(params.perturb), "rlnHealpixOrderOriginal": 2,
            "rlnPsiStepOriginal": float(params.psi_step_deg),
            "rlnOffsetRangeOriginal": float(params.offset_range_px * pixel),
            "rlnOffsetStepOriginal": float(params.offset_step_px * pixel)}


def _optimiser_block(root: str, paths: dict[str, Path], params: Class2DParams, model: Model,
                     info: IterationInfo, pixel: float) -> dict[str, object]:
    """``data_optimiser_general`` with every field relion_refine 3.1 reads on ``--continue``."""
    changes = info.changes
    fields: dict[str, object] = {
        "rlnOutputRootName": root, "rlnModelStarFile": str(paths["model"]),
        "rlnExperimentalDataStarFile": str(paths["data"]),
        "rlnOrientSamplingStarFile": str(paths["sampling"]),
        "rlnCurrentIteration": info.iteration, "rlnNumberOfIterations": params.n_iter,
        "rlnDoSplitRandomHalves": 0, "rlnJoinHalvesUntilThisResolution": -1.0,
        "rlnAdaptiveOversampleOrder": params.oversampling,
        "rlnAdaptiveOversampleFraction": params.adaptive_fraction,
        "rlnRandomSeed": params.random_seed, "rlnParticleDiameter": params.particle_diameter_a,
        "rlnWidthMaskEdge": int(params.mask_edge_px), "rlnDoZeroMask": int(params.zero_mask),
        "rlnDoSolventFlattening": int(params.flatten_solvent), "rlnDoSolventFscCorrection": 0,
        "rlnSolventMaskName": "None", "rlnSolventMask2Name": "None", "rlnBodyStarFile": "None",
        "rlnTauSpectrumName": "None", "rlnMaximumCoarseImageSize": -1,
        "rlnHighresLimitExpectation": params.strict_highres_exp_a,
        "rlnLowresLimitExpectation": -1.0, "rlnIncrementImageSize": params.incr_size,
        "rlnDoMapEstimation": 1, "rlnDoFastSubsetOptimisation": int(params.fast_subsets),
        "rlnDoExternalReconstruct": 0, "rlnDoStochasticGradientDescent": 0,
        "rlnDoStochasticEM": 0, "rlnSgdInitialIterations": 50, "rlnSgdFinalIterations": 50,
        "rlnSgdInBetweenIterations": 200, "rlnSgdInitialResolution": 35.0,
        "rlnSgdFinalResolution": 15.0, "rlnSgdInitialSubsetSize": 100,
        "rlnSgdFinalSubsetSize": 500, "rlnSgdMuFactor": 0.0, "rlnSgdSigma2FudgeInitial": 8.0,
        "rlnSgdSigma2FudgeHalflife": -1, "rlnSgdSkipAnneal": 0, "rlnSgdSubsetSize": -1,
        "rlnSgdWriteEverySubset": 1, "rlnSgdStepsize": 0.5, "rlnDoAutoRefine": 0,
        "rlnAutoLocalSearchesHealpixOrder": 4, "rlnNumberOfIterWithoutResolutionGain": 0,
        "rlnBestResolutionThusFar": float(model.resolution_shell / (model.box_px * pixel)),
        "rlnNumberOfIterWithoutChangingAssignments": 0, "rlnDoSkipAlign": 0,
        "rlnDoSkipRotate": 0,
        "rlnOverallAccuracyRotations": _best(model.acc_rot_deg),
        "rlnOverallAccuracyTranslationsAngst": _best(model.acc_trans_a),
        "rlnChangesOptimalOrientations": float(changes.get("orientations", 999.0)),
        "rlnChangesOptimalOffsets": float(changes.get("offsets", 999.0)),
        "rlnChangesOptimalClasses": float(changes.get("classes", 1.0)),
        "rlnSmallestChangesOrientations": float(changes.get("orientations", 999.0)),
        "rlnSmallestChangesOffsets": float(changes.get("offsets", 999.0)),
        "rlnSmallestChangesClasses": int(changes.get("classes_count", 0)),
        "rlnLocalSymmetryFile": "None", "rlnDoHelicalRefine": 0, "rlnIgnoreHelicalSymmetry": 0,
        "rlnFourierMask": "None", "rlnHelicalTwistInitial": 0.0, "rlnHelicalRiseInitial": 0.0,
        "rlnHelicalCentralProportion": 0.3, "rlnNrHelicalNStart": 1,
        "rlnHelicalMaskTubeInnerDiameter": -1.0, "rlnHelicalMaskTubeOuterDiameter": -1.0,
        "rlnHelicalSymmetryLocalRefinement": 0, "rlnHelicalSigmaDistance": -1.0,
        "rlnHelicalKeepTiltPriorFixed": 0, "rlnHasConverged": 0, "rlnHasHighFscAtResolLimit": 0,
        "rlnHasLargeSizeIncreaseIterationsAgo": 0, "rlnDoCorrectNorm": int(params.norm),
        "rlnDoCorrectScale": int(params.scale), "rlnDoCorrectCtf": int(params.ctf),
        "rlnDoIgnoreCtfUntilFirstPeak": int(params.ctf_intact_first_peak),
        "rlnCtfDataArePhaseFlipped": 0, "rlnDoOnlyFlipCtfPhases": 0,
        "rlnRefsAreCtfCorrected": int(model.refs_ctf_corrected),
        "rlnFixSigmaNoiseEstimates": 0, "rlnFixSigmaOffsetEstimates": 0,
        "rlnMaxNumberOfPooledParticles": 1}
    return fields


def read_state(optimiser_star: str | os.PathLike[str]
               ) -> tuple[dict[str, object], Model, ParticleState, dict[str, np.ndarray]]:
    """Read an iteration for ``--continue``: optimiser fields (plus ``params``: the options of
    that run as a dict), model, particle state, history.

    The exact state comes from the ``_cryopick.npz`` written beside the optimiser STAR.
    """
    path = Path(optimiser_star)
    blocks = read_star(path)
    if "optimiser_general" not in blocks:
        raise InputError(f"{path}: no data_optimiser_general block (not an _optimiser.star)")
    general = blocks["optimiser_general"].iloc[0].to_dict()
    state_path = path.with_name(path.name.replace("_optimiser.star", "_cryopick.npz"))
    if not state_path.is_file():
        raise InputError(f"{path}: {state_path.name} not found beside it; cryopick continues "
                         "only its own runs (it keeps the exact state there)")
    with np.load(state_path) as saved:
        arrays = {key: saved[key] for key in saved.files}
    model = Model.from_arrays(arrays)
    state = ParticleState.from_arrays(arrays)
    history = {key[2:]: value for key, value in arrays.items() if key.startswith("h_")}
    general["params"] = json.loads(str(arrays["params_json"]))
    return general, model, state, history
