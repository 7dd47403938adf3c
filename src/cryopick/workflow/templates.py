"""The workflow's template-selection stage, hands-free: choose, and never end in a dead end.

Classes listed in the config are taken as given. Otherwise the classes of the 2D
classification are judged (:func:`cryopick.classification.class_selection.choose_classes`); when none looks
like a particle view the stage does not stop:

1. when one class took nearly every particle (a collapsed classification: strong
   low-resolution junk, CTF-corrected, pulls every particle into one fuzzy class), it
   classifies the same particles again with the CTFs ignored until their first peak, the
   tutorial's remedy, and template picking then does the same. The 2D job itself does this
   as soon as one class holds ``class2d.rerun_when_collapsed`` of the particles
   (:func:`cryopick.workflow.class2d.run_class2d_stage`); here it is done for a run that
   ended collapsed below that share, and picking follows whichever classification ignored
   the CTFs (:func:`ignored_ctf_first_peak`);
2. it classifies again the most confident LoG picks (the top of the LoG figure-of-merit
   distribution, where contamination and empty ice are rarest) and judges those classes;
3. failing that, it writes one blob template of the particle diameter (a soft-edged disc,
   particles white), which template picking turns into a round-particle picker.

What ran and why goes to the log, the job's ``note.txt`` and ``templates.png``.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from cryopick.classification.class_features import ClassGeometry
from cryopick.classification.class_selection import COLLAPSED, ClassChoice, NoTemplateError, \
    SelectionCriteria, choose_classes, class_pmax, read_class_averages, write_templates
from cryopick.errors import InputError
from cryopick.io.mrc import write_mrc
from cryopick.io.star import read_star, write_star

__all__ = ["TemplateStage", "blob_template", "confident_subset", "ignored_ctf_first_peak",
           "select_templates_stage"]

logger = logging.getLogger(__name__)

CONFIDENT_FRACTION = 0.5  # the retry classifies this top share of the LoG picks by FOM ...
MIN_RETRY_PARTICLES = 100  # ... and needs at least this many particles


@dataclasses.dataclass(frozen=True)
class TemplateStage:
    """Inputs and outputs of the stage (paths), and how to run a retry classification."""

    model_star: str
    particles_star: str  # the LoG particles the classification saw
    out_star: str
    gallery_png: str
    particle_diameter_a: float
    mask_diameter_a: float
    class2d: Mapping[str, object]  # the class2d config section (for the retry)
    backend: str = "numpy"
    threads: int = 1
    decisions_txt: str | None = None  # the decisions and every class's verdict, as text


def criteria_from_config(opts: Mapping[str, object]) -> SelectionCriteria:
    """:class:`SelectionCriteria` from the config's ``select_templates`` section."""
    from cryopick.classification.class_features import FeatureLimits

    limit_names = {f.name for f in dataclasses.fields(FeatureLimits)}
    limits = FeatureLimits(**{k: float(v) for k, v in opts.items() if k in limit_names})
    return SelectionCriteria(
        n_templates=int(opts["n_templates"]), min_distribution=float(opts["min_distribution"]),
        max_resolution_a=float(opts["max_resolution_a"]),
        max_similarity=float(opts["max_similarity"]), diversity=float(opts.get("diversity", 0.0)),
        min_pmax_fraction=float(opts["min_pmax_fraction"]),
        max_class_share=float(opts.get("max_class_share", 0.8)),
        min_contrast_fraction=float(opts.get("min_contrast_fraction", 0.5)),
        species_similarity=float(opts.get("species_similarity", 0.4)),
        max_contrast_ratio=float(opts.get("max_contrast_ratio", 4.0)), limits=limits)


def _judge(model_star: str, stage: TemplateStage, criteria: SelectionCriteria,
           classes: list[int] | None):
    table, images, pixel = read_class_averages(model_star)
    data_star = model_star.replace("_model.star", "_data.star")
    pmax = class_pmax(data_star) if Path(data_star).is_file() else None
    geometry = ClassGeometry(pixel, stage.mask_diameter_a / (2 * pixel),
                             stage.particle_diameter_a / (2 * pixel))
    try:
        return table, images, pixel, choose_classes(table, images, criteria, geometry,
                                                    classes, pmax)
    except NoTemplateError as err:
        return table, images, pixel, err.choice


