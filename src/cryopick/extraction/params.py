"""Options of particle extraction (``relion_preprocess --extract``) and their checks."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping

from cryopick.errors import InputError

__all__ = ["ExtractParams", "gui_bg_radius", "params_from_config"]

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class ExtractParams:
    """What happens to every particle; defaults are relion_preprocess's command-line defaults.

    Sizes are in pixels: ``box_size_px`` of the micrograph, ``rescaled_size_px`` and
    ``bg_radius_px`` of the final (rescaled) particle image.
    """

    box_size_px: int  # --extract_size (even)
    rescaled_size_px: int | None = None  # --scale (None: no rescaling; odd → next even)
    normalise: bool = False  # --norm
    bg_radius_px: int = -1  # --bg_radius, in final pixels; background is r > radius
    white_dust: float = -1.0  # --white_dust (σ; ≤ 0: off)
    black_dust: float = -1.0  # --black_dust (σ; ≤ 0: off)
    ramp: bool = True  # off with --no_ramp
    invert_contrast: bool = False  # --invert_contrast
    random_seed: int = 1  # dust replacement noise: seeded per micrograph from this

    def __post_init__(self) -> None:
        """Reject what relion_preprocess rejects; bump an odd rescaled size as it does."""
        if int(self.box_size_px) != self.box_size_px or self.box_size_px < 2:
            raise InputError(f"--extract_size must be a positive even number of pixels, "
                             f"got {self.box_size_px}")
        if self.box_size_px % 2:
            raise InputError(f"--extract_size {self.box_size_px}: only even box sizes are "
                             "allowed (as in RELION)")
        size = self.rescaled_size_px
        if size is not None and (int(size) != size or size < 2):
            raise InputError(f"--scale must be a positive even number of pixels, got {size}")
        if size is not None and size % 2:
            logger.warning("--scale %d: only even sizes are allowed; using %d (as RELION does)",
                           size, size + 1)
            object.__setattr__(self, "rescaled_size_px", int(size) + 1)
        if self.normalise:
            self._check_bg_radius()

    def _check_bg_radius(self) -> None:
        if self.bg_radius_px < 0:
            raise InputError("--norm needs --bg_radius: the radius (in final pixels) of the "
                             "circle outside which the background is measured")
        if 2 * self.bg_radius_px > self.final_size_px:
            raise InputError(f"--bg_radius {self.bg_radius_px}: 2 × radius is larger than the "
                             f"particle image ({self.final_size_px} px)")

    @property
    def final_size_px(self) -> int:
        """Side of the written particle images (pixels)."""
        return int(self.rescaled_size_px or self.box_size_px)

    @property
    def rescale(self) -> bool:
        """Whether particles are Fourier-rescaled (a --scale different from the box)."""
        return self.final_size_px != self.box_size_px

    @property
    def remove_dust(self) -> bool:
        """Whether dust removal runs (white or black threshold positive)."""
        return self.white_dust > 0 or self.black_dust > 0

    def output_pixel_size(self, micrograph_pixel_a: float) -> float:
        """Pixel size (Å) of the extracted particles: micrograph pixel × box / final size."""
        return micrograph_pixel_a * self.box_size_px / self.final_size_px


def gui_bg_radius(bg_diameter_px: float, box_size_px: int, rescaled_size_px: int | None) -> int:
    """``--bg_radius`` as RELION's GUI computes it from "Diameter background circle (pix)".

    The diameter is in pixels of the original box (negative: 75 % of the box); halved, scaled
    by rescaled/box when rescaling, then truncated. Tutorial: 200 px, box 256 → 64: 25.
    """
    diameter = 0.75 * box_size_px if bg_diameter_px < 0 else float(bg_diameter_px)
    radius = diameter / 2.0
    if rescaled_size_px is not None:
        radius = radius * rescaled_size_px / box_size_px
    return int(radius)


_CONFIG_KEYS = {"box_size_px", "rescale", "rescaled_size_px", "invert_contrast", "normalise",
                "bg_diameter_px", "white_dust", "black_dust"}


def params_from_config(config: Mapping[str, object]) -> ExtractParams:
    """Options from the workflow's ``extract`` config section (GUI-style keys).

    Keys: ``box_size_px``, ``rescale`` (bool), ``rescaled_size_px``, ``invert_contrast``,
    ``normalise``, ``bg_diameter_px`` (original-box pixels; negative: 75 % of the box),
    ``white_dust``, ``black_dust``; optional ``ramp`` and ``random_seed``.
    """
    unknown = set(config) - _CONFIG_KEYS - {"ramp", "random_seed"}
    if unknown:
        raise InputError(f"extract config: unknown key(s) {', '.join(sorted(unknown))}")
    box = int(config["box_size_px"])
    # an odd size enters the radius as typed (as in the GUI); ExtractParams then bumps it
    size = int(config["rescaled_size_px"]) if config.get("rescale") else None
    normalise = bool(config.get("normalise", True))
    radius = gui_bg_radius(float(config.get("bg_diameter_px", -1)), box, size)
    return ExtractParams(
        box_size_px=box, rescaled_size_px=size, normalise=normalise,
        bg_radius_px=radius if normalise else -1,
        white_dust=float(config.get("white_dust", -1)),
        black_dust=float(config.get("black_dust", -1)),
        ramp=bool(config.get("ramp", True)),
        invert_contrast=bool(config.get("invert_contrast", True)),
        random_seed=int(config.get("random_seed", 1)))
