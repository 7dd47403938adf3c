"""Particle extraction, numerically as ``relion_preprocess --extract`` (RELION 3.1).

Per micrograph, in RELION's order: boxes cut at the truncated coordinates with edge
replication, Fourier rescaling, normalisation (dust removal, background ramp, background
mean 0 / std 1 outside a circle), contrast inversion. All boxes of a micrograph are one
``(n, B, B)`` stack processed with batched FFTs on the configured backend; micrographs are
streamed one at a time per worker.
"""

from cryopick.extraction.coords import (
    CoordinateFiles,
    CoordinateList,
    Reextraction,
    coordinate_files_from_suffix_file,
    coordinate_source,
    read_reextraction,
)
from cryopick.extraction.job import (
    ExtractJob,
    extract_micrograph,
    extract_star_path,
    run_extraction,
    stack_path,
)
from cryopick.extraction.kernels import (
    box_corners,
    cut_boxes,
    normalise_boxes,
    process_boxes,
    rescale_boxes,
)
from cryopick.extraction.params import ExtractParams, gui_bg_radius, params_from_config

__all__ = [
    "CoordinateFiles",
    "CoordinateList",
    "ExtractJob",
    "ExtractParams",
    "Reextraction",
    "box_corners",
    "coordinate_files_from_suffix_file",
    "coordinate_source",
    "cut_boxes",
    "extract_micrograph",
    "extract_star_path",
    "gui_bg_radius",
    "normalise_boxes",
    "params_from_config",
    "process_boxes",
    "read_reextraction",
    "rescale_boxes",
    "run_extraction",
    "stack_path",
]
