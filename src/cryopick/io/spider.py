"""SPIDER images, the format of RELION's figure-of-merit maps (``*.spi``)."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from cryopick.errors import InputError, atomic_output

__all__ = ["read_spider", "write_spider"]

# 1-based header word numbers of the SPIDER format
_NSLICE, _NROW, _IREC, _IFORM, _IMAMI, _FMAX, _FMIN, _AV, _SIG = 1, 2, 3, 5, 6, 7, 8, 9, 10
_NSAM, _LABREC, _LABBYT, _LENBYT = 12, 13, 22, 23


def write_spider(path: str | os.PathLike[str], image: np.ndarray,
                 fmax: float | None = None) -> None:
    """Write a 2D float32 image as SPIDER, atomically.

    ``fmax`` overrides the header's maximum (RELION stores a template's expected
    probability ratio there); otherwise the image maximum is written.
    """
    image = np.ascontiguousarray(image, dtype="<f4")
    ny, nx = image.shape
    lenbyt = nx * 4
    labrec = math.ceil(1024 / lenbyt)
    labbyt = labrec * lenbyt
    header = np.zeros(labbyt // 4, dtype="<f4")
    header[[_NSLICE - 1, _NROW - 1, _IREC - 1, _IFORM - 1, _IMAMI - 1]] = [1, ny, labrec + ny, 1, 1]
    header[_FMAX - 1] = float(image.max()) if fmax is None else fmax
    header[[_FMIN - 1, _AV - 1, _SIG - 1]] = [image.min(), image.mean(), image.std()]
    header[[_NSAM - 1, _LABREC - 1, _LABBYT - 1, _LENBYT - 1]] = [nx, labrec, labbyt, lenbyt]
    with atomic_output(path) as tmp:
        with open(tmp, "wb") as out:
            out.write(header.tobytes())
            out.write(image.tobytes())


def read_spider(path: str | os.PathLike[str]) -> tuple[np.ndarray, float]:
    """Read a 2D SPIDER image; returns ``(image (ny, nx) float32, header fmax)``."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: FOM map not found (was it written with --write_fom_maps?)")
    raw = path.read_bytes()
    if len(raw) < 92:
        raise InputError(f"{path}: not a SPIDER image (file too short)")
    for order in ("<f4", ">f4"):
        head = np.frombuffer(raw[:92], dtype=order)
        ny, nx, labbyt = int(head[_NROW - 1]), int(head[_NSAM - 1]), int(head[_LABBYT - 1])
        if 0 < nx < 100_000 and 0 < ny < 100_000 and labbyt > 0 and \
                len(raw) == labbyt + nx * ny * 4:
            image = np.frombuffer(raw, dtype=order, offset=labbyt, count=nx * ny)
            return image.reshape(ny, nx).astype(np.float32), float(head[_FMAX - 1])
    raise InputError(f"{path}: not a valid 2D SPIDER image (header and size disagree)")
