"""Helpers shared by test modules (imported as ``support``; tests/ is on sys.path)."""

from __future__ import annotations

import importlib.util
import os
import shutil

import numpy as np
import pytest

from cryopick.backend import cupy_available

# Every RELION 3.1 program a test runs: CI sets CRYOPICK_REQUIRE_RELION so that a missing one
# fails the run instead of skipping the oracle tests that need it.
RELION_BINARIES = ("relion_autopick", "relion_refine", "relion_preprocess",
                   "relion_star_handler", "relion_image_handler")
RELION_MISSING = [name for name in RELION_BINARIES if shutil.which(name) is None]
RELION_PRESENT = not RELION_MISSING
if RELION_MISSING and os.environ.get("CRYOPICK_REQUIRE_RELION"):
    raise RuntimeError(f"CRYOPICK_REQUIRE_RELION is set but {', '.join(RELION_MISSING)} not on "
                       "PATH: install RELION 3.1 (apt-get install relion) so the oracle tests run")

# The MPI tests need mpi4py and an mpirun; CI sets CRYOPICK_REQUIRE_MPI so they never skip.
MPI_MISSING = [name for name, found in (("mpi4py", importlib.util.find_spec("mpi4py")),
                                        ("mpirun", shutil.which("mpirun"))) if found is None]
if MPI_MISSING and os.environ.get("CRYOPICK_REQUIRE_MPI"):
    raise RuntimeError(f"CRYOPICK_REQUIRE_MPI is set but missing: {', '.join(MPI_MISSING)}; "
                       "install OpenMPI (apt-get install openmpi-bin libopenmpi-dev) and mpi4py")

# The browser tests drive Debian's chromium through chromedriver with Selenium; CI sets
# CRYOPICK_REQUIRE_CHROMIUM so that a missing browser fails the run instead of skipping them.
CHROMIUM = next(filter(None, map(shutil.which, ("chromium", "chromium-browser",
                                                "google-chrome"))), None)
CHROMIUM_MISSING = [name for name, found in (("chromium", CHROMIUM),
                                             ("chromedriver", shutil.which("chromedriver")),
                                             ("selenium", importlib.util.find_spec("selenium")))
                    if found is None]
if CHROMIUM_MISSING and os.environ.get("CRYOPICK_REQUIRE_CHROMIUM"):
    raise RuntimeError(f"CRYOPICK_REQUIRE_CHROMIUM is set but missing: "
                       f"{', '.join(CHROMIUM_MISSING)}; install them (apt-get install chromium "
                       "chromium-driver; pip install -e '.[test]')")

needs_relion = pytest.mark.skipif(not RELION_PRESENT,
                                  reason=f"RELION 3.1 programs not on PATH: {RELION_MISSING}")
needs_mpi = pytest.mark.skipif(bool(MPI_MISSING), reason=f"missing {MPI_MISSING}")
needs_gpu = pytest.mark.skipif(not cupy_available(), reason="no usable CUDA device")
needs_chromium = pytest.mark.skipif(bool(CHROMIUM_MISSING), reason=f"missing {CHROMIUM_MISSING}")


