"""Picture of an extraction job: a gallery of the first particles and the average of all.

The average of all (unaligned) particles is what the tutorial looks at with "Show average of
selection": a round blob of the particle's size on a flat background says the coordinates
are centred and the normalisation worked.
"""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import mrcfile  # noqa: E402
import numpy as np  # noqa: E402

from cryopick.errors import InputError  # noqa: E402
from cryopick.figures import save_figure  # noqa: E402
from cryopick.io.star import read_star  # noqa: E402

__all__ = ["particle_gallery_and_average", "plot_extraction_gallery"]


def particle_gallery_and_average(particles_star: str | os.PathLike[str], n_gallery: int = 64
                                 ) -> tuple[np.ndarray, np.ndarray, int]:
    """The first ``n_gallery`` particle images and the average of all, stack by stack.

    Returns
    -------
    ``(gallery (m, S, S) float32, average (S, S) float64, number of particles)``; each stack
    is memory-mapped and read once.

    """
    table = read_star(particles_star).get("particles")
    if table is None or "rlnImageName" not in table.columns:
        raise InputError(f"{particles_star}: no data_particles block with rlnImageName")
    refs = table["rlnImageName"].astype(str).str.split("@", n=1, expand=True)
    gallery: list[np.ndarray] = []
    total, count = None, 0
    for stack, rows in refs.groupby(1, sort=False)[0]:
        indices = rows.astype(int).to_numpy() - 1
        with mrcfile.mmap(Path(stack), mode="r", permissive=True) as mrc:
            images = np.asarray(mrc.data, dtype=np.float32).reshape(-1, *mrc.data.shape[-2:])
            chosen = images[indices]
        gallery.extend(chosen[: max(0, n_gallery - len(gallery))])
        total = chosen.sum(axis=0, dtype=np.float64) + (0.0 if total is None else total)
        count += len(chosen)
    if not count:
        raise InputError(f"{particles_star}: no particles")
    return np.stack(gallery), total / count, count


def plot_extraction_gallery(particles_star: str | os.PathLike[str],
                            out_png: str | os.PathLike[str], n_rows: int = 8) -> None:
    """Write a PNG: an ``n_rows × n_rows`` gallery of the first particles, and their average.

    Particles share one grey scale (1st–99th percentile of the shown images); the average
    has its own.
    """
    gallery, average, count = particle_gallery_and_average(particles_star, n_rows * n_rows)
    size, rows_used = gallery.shape[-1], -(-len(gallery) // n_rows)
    montage = np.full((rows_used * (size + 2), n_rows * (size + 2)), np.nan, np.float32)
    for k, image in enumerate(gallery):
        r, c = divmod(k, n_rows)
        montage[r * (size + 2) + 1: r * (size + 2) + 1 + size,
                c * (size + 2) + 1: c * (size + 2) + 1 + size] = image
    lo, hi = np.percentile(gallery, [1, 99])
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 5.6), dpi=100,
                                      gridspec_kw={"width_ratios": [1.6, 1]})
    left.imshow(montage, cmap="gray", vmin=lo, vmax=hi, interpolation="nearest")
    left.set_title(f"first {len(gallery)} of {count} particles ({size} px)", fontsize=10)
    right.imshow(average, cmap="gray", interpolation="nearest")
    right.set_title(f"average of all {count} particles", fontsize=10)
    for ax in (left, right):
        ax.set_axis_off()
    fig.suptitle(str(particles_star), fontsize=9)
    save_figure(fig, out_png)
