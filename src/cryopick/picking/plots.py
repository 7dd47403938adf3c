"""Pictures a person looks at: picks over micrographs, coloured by figure of merit."""

from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from cryopick.binning import block_mean  # noqa: E402
from cryopick.errors import atomic_output  # noqa: E402
from cryopick.figures import save_figure  # noqa: E402

__all__ = ["plot_pick_summary", "plot_picks"]


_DISPLAY_PX = 720  # the longer side of a micrograph in its picture
_BAR_PX = 16  # the colour bar's width


def _display_view(preview: np.ndarray) -> tuple[np.ndarray, float]:
    """``preview`` block-averaged to at most about ``_DISPLAY_PX`` on its longer side (a
    tutorial-size micrograph's preview has ~3800 px); returns it and its px per preview px."""
    step = max(1, int(np.ceil(max(preview.shape) / _DISPLAY_PX)))
    return block_mean(preview, step), 1.0 / step


def _font(size: int):
    from PIL import ImageFont

    try:
        return ImageFont.truetype(os.path.join(matplotlib.get_data_path(), "fonts", "ttf",
                                               "DejaVuSans.ttf"), size)
    except OSError:  # Pillow without FreeType
        return ImageFont.load_default()


_GREYS = 192  # palette entries 0 … 191: black → white (the micrograph and the text)
_COLOURS = 64  # entries 192 … 255: the FOM colour map, low → high
_WHITE = _GREYS - 1


def _palette(cmap) -> list[int]:
    """The pictures' 256-entry palette: ``_GREYS`` grey levels, then ``_COLOURS`` samples of
    ``cmap``. An 8-bit palette picture encodes as PNG in a third of the time of an RGB one,
    with the same look: a preview needs no more grey levels, and the FOM colours are read
    off a colour bar of the same steps."""
    greys = np.repeat(np.round(np.linspace(0, 255, _GREYS)), 3)
    colours = np.round(cmap(np.linspace(0.0, 1.0, _COLOURS))[:, :3] * 255).ravel()
    return np.concatenate([greys, colours]).astype(np.uint8).tolist()


def plot_picks(preview: np.ndarray, x_px: np.ndarray, y_px: np.ndarray, fom: np.ndarray,
               scale: float, radius_px: float, title: str, out_png: str | os.PathLike[str],
               fom_label: str = "rlnAutopickFigureOfMerit") -> None:
    """Draw picks as circles over a low-passed micrograph, coloured blue (low) → red (high),
    with a colour bar of the FOM and a title with the number of picks.

    ``preview`` is the micrograph at ``scale`` working px per micrograph px; ``x_px, y_px``
    are pick coordinates in micrograph px; ``radius_px`` the circle radius in micrograph px.
    Drawn with Pillow on a view block-averaged to the picture's size, as a palette picture
    (:func:`_palette`): a micrograph's picture costs 10–30 ms, where matplotlib's figure took
    160–270 ms (it resampled the whole preview on every draw, and drew twice to trim the
    margin).
    """
    from PIL import Image, ImageDraw

    view, view_scale = _display_view(preview)
    height, width = view.shape
    up = max(1, _DISPLAY_PX // max(height, width, 1))  # a small micrograph: enlarged
    # robust grey levels: median ± 4 MAD, so dark contamination does not flatten the particles
    median = float(np.median(view)) if view.size else 0.0
    spread = 1.4826 * float(np.median(np.abs(view - median))) if view.size else 1.0
    lo, hi = median - 4 * spread, median + 4 * spread
    grey = np.clip((view - lo) * (_WHITE / max(hi - lo, 1e-12)) + 0.5, 0, _WHITE
                   ).astype(np.uint8)
    micrograph = Image.fromarray(grey, "L")
    if up > 1:  # bilinear between grey levels stays on the grey entries
        micrograph = micrograph.resize((width * up, height * up), Image.Resampling.BILINEAR)
    font, small = _font(13), _font(11)
    top, right = 24, _BAR_PX + 70 if len(x_px) else 8
    cmap = matplotlib.colormaps["coolwarm"]
    canvas = Image.new("P", (micrograph.width + right, micrograph.height + top), _WHITE)
    canvas.putpalette(_palette(cmap))
    canvas.paste(micrograph, (0, top))
    draw = ImageDraw.Draw(canvas)
    draw.text((4, 4), f"{title}: {len(x_px)} picks", fill=0, font=font)
    if len(x_px):
        fom = np.asarray(fom, dtype=float)
        low, span = float(np.min(fom)), max(float(np.ptp(fom)), 1e-12)
        colours = _GREYS + np.clip(np.round((fom - low) / span * (_COLOURS - 1)), 0,
                                   _COLOURS - 1).astype(int)
        to_px = scale * view_scale * up  # picture px per micrograph px
        r = max(radius_px * to_px, 2.0)
        for x, y, colour in zip(np.asarray(x_px) * to_px, np.asarray(y_px) * to_px + top,
                                colours):
            draw.ellipse((x - r, y - r, x + r, y + r), outline=int(colour), width=2)
        _colour_bar(canvas, draw, micrograph.width + 10, top, micrograph.height,
                    low, low + float(np.ptp(fom)), fom_label, small)
    with atomic_output(out_png) as tmp:
        canvas.save(tmp, format="png", compress_level=3)


def _colour_bar(canvas, draw, left: int, top: int, height: int, low: float, high: float,
                label: str, font) -> None:
    """A vertical colour bar (high at the top) with its two end values and its label, on a
    palette picture (:func:`_palette`); text is drawn in grey entries (black on white)."""
    from PIL import Image, ImageDraw

    steps = np.round(np.linspace(_COLOURS - 1, 0, height)).astype(np.uint8) + _GREYS
    canvas.paste(Image.fromarray(np.repeat(steps[:, None], _BAR_PX, axis=1), "L"),
                 (left, top))
    draw.rectangle((left, top, left + _BAR_PX - 1, top + height - 1), outline=0)
    draw.text((left + _BAR_PX + 3, top), f"{high:.3g}", fill=0, font=font)
    draw.text((left + _BAR_PX + 3, top + height - 14), f"{low:.3g}", fill=0, font=font)
    text = Image.new("L", (int(draw.textlength(label, font=font)) + 4, 16), _WHITE)
    ImageDraw.Draw(text).text((2, 1), label, fill=0, font=font)
    text = text.rotate(90, expand=True, fillcolor=_WHITE)
    if text.height <= height:
        canvas.paste(text, (left + _BAR_PX + 30, top + (height - text.height) // 2))


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
