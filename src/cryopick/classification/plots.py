"""Pictures of a 2D classification: the class gallery and the convergence of the run."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from cryopick.errors import InputError
from cryopick.figures import save_figure
from cryopick.io.mrc import read_image_stack
from cryopick.io.star import read_star

__all__ = ["plot_class_gallery", "plot_convergence", "plot_gallery", "write_pictures"]


def plot_gallery(images: np.ndarray, captions: list[str], highlight: np.ndarray | None,
                 title: str, out_png: str | os.PathLike[str], ncols: int = 8) -> None:
    """A grid of 2D images with a caption under each; highlighted ones framed in red."""
    n = len(images)
    ncols = max(1, min(ncols, n))
    nrows = max(1, -(-n // ncols))
    # the title wrapped to the figure's width (~13 characters of 9 pt per inch; at least two
    # columns wide), so that a gallery of one or two classes does not cut it off; the figure
    # grows by the title's extra lines
    width = max(1.6 * ncols, 3.2)
    title = "\n".join(textwrap.fill(line, int(width * 13)) for line in title.split("\n"))
    extra = 0.16 * max(0, title.count("\n") - 1)
    # each row holds an image and its caption (6 pt lines): a row under captions of three
    # lines must not have its own captions drawn over the images above
    caption_lines = max((c.count("\n") + 1 for c in captions), default=1)
    row = 1.6 + 0.11 * caption_lines
    # constrained layout keeps the title clear of the first row's captions
    fig, axes = plt.subplots(nrows, ncols, figsize=(width, row * nrows + 0.5 + extra),
                             dpi=100, squeeze=False, layout="constrained")
    fig.get_layout_engine().set(h_pad=0.08)  # a little air between the title and captions
    for ax in axes.ravel():
        ax.set_axis_off()
    for i, (image, caption) in enumerate(zip(images, captions)):
        ax = axes.ravel()[i]
        ax.imshow(image, cmap="gray", origin="upper")
        ax.set_title(caption, fontsize=6)
        if highlight is not None and highlight[i]:
            ax.set_axis_on()
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_edgecolor("red")
                spine.set_linewidth(3)
    fig.suptitle(title, fontsize=9)
    save_figure(fig, out_png)


def plot_class_gallery(images: np.ndarray, distribution: np.ndarray, resolution_a: np.ndarray,
                       out_png: str | os.PathLike[str], title: str = "2D classes") -> None:
    """Class averages ``(K, n, n)`` sorted by decreasing rlnClassDistribution, captioned with
    class number, percentage of particles and estimated resolution (Å)."""
    order = np.argsort(-np.asarray(distribution), kind="stable")
    captions = [f"{k + 1}: {100 * distribution[k]:.1f}%  {resolution_a[k]:.0f} Å" for k in order]
    plot_gallery(images[order], captions, None, f"{title} (sorted by rlnClassDistribution)",
                 out_png, ncols=min(10, max(1, len(order))))


def plot_convergence(history: dict[str, np.ndarray], out_png: str | os.PathLike[str],
                     title: str = "2D classification") -> None:
    """Log-likelihood, fraction of changed class assignments and resolution per iteration."""
    it = np.asarray(history["iteration"])
    keep = it > 0
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.2), dpi=100)
    panels = [("log_likelihood", "log-likelihood"),
              ("changes_classes", "changed class assignments (fraction)"),
              ("resolution_a", "current resolution (Å)")]
    for ax, (key, label) in zip(axes, panels):
        ax.plot(it[keep], np.asarray(history[key])[keep], "o-", ms=3)
        ax.set_xlabel("iteration")
        ax.set_title(label, fontsize=9)
        ax.grid(alpha=0.3)
    axes[2].invert_yaxis()  # better resolution (smaller Å) upwards
    fig.suptitle(title, fontsize=10)
    save_figure(fig, out_png)


def write_pictures(model_star: str | os.PathLike[str], gallery_png: str | os.PathLike[str],
                   convergence_png: str | os.PathLike[str], jobs: int = 1,
                   note: str = "") -> None:
    """Both pictures for the iteration of ``model_star`` (its classes and its run's history),
    side by side with ``jobs`` > 1 (:func:`cryopick.tasks.side_by_side`); ``note`` is a
    line added to the gallery's title."""
    from cryopick.tasks import side_by_side

    model_star = Path(model_star)
    blocks = read_star(model_star)
    if "model_classes" not in blocks:
        raise InputError(f"{model_star}: no data_model_classes block (not a _model.star)")
    state = model_star.with_name(model_star.name.replace("_model.star", "_cryopick.npz"))
    if not state.is_file():
        raise InputError(f"{model_star}: {state.name} (the run's history) not found beside it")
    side_by_side([(_gallery_picture, (model_star, blocks["model_classes"], gallery_png, note)),
                  (_convergence_picture, (model_star, state, convergence_png))], jobs)


def _gallery_picture(model_star: Path, classes, gallery_png, note: str = "") -> None:
    stack = str(classes["rlnReferenceImage"].iloc[0]).partition("@")[2]
    images = read_image_stack(stack)
    plot_class_gallery(images, classes["rlnClassDistribution"].to_numpy(float),
                       classes["rlnEstimatedResolution"].to_numpy(float), gallery_png,
                       title=f"{note}\n{model_star.name}" if note else model_star.name)


def _convergence_picture(model_star: Path, state: Path, convergence_png) -> None:
    with np.load(state) as saved:
        history = {key[2:]: saved[key] for key in saved.files if key.startswith("h_")}
    plot_convergence(history, convergence_png, title=model_star.name)
