"""Where a finished run's results are, for the review page (light: the workflow reads it when
it starts)."""

from __future__ import annotations

import dataclasses

__all__ = ["ReviewInputs"]


@dataclasses.dataclass(frozen=True)
class ReviewInputs:
    """Where a run's results are (paths relative to the project folder)."""

    micrographs_star: str  # the micrograph STAR the run started from
    log_dir: str  # LoG picking job folder, e.g. "AutoPick/LoG/"
    template_dir: str  # the final template-picking job folder, e.g. "AutoPick/template/"
    templates_dir: str  # template selection job folder, e.g. "Select/templates4autopick/"
    particle_diameter_a: float  # the circles' diameter
    pickname: str = "autopick"

    @classmethod
    def from_config(cls, config: dict, micrographs_star: str) -> ReviewInputs:
        """From the workflow config (``aliases``, the particle diameter
        ``autopick_log.diameter_max_a``) and the micrograph STAR the run started from (the
        simulated one for ``micrographs_star: demo``)."""
        alias = config["aliases"]
        return cls(micrographs_star=micrographs_star,
                   log_dir=f"{alias['autopick_log']}/",
                   template_dir=f"{alias['autopick_template']}/",
                   templates_dir=f"{alias['select_templates']}/",
                   particle_diameter_a=float(config["autopick_log"]["diameter_max_a"]))
