"""Saving a picture: every figure of the library is written through :func:`save_figure`."""

from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from cryopick.errors import atomic_output  # noqa: E402

__all__ = ["save_figure"]


def save_figure(fig, out_png: str | os.PathLike[str], trim_margin: bool = False) -> None:
    """Lay ``fig`` out (``tight_layout``), write it as PNG to ``out_png`` (under a temporary
    name, then renamed) and close it; ``trim_margin`` crops the white margin
    (``bbox_inches="tight"``)."""
    fig.tight_layout()
    with atomic_output(out_png) as tmp:
        if trim_margin:
            fig.savefig(tmp, format="png", bbox_inches="tight")
        else:
            fig.savefig(tmp, format="png")
    plt.close(fig)