def confident_subset(particles_star: str | os.PathLike[str], out_star: str | os.PathLike[str],
                     fraction: float = CONFIDENT_FRACTION,
                     minimum: int = MIN_RETRY_PARTICLES) -> int:
    """Write the particles whose LoG FOM is in the top ``fraction`` (at least ``minimum``)."""
    blocks = read_star(particles_star)
    particles = blocks.get("particles")
    if particles is None or "rlnAutopickFigureOfMerit" not in particles:
        raise InputError(f"{particles_star}: needs data_particles with rlnAutopickFigureOfMerit")
    keep = min(len(particles), max(minimum, int(math.ceil(fraction * len(particles)))))
    order = np.argsort(-particles["rlnAutopickFigureOfMerit"].to_numpy(float), kind="stable")
    subset = particles.iloc[np.sort(order[:keep])]
    write_star(out_star, {"optics": blocks["optics"], "particles": subset})
    return keep


def blob_template(diameter_a: float, pixel_a: float, box_px: int) -> np.ndarray:
    """A soft-edged disc of ``diameter_a`` (white on zero), ``(box_px, box_px)`` float32."""
    y, x = np.mgrid[:box_px, :box_px] - box_px // 2
    radius_px = min(diameter_a / (2 * pixel_a), 0.45 * box_px)
    edge_px = max(1.0, 0.08 * radius_px)
    return (1.0 / (1.0 + np.exp((np.hypot(y, x) - radius_px) / edge_px))).astype(np.float32)


def _retry_confident(stage: TemplateStage, decisions: list[str]) -> str | None:
    """Classify the most confident LoG picks again (the model to judge, or None)."""
    folder = Path(stage.out_star).parent / "retry"
    subset = str(folder / "particles.star")
    n = confident_subset(stage.particles_star, subset)
    if n < 2 * 4:
        decisions.append(f"retry skipped: only {n} LoG particles")
        return None
    decisions.append(f"retry: 2D classification of the {n} LoG particles with the highest "
                     f"FOM ({folder}/)")
    return _classify(stage, subset, {**stage.class2d, "n_classes": "auto"}, folder, decisions)


def _retry_first_peak(stage: TemplateStage, decisions: list[str]) -> str | None:
    """Classify the same particles again ignoring the CTFs until their first peak."""
    folder = Path(stage.out_star).parent / "retry_first_peak"
    decisions.append("retry: 2D classification of the same particles ignoring the CTFs until "
                     "their first peak (RELION's remedy when every particle falls into one "
                     f"fuzzy class; {folder}/); template picking then does the same")
    cfg = {**stage.class2d, "ctf_intact_first_peak": True}
    return _classify(stage, stage.particles_star, cfg, folder, decisions)


def _classify(stage: TemplateStage, particles_star: str, cfg: Mapping[str, object],
              folder: Path, decisions: list[str]) -> str:
    from cryopick.workflow.class2d import run_class2d_stage

    logger.info("%s", decisions[-1])
    model = str(folder / f"run_it{int(cfg['n_iter']):03d}_model.star")
    run_class2d_stage(particles_star, cfg, stage.backend, model, str(folder / "classes.png"),
                      str(folder / "convergence.png"), threads=stage.threads,
                      decisions=decisions)
    return model


def ignored_ctf_first_peak(model_star: str) -> bool:
    """Whether the classification of ``model_star`` ignored the CTFs until their first peak
    (``rlnDoIgnoreCtfUntilFirstPeak`` of its ``_optimiser.star``; False without one)."""
    optimiser = Path(model_star.replace("_model.star", "_optimiser.star"))
    general = read_star(optimiser).get("optimiser_general") if optimiser.is_file() else None
    return general is not None and bool(int(general["rlnDoIgnoreCtfUntilFirstPeak"].iloc[0]))


def _retries(stage: TemplateStage, choice: ClassChoice) -> list:
    """The retry classifications to try, in order: after a collapsed classification with
    full CTF correction, the same particles with the CTFs ignored until their first peak;
    then the most confident picks."""
    collapsed = (choice.table["reason"] == COLLAPSED).any()
    retries = []
    if collapsed and stage.class2d.get("ctf", False) \
            and not ignored_ctf_first_peak(stage.model_star):
        retries.append(_retry_first_peak)
    return [*retries, _retry_confident]


def _picking_settings(stage: TemplateStage, source: str, decisions: list[str]) -> dict:
    """``ctf_intact_first_peak`` for template picking when the templates' classification
    ignored the CTFs until their first peak and the config did not ask for it (a retry)."""
    if stage.class2d.get("ctf_intact_first_peak", False) or not ignored_ctf_first_peak(source):
        return {}
    decisions.append(f"{source} ignored the CTFs until their first peak (the CTF-corrected "
                     "classification collapsed); template picking does the same")
    return {"ctf_intact_first_peak": True}


