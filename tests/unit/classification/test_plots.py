"""Class galleries: what a person reads on them stays on the picture."""

from __future__ import annotations

import numpy as np

import cryopick.classification.plots as plots


def test_a_long_title_stays_inside_a_gallery_of_one_class(tmp_path, monkeypatch):
    extents = {}
    save = plots.save_figure

    def measure_then_save(fig, out_png):
        fig.canvas.draw()
        extents["title"] = fig._suptitle.get_window_extent(fig.canvas.get_renderer())
        extents["figure"] = fig.bbox
        save(fig, out_png)

    monkeypatch.setattr(plots, "save_figure", measure_then_save)
    title = ("Select/templates4autopick: one blob template of the particle diameter (212 Å): "
             "no class looked like a particle\nClass averages by distribution; chosen templates "
             "framed in red")
    plots.plot_gallery(np.zeros((1, 16, 16)), ["8: 77.4%"], None, title, tmp_path / "g.png")
    assert (tmp_path / "g.png").is_file()
    assert extents["figure"].x0 <= extents["title"].x0
    assert extents["title"].x1 <= extents["figure"].x1
