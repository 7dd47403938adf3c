"""A screenshot of the review page with headless Chromium (for the Snakemake report)."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from pathlib import Path

from cryopick.errors import InputError, atomic_output

__all__ = ["CHROMIUM_NAMES", "find_chromium", "render_screenshot", "review_targets"]

logger = logging.getLogger(__name__)

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")


def find_chromium() -> str | None:
    """The Chromium on PATH (Debian's ``chromium`` first), None without one."""
    return next(filter(None, map(shutil.which, CHROMIUM_NAMES)), None)


def review_targets() -> list[str]:
    """What the workflow's review step makes: the page, and its screenshot for the report
    where Chromium is installed."""
    return ["Review/index.html"] + (["Review/screenshot.png"] if find_chromium() else [])


def render_screenshot(page: str | os.PathLike[str], out_png: str | os.PathLike[str],
                      width: int = 1280, height: int = 800, timeout_s: float = 120.0) -> None:
    """Render ``page`` (opened as a ``file://`` URL, its scripts run) at ``width × height``
    into ``out_png``. Raises InputError when the page or Chromium is missing or fails."""
    page = Path(page).resolve()
    if not page.is_file():
        raise InputError(f"{page}: review page not found")
    chromium = find_chromium()
    if chromium is None:
        raise InputError(f"{out_png}: no Chromium on PATH to render {page} "
                         "(apt-get install chromium)")
    with atomic_output(out_png) as tmp:
        # the budget lets the page's script run and its first thumbnail load before the shot;
        # every compositor stage runs before the capture, else a busy machine can leave the
        # bottom tiles unpainted (1 shot in 6 with the machine loaded; none in 18 with it)
        command = [chromium, "--headless=new", "--no-sandbox", "--disable-gpu",
                   "--disable-dev-shm-usage", "--hide-scrollbars", "--no-first-run",
                   "--run-all-compositor-stages-before-draw",
                   f"--window-size={width},{height}", "--virtual-time-budget=5000",
                   f"--screenshot={tmp.resolve()}", page.as_uri()]
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s,
                                check=False)
        if result.returncode != 0 or not tmp.is_file():
            raise InputError(f"{page}: Chromium could not render it (exit {result.returncode}): "
                             f"{result.stderr.strip()[-500:]}")
    logger.info("wrote %s (%d × %d)", out_png, width, height)