def select_templates_stage(stage: TemplateStage, opts: Mapping[str, object]
                           ) -> tuple[list[str], dict]:
    """Choose and write the templates; returns the decisions, one line each, and the
    template-picking settings the choice implies (``ctf_intact_first_peak`` when the
    templates come from a classification that ignored the CTFs until their first peak)."""
    criteria = criteria_from_config(opts)
    classes = list(opts.get("classes") or []) or None
    decisions: list[str] = []
    table, images, pixel, choice = _judge(stage.model_star, stage, criteria, classes)
    source = stage.model_star
    if not choice.table["chosen"].any():
        decisions.append(f"no particle-like class in {stage.model_star}: "
                         + _reasons(choice))
        logger.warning("%s", decisions[-1])
        for retry in _retries(stage, choice):
            retry_model = retry(stage, decisions)
            if retry_model is None:
                continue
            judged = _judge(retry_model, stage, criteria, None)
            if judged[3].table["chosen"].any():
                table, images, pixel, choice = judged
                source = retry_model
                break
            decisions.append("retry: no particle-like class either: " + _reasons(judged[3]))
    picking: dict = {}
    if choice.table["chosen"].any():
        write_templates(table, images, choice, pixel, stage.out_star, bool(opts["recenter"]))
        picking = _picking_settings(stage, source, decisions)
        chosen = choice.table.loc[choice.table["chosen"], "rlnClassNumber"].tolist()
        decisions.append(f"templates: classes {', '.join(map(str, chosen))} of {source}")
    else:
        _write_blob(stage, pixel, images.shape[-1], decisions)
    _gallery(images, choice, stage.gallery_png, decisions[-1])
    if stage.decisions_txt:
        _write_decisions(stage.decisions_txt, decisions, choice, source)
    return decisions, picking


def _write_decisions(path: str, decisions: list[str], choice: ClassChoice, source: str) -> None:
    """The decisions, then one row per class of ``source``: figures and verdict."""
    from cryopick.errors import atomic_output

    columns = ["rlnClassNumber", "rlnClassDistribution", "rlnEstimatedResolution", "pmax",
               "snr", "scattered", "edge", "offcentre", "anisotropy", "radial_dip", "plateau",
               "chosen", "reason"]
    table = choice.table[columns].sort_values("rlnClassDistribution", ascending=False)
    with atomic_output(path) as tmp:
        tmp.write_text("\n".join(["Template selection, automatic decisions:", *decisions, "",
                                   f"Classes of {source}:",
                                   table.to_string(index=False, float_format="%.3g"), ""]))


def _reasons(choice: ClassChoice) -> str:
    counts = choice.table["reason"].value_counts()
    return "; ".join(f"{n} × {reason}" for reason, n in counts.items())


def _write_blob(stage: TemplateStage, pixel: float, box_px: int, decisions: list[str]) -> None:
    """Fallback: one blob template of the particle diameter."""
    out = Path(stage.out_star)
    stack = out.with_suffix(".mrcs")
    write_mrc(stack, blob_template(stage.particle_diameter_a, pixel, box_px)[None], pixel,
              stack=True)
    write_star(out, {"": pd.DataFrame({"rlnReferenceImage": [f"000001@{stack}"],
                                        "rlnClassNumber": [0]})})
    decisions.append(f"fallback: one blob template of the particle diameter "
                     f"({stage.particle_diameter_a:g} Å): no class looked like a particle")
    logger.warning("%s", decisions[-1])


def _gallery(images: np.ndarray, choice: ClassChoice, out_png: str, headline: str) -> None:
    from cryopick.classification.plots import plot_gallery

    t = choice.table
    order = t.sort_values("rlnClassDistribution", ascending=False).index
    order = [i for i in order if t.loc[i, "rlnClassDistribution"] > 0] or list(order[:1])
    captions = [f"{int(r.rlnClassNumber)}: {r.rlnClassDistribution:.1%} "
                f"{r.rlnEstimatedResolution:.0f}Å" + ("" if np.isnan(r.pmax) else
                                                      f" Pmax {r.pmax:.2f}")
                + f"\n{_wrap(r.reason)}" for r in t.loc[order].itertuples()]
    plot_gallery(images[order], captions, t.loc[order, "chosen"].to_numpy(),
                 f"{headline}\nClass averages by distribution; chosen templates framed in red",
                 out_png)


def _wrap(text: str, width: int = 28) -> str:
    words, lines = text.split(), [""]
    for word in words:
        if lines[-1] and len(lines[-1]) + len(word) > width:
            lines.append("")
        lines[-1] = f"{lines[-1]} {word}".strip()
    return "\n".join(lines)
