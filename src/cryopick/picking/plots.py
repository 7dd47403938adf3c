"""Pictures a person looks at: picks over micrographs, coloured by figure of merit."""

from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.collections import PatchCollection  # noqa: E402
from matplotlib.patches import Circle  # noqa: E402

from cryopick.figures import save_figure  # noqa: E402

__all__ = ["plot_pick_summary", "plot_picks"]


def plot_picks(preview: np.ndarray, x_px: np.ndarray, y_px: np.ndarray, fom: np.ndarray,
               scale: float, radius_px: float, title: str, out_png: str | os.PathLike[str],
               fom_label: str = "rlnAutopickFigureOfMerit") -> None:
    """Draw picks as circles over a low-passed micrograph, coloured blue (low) → red (high).

    ``preview`` is the micrograph at ``scale`` working px per micrograph px; ``x_px, y_px``
    are pick coordinates in micrograph px; ``radius_px`` the circle radius in micrograph px.
    """
    # robust grey levels: median ± 4 MAD, so dark contamination does not flatten the particles
    median = float(np.median(preview)) if preview.size else 0.0
    spread = 1.4826 * float(np.median(np.abs(preview - median))) if preview.size else 1.0
    lo, hi = median - 4 * spread, median + 4 * spread
    height, width = preview.shape
    fig, ax = plt.subplots(figsize=(7, 7 * height / max(width, 1) + 0.6), dpi=110)
    ax.imshow(preview, cmap="gray", vmin=lo, vmax=hi, origin="upper", interpolation="bilinear")
    if len(x_px):
        circles = [Circle((x * scale, y * scale), radius_px * scale) for x, y in zip(x_px, y_px)]
        coll = PatchCollection(circles, cmap="coolwarm", facecolor="none", linewidth=1.2)
        coll.set_array(np.asarray(fom, dtype=float))
        coll.set_edgecolor(plt.get_cmap("coolwarm")(
            (np.asarray(fom) - np.min(fom)) / max(np.ptp(fom), 1e-12)))
        coll.set_facecolor("none")
        ax.add_collection(coll)
        fig.colorbar(coll, ax=ax, fraction=0.04, pad=0.02, label=fom_label)
    ax.set_title(f"{title}: {len(x_px)} picks", fontsize=9)
    ax.set_axis_off()
    save_figure(fig, out_png, trim_margin=True)


def plot_pick_summary(counts: dict[str, int], foms: dict[str, np.ndarray], title: str,
                      out_png: str | os.PathLike[str]) -> None:
    """Picks per micrograph (bars) and the distribution of FOMs per micrograph (histograms)."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8), dpi=100)
    names = list(counts)
    left.bar(range(len(names)), [counts[n] for n in names], color="tab:blue")
    left.set_xticks(range(len(names)))
    left.set_xticklabels([os.path.basename(n) for n in names], rotation=90, fontsize=6)
    left.set_ylabel("picks")
    left.set_title("picks per micrograph", fontsize=9)
    values = [v for v in foms.values() if len(v)]
    if values:
        edges = np.histogram_bin_edges(np.concatenate(values), bins=40)
        for name, fom in foms.items():
            if len(fom):
                right.hist(fom, bins=edges, histtype="step", linewidth=0.9)
    right.set_xlabel("rlnAutopickFigureOfMerit")
    right.set_ylabel("picks")
    right.set_title("FOM histogram, one line per micrograph", fontsize=9)
    fig.suptitle(title, fontsize=10)
    save_figure(fig, out_png)
