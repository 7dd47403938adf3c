"""Class galleries: what a person reads on them stays on the picture."""

from __future__ import annotations

import numpy as np

import cryopick.classification.plots as plots


def _gallery_boxes(monkeypatch, tmp_path, n: int, captions: list[str], title: str,
                   ncols: int = 8) -> dict:
    """Draw a gallery of ``n`` blank images as ``save_figure`` lays it out; the display boxes
    of the figure, its title, each image and each caption."""
    boxes = {}
    save = plots.save_figure

    def measure_then_save(fig, out_png):
        if fig.get_layout_engine() is None:  # as save_figure lays it out
            fig.tight_layout()
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        boxes["figure"] = fig.bbox
        boxes["title"] = fig._suptitle.get_window_extent(renderer)
        boxes["images"] = [ax.get_window_extent(renderer) for ax in fig.axes]
        boxes["captions"] = [ax.title.get_window_extent(renderer) for ax in fig.axes]
        save(fig, out_png)

    monkeypatch.setattr(plots, "save_figure", measure_then_save)
    plots.plot_gallery(np.zeros((n, 16, 16)), captions, None, title, tmp_path / "g.png",
                       ncols=ncols)
    assert (tmp_path / "g.png").is_file()
    return boxes


def test_a_long_title_stays_inside_a_gallery_of_one_class(tmp_path, monkeypatch):
    title = ("Select/templates4autopick: one blob template of the particle diameter (212 Å): "
             "no class looked like a particle\nClass averages by distribution; chosen templates "
             "framed in red")
    boxes = _gallery_boxes(monkeypatch, tmp_path, 1, ["8: 77.4%"], title)
    assert boxes["figure"].x0 <= boxes["title"].x0
    assert boxes["title"].x1 <= boxes["figure"].x1


def test_captions_of_a_second_row_stay_below_the_images_above(tmp_path, monkeypatch):
    long = ("6: 35.5% 20Å Pmax 0.67\ndensity at the mask edge\n(contamination, carbon or\n"
            "neighbours)")
    captions = [long] * 8 + ["13: 0.4% 20Å Pmax 1.00\nfew particles"] * 2
    boxes = _gallery_boxes(monkeypatch, tmp_path, 10, captions, "title")
    for below in (8, 9):  # row 2; the image above it is 8 places before
        assert boxes["captions"][below].y1 <= boxes["images"][below - 8].y0 + 1.0


def test_the_title_clears_the_captions_of_the_first_row(tmp_path, monkeypatch):
    # the demo's templates.png: six classes, the last two with four-line reasons under a
    # two-line title
    reason = "density at the mask edge\n(contamination, carbon or\nneighbours)"
    captions = ["7: 29.1% 25Å Pmax 0.84\ndistinct view"] * 4 + [f"4: 6.8%\n{reason}"] * 2
    title = ("templates: classes 5, 6, 7 of Class2D/LoG/run_it025_model.star\n"
             "Class averages by distribution; chosen templates framed in red")
    boxes = _gallery_boxes(monkeypatch, tmp_path, 6, captions, title)
    assert not any(boxes["title"].overlaps(caption) for caption in boxes["captions"])