def chromium_driver(download_dir=None, width: int = 1280, height: int = 800):
    """A headless Chromium (Selenium) at ``width × height`` that keeps the console log and
    saves downloads to ``download_dir``."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                 f"--window-size={width},{height}", "--allow-file-access-from-files"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    if download_dir is not None:
        options.add_experimental_option("prefs", {
            "download.default_directory": str(download_dir),
            "download.prompt_for_download": False})
    driver = webdriver.Chrome(options=options, service=Service(shutil.which("chromedriver")))
    # the page's own viewport (the window size would include the browser's frame)
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})
    return driver


def make_blob_micrograph() -> tuple[np.ndarray, np.ndarray]:
    """A 600×720 noisy micrograph at 2 Å/px with dark Gaussian blobs (σ 40 Å) at known (y, x)."""
    rng = np.random.default_rng(seed=0)
    ny, nx = 600, 720
    centres = np.array([[150, 160], [420, 520], [300, 330], [140, 560], [460, 170]], float)
    yy, xx = np.mgrid[:ny, :nx]
    image = rng.normal(0.0, 1.0, size=(ny, nx)).astype(np.float32)
    for y, x in centres:
        image -= 1.2 * np.exp(-((yy - y) ** 2 + (xx - x) ** 2) / (2 * 20.0**2)).astype(np.float32)
    return image, centres


def score_demo_picks(root, odir: str, radius_px: float):
    """Picks in ``root/odir/Movies/*_autopick.star`` against the simulated particle positions
    (``Demo/truth``), summed over the micrographs of the project's CTF STAR file."""
    from pathlib import Path

    from cryopick.io.star import read_coordinates, read_micrographs_star
    from cryopick.metrics import PickScore, score_picks
    from cryopick.simulate import CTF_STAR, TRUTH_DIR

    total = PickScore(0, 0, 0)
    xy = ["rlnCoordinateX", "rlnCoordinateY"]
    for name in read_micrographs_star(Path(root) / CTF_STAR).names:
        stem = Path(name).stem
        picks = read_coordinates(Path(root) / odir / f"Movies/{stem}_autopick.star")
        truth = read_coordinates(Path(root) / TRUTH_DIR / f"{stem}_truth.star")
        total = total + score_picks(picks[xy].to_numpy(float), truth[xy].to_numpy(float),
                                    radius_px)
    return total


def probability_ratio(path) -> tuple[np.ndarray, float]:
    """``(P, E)`` of a ``*_bestCCF.spi`` map: RELION stores the reference's expected probability
    ratio E in the SPIDER header's maximum (``fmax``) and the map holds FOM = (P − 1)/(E − 1)."""
    from cryopick.io.spider import read_spider

    fom, expected = read_spider(path)
    return fom.astype(np.float64) * (expected - 1.0) + 1.0, expected


def assert_fom_maps_equal(ours_root, theirs_root, n_refs: int, n_inside: int) -> None:
    """Our FOM maps under ``ours_root`` (a map name without ``_<map>.spi``) against RELION's.

    - The noise std and mean maps: equal to 1e-4 absolute (both are ~1 and ~0).
    - P = FOM·(E − 1) + 1, the likelihood ratio behind each FOM map: equal to 1e-4 relative on
      99.9 % of pixels and to 2e-4 on all (our correlations are float32 sums over the
      micrograph; their rounding spreads −2·ln P by ~3e-5 s.d.). An error in S1, S2, the mask,
      the references' amplitude or the noise maps' scale changes P far more.
    - E itself has a random term in both programs: ln E = (ΣA² + 2·ΣA·z)/(2·n1) with z ~ N(0, 1)
      per pixel of the template disc (n1 = pixels + 1), so ln E has mean S2/2 and s.d.
      √(S2/n1). Our ln E must lie within 5 s.d. (of a difference of two draws) of RELION's.
    """
    from cryopick.io.spider import read_spider

    for name in ("stddevNoise", "avgNoise"):
        ours, _ = read_spider(f"{ours_root}_{name}.spi")
        theirs, _ = read_spider(f"{theirs_root}_{name}.spi")
        assert ours.shape == theirs.shape, name
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-4, err_msg=name)
    n1 = n_inside + 1.0
    for ref in range(n_refs):
        name = f"ref{ref:06d}._bestCCF.spi"
        ours, e_ours = probability_ratio(f"{ours_root}_{name}")
        theirs, e_theirs = probability_ratio(f"{theirs_root}_{name}")
        relative = np.abs(ours - theirs) / np.abs(theirs)
        assert np.quantile(relative, 0.999) <= 1e-4, (name, np.quantile(relative, 0.999))
        assert relative.max() <= 2e-4, (name, relative.max())
        s2 = max(2.0 * np.log(e_theirs), 1e-6)
        assert abs(np.log(e_ours) - np.log(e_theirs)) <= 5.0 * np.sqrt(2.0 * s2 / n1), \
            (name, e_ours, e_theirs)
