"""2D references for template picking: reading, mask diameter, rescaling, masking (RELION §6.1)."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import mrcfile
import numpy as np

from cryopick.backend import get_backend
from cryopick.errors import InputError
from cryopick.fourier import forward, fourier_window, inverse, relion_round
from cryopick.io.loop import read_star_loops
from cryopick.io.mrc import read_image_stack, read_mrc_header_pixel_size

__all__ = ["TemplateSet", "auto_mask_diameter", "prepare_templates", "read_references"]

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class TemplateSet:
    """References ready for picking, at the micrograph's pixel size."""

    images: np.ndarray  # (n_ref, box, box) float32, masked (and inverted if asked)
    box_px: int  # RELION's particle_size
    radius2_px: int  # squared radius of the particle disc (px²)
    n_inside: int  # pixels with i² + j² < radius2
    diameter_a: float  # mask diameter used (Å)


def _is_volume(path: Path) -> bool:
    """A ``.mrc`` file with more than one section: a 3D map, as RELION reads it (it goes by
    the extension: ``.mrcs`` is a stack, ``.mrc`` a volume whatever its space group)."""
    if path.suffix != ".mrc" or not path.is_file():
        return False
    try:
        with mrcfile.open(path, header_only=True, permissive=True) as mrc:
            return int(mrc.header.nz) > 1
    except (ValueError, OSError):
        return False


def read_references(path: str, angpix_ref: float, micrograph_pixel_a: float,
                    healpix_order: int = 1, symmetry: str = "C1") -> tuple[np.ndarray, float]:
    """Read references: a STAR file (rlnReferenceImage / rlnImageName), an MRC stack, or a
    3D map (``.mrc``) projected along the directions of a HEALPix order.

    Returns ``(stack (n, box, box), pixel size in Å)``. The pixel size is ``angpix_ref`` if
    positive; else, for STAR input and 3D maps, the MRC header; for a stack, the micrograph's
    (as RELION assumes).
    """
    file = Path(path)
    if _is_volume(file):
        from cryopick.picking.projection import references_from_volume

        volume = read_image_stack(file)
        stack = references_from_volume(volume, healpix_order, symmetry)
        pixel = angpix_ref if angpix_ref > 0 else read_mrc_header_pixel_size(file)
        if not pixel > 0:
            raise InputError(f"{file}: the map's header has no pixel size; give --angpix_ref")
        logger.info("%s: %d projections (HEALPix order %d, %s)", file, len(stack),
                    healpix_order, symmetry)
    elif file.suffix == ".star":
        table = next(iter(read_star_loops(file).values()))  # pandas-free: ~0.2 s less
        label = "rlnReferenceImage" if "rlnReferenceImage" in table else "rlnImageName"
        if label not in table:
            raise InputError(f"{file}: needs rlnReferenceImage or rlnImageName")
        images, first_file = [], None
        cache: dict[str, np.ndarray] = {}
        for entry in table[label].astype(str):
            index, _, name = entry.rpartition("@")
            first_file = first_file or name
            if name not in cache:
                cache[name] = read_image_stack(name)
            stack = cache[name]
            k = int(index) - 1 if index else 0
            if not 0 <= k < len(stack):
                raise InputError(f"{file}: {entry} points past the end of {name} ({len(stack)})")
            images.append(stack[k])
        if not images:
            raise InputError(f"{file}: no reference images listed")
        stack = np.stack(images)
        pixel = angpix_ref if angpix_ref > 0 else read_mrc_header_pixel_size(first_file)
        if not pixel > 0:
            raise InputError(f"{file}: the references' MRC header has no pixel size; "
                             "give --angpix_ref")
    else:
        stack = read_image_stack(file)
        pixel = angpix_ref if angpix_ref > 0 else micrograph_pixel_a
    if len(stack) == 0:
        raise InputError(f"{file}: no reference images")
    if stack.shape[1] != stack.shape[2] or stack.shape[1] % 2:
        raise InputError(f"{file}: references must be square with an even box, "
                         f"got {stack.shape[1]}×{stack.shape[2]}")
    return stack.astype(np.float32), float(pixel)


def auto_mask_diameter(stack: np.ndarray, pixel_a: float) -> float:
    """Mask diameter (Å) measured on the central row of each reference, averaged.

    Along the row through the centre, the run of values differing from the corner value by
    more than 1e-6 is the inside of the mask that the 2D classification applied.
    """
    widths = []
    for image in stack:
        row = image[image.shape[0] // 2]
        differs = np.abs(row - image[0, 0]) > 1e-6
        if not differs.any():
            continue
        first = int(np.argmax(differs))
        back = np.flatnonzero(~differs[first:])
        last = first + (int(back[0]) - 1 if len(back) else len(row) - 1 - first)
        widths.append(last - first)
    if not widths:
        raise InputError("cannot measure the mask diameter of the references (constant "
                         "images?); give --particle_diameter")
    return float(np.mean(widths)) * pixel_a


def _rescale(stack: np.ndarray, pixel_ref: float, pixel_mic: float) -> np.ndarray:
    """Fourier-rescale references to the micrograph pixel size (RELION's box rounding)."""
    n = stack.shape[1]
    new = 2 * relion_round(n / 2 * pixel_ref / pixel_mic)
    bk = get_backend("numpy")
    out = inverse(fourier_window(forward(bk.asarray(stack)), n, new), (new, new))
    if new > n:  # keep the noise level of down-scaled particles comparable
        out = out * (n / new)
    return np.asarray(out, dtype=np.float32)


def prepare_templates(path: str, micrograph_pixel_a: float, angpix_ref: float = -1.0,
                      particle_diameter_a: float = -1.0, invert: bool = False,
                      shrink_particle_mask: int = 2, healpix_order: int = 1,
                      symmetry: str = "C1") -> TemplateSet:
    """References as RELION's picker uses them: rescaled, (inverted), hard-masked disc."""
    stack, pixel_ref = read_references(path, angpix_ref, micrograph_pixel_a, healpix_order,
                                       symmetry)
    diameter = particle_diameter_a if particle_diameter_a > 0 else \
        auto_mask_diameter(stack, pixel_ref)
    if abs(pixel_ref - micrograph_pixel_a) > 1e-3:
        stack = _rescale(stack, pixel_ref, micrograph_pixel_a)
    box = stack.shape[1]
    if diameter > box * micrograph_pixel_a:
        raise InputError(f"{path}: mask diameter {diameter:.1f} Å is larger than the reference "
                         f"box ({box} px × {micrograph_pixel_a} Å)")
    radius = relion_round(diameter / (2 * micrograph_pixel_a)) - shrink_particle_mask
    radius2 = radius * radius
    logical = np.arange(box) - box // 2
    inside = (logical[:, None] ** 2 + logical[None, :] ** 2) < radius2
    images = stack * inside * (-1.0 if invert else 1.0)
    logger.info("%d reference(s): box %d px at %.3f Å/px, mask diameter %.1f Å",
                len(images), box, micrograph_pixel_a, diameter)
    return TemplateSet(images.astype(np.float32), box, radius2, int(inside.sum()), diameter)
