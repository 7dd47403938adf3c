"""The review page in a real browser (headless Chromium through Selenium), on one finished
demo-size run: loads from file://, one row per micrograph, the slider's counts equal Python's,
Export writes review.yaml and a rerun with it re-picks and re-extracts only; a synthetic
1 000-micrograph page is usable within 3 s."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from cryopick.io.loop import read_star_loops
from cryopick.io.star import read_coordinates, read_micrographs_star, read_star
from cryopick.picking.job import coordinate_path
from cryopick.review.page import count_picks, render_page
from support import CHROMIUM_MISSING, chromium_driver, needs_chromium
from test_workflow_project import SNAKEMAKE

pytestmark = pytest.mark.workflow
STAR = "CtfFind/job003/micrographs_ctf.star"
# what a review decision may rerun: template picking (its shards and gather), the final
# extraction, and the review page itself
RERUN_RULES = {"all", "autopick_template", "autopick_template_shard", "extract_template",
               "review", "review_screenshot"}


def _snakemake(root: Path, *args: str) -> subprocess.CompletedProcess:
    run = subprocess.run([*SNAKEMAKE, "--directory", str(root), "--configfile",
                          str(root / "config.yaml"), "--cores", "2", *args],
                         capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-4000:]
    return run


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    """One finished run: 3 demo micrographs, 2D classification cut short."""
    root = tmp_path_factory.mktemp("review")
    (root / "config.yaml").write_text(yaml.safe_dump({
        "backend": "numpy", "demo": {"preset": "demo", "seed": 2, "n_micrographs": 3},
        "select": {"first_n": 2}, "class2d": {"n_classes": 4, "n_iter": 5},
        "select_templates": {"max_resolution_a": 100}}))
    _snakemake(root)
    return root


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """Headless Chromium at 1280 × 800, saving downloads to ``browser.downloads``."""
    if CHROMIUM_MISSING:
        pytest.skip(f"missing {CHROMIUM_MISSING}")
    downloads = tmp_path_factory.mktemp("downloads")
    driver = chromium_driver(downloads)
    driver.downloads = downloads
    yield driver
    driver.quit()


def _open(driver, page: Path) -> None:
    driver.get(page.resolve().as_uri())
    for _ in range(100):
        if driver.execute_script("return document.body.dataset.ready === '1'"):
            return
        time.sleep(0.05)
    raise AssertionError(f"{page}: the page's script did not finish")


def _cells(driver, key: str) -> dict[str, str]:
    """Column ``key`` of the QC table, ``{micrograph: text}`` in the table's order."""
    return dict(driver.execute_script(
        "return [...document.querySelectorAll('#qc-body tr')].map((tr) => [tr.dataset.name, "
        f"tr.querySelector('td[data-key={key}]').textContent]);"))


def _python_counts(root: Path, threshold: float) -> dict[str, int]:
    names = read_micrographs_star(root / STAR).names
    return {name: count_picks(read_coordinates(coordinate_path(
        str(root / "AutoPick/template"), name, "autopick"))["rlnAutopickFigureOfMerit"],
        threshold) for name in names}


def _planned_rules(root: Path) -> set[str]:
    """The rules of Snakemake's plan (its dry run's job table)."""
    text = _snakemake(root, "-n").stdout
    table = text.split("Job stats:", 1)[1] if "Job stats:" in text else ""
    return {m.group(1) for m in re.finditer(r"^(\w+)\s+\d+\s*$", table, re.M)} - {"total"}


def test_the_run_ends_with_the_review_page_and_the_qc_table(demo):
    assert (demo / "Review/index.html").is_file()
    names = read_micrographs_star(demo / STAR).names
    table = read_star_loops(demo / "AutoPick/template/qc.star")["micrographs"]
    assert list(table["rlnMicrographName"]) == names
    assert list(table["cryopickTemplatePicks"]) == list(_python_counts(demo, -np.inf).values())
    assert (np.asarray(table["cryopickImageStd"]) > 0).all()
    for name in names:  # a thumbnail per micrograph, beside the page
        assert (demo / "Review/thumbs" / Path(name).parent.name / f"{Path(name).stem}.jpg"
                ).is_file()
    assert (demo / "AutoPick/template/qc.csv").read_text().count("\n") == len(names) + 1


def test_cryopick_review_writes_the_same_page_on_demand(demo):
    run = subprocess.run([sys.executable, "-m", "cryopick.cli.main", "review", "--project",
                          str(demo), "--configfile",
                          str(demo / "config.yaml"), "--o", "Review/again.html"],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert (demo / "Review/again.html").read_text() == (demo / "Review/index.html").read_text()


@needs_chromium
def test_page_loads_from_file_without_errors_one_row_per_micrograph(demo, browser):
    _open(browser, demo / "Review/index.html")
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == []
    names = read_micrographs_star(demo / STAR).names
    assert list(_cells(browser, "picks")) == names
    assert len(browser.find_elements("css selector", "#gallery .cls.chosen")) >= 1
    assert "kept:" in browser.find_element("css selector", "#gallery .cls.chosen").text


@needs_chromium
def test_table_flags_as_qc_star_sorts_and_filters(demo, browser):
    _open(browser, demo / "Review/index.html")
    table = read_star_loops(demo / "AutoPick/template/qc.star")["micrographs"]
    flags = {name: "" if f == "none" else f.replace(",", " ")
             for name, f in zip(table["rlnMicrographName"], table["cryopickFlags"])}
    assert _cells(browser, "flags") == flags  # the page's rules on its counts = Python's
    browser.find_element("css selector", "#qc-head th[data-key=picks]").click()
    picks = [int(v) for v in _cells(browser, "picks").values()]  # in the table's order
    assert picks == sorted(picks)
    browser.find_element("css selector", "#qc-head th[data-key=picks]").click()
    assert [int(v) for v in _cells(browser, "picks").values()] == sorted(picks, reverse=True)
    name = table["rlnMicrographName"][1]
    browser.find_element("id", "filter").send_keys(Path(name).stem)
    shown = browser.execute_script(
        "return [...document.querySelectorAll('#qc-body tr')].filter((tr) => !tr.hidden)"
        ".map((tr) => tr.dataset.name)")
    assert shown == [name]


@needs_chromium
def test_slider_counts_equal_pythons_per_micrograph_and_in_total(demo, browser):
    from selenium.webdriver.common.keys import Keys

    _open(browser, demo / "Review/index.html")
    slider = browser.find_element("id", "threshold")
    for key in (Keys.HOME, Keys.PAGE_UP, Keys.PAGE_UP, Keys.PAGE_UP):
        slider.send_keys(key)
        threshold = float(slider.get_attribute("value"))
        python = _python_counts(demo, threshold)
        page = {name: int(text) for name, text in _cells(browser, "picks").items()}
        assert page == python, threshold
        assert int(browser.find_element("id", "total-picks").text) == sum(python.values())
    assert sum(python.values()) < sum(_python_counts(demo, -np.inf).values())  # it moved


@needs_chromium
def test_screenshot_is_not_blank_and_in_the_report(demo, browser):
    from PIL import Image

    _open(browser, demo / "Review/index.html")
    time.sleep(0.5)  # the first thumbnail
    shot = np.asarray(Image.open(io.BytesIO(browser.get_screenshot_as_png())).convert("L"))
    assert shot.shape == (800, 1280)
    viewer = shot[120:590, 790:1260]  # the micrograph with its picks
    assert shot.std() > 20 and viewer.std() > 20
    workflow_shot = np.asarray(Image.open(demo / "Review/screenshot.png").convert("L"))
    assert workflow_shot.std() > 20
    _snakemake(demo, "--report", "report.html")
    html = (demo / "report.html").read_text(errors="replace")
    assert "screenshot.png" in html and "decisions_applied.txt" in html


@needs_chromium
def test_export_then_rerun_repicks_and_reextracts_only(demo, browser):
    from selenium.webdriver.common.keys import Keys

    _open(browser, demo / "Review/index.html")
    names = read_micrographs_star(demo / STAR).names
    browser.find_element("css selector", f"tr[data-name='{names[1]}'] input.exclude").click()
    slider = browser.find_element("id", "threshold")
    slider.send_keys(Keys.HOME, Keys.PAGE_UP)
    threshold = float(slider.get_attribute("value"))
    browser.find_element("id", "export").click()
    saved = browser.downloads / "review.yaml"
    for _ in range(100):
        if saved.is_file():
            break
        time.sleep(0.05)
    assert yaml.safe_load(saved.read_text()) == {"threshold": threshold,
                                                 "exclude_micrographs": [names[1]]}
    shutil.copy(saved, demo / "review.yaml")
    planned = _planned_rules(demo)
    assert {"extract_template", "review"} <= planned and planned <= RERUN_RULES, planned
    _snakemake(demo)
    particles = read_star(demo / "Extract/template/particles.star")["particles"]
    assert names[1] not in set(particles["rlnMicrographName"])
    assert set(particles["rlnMicrographName"]) == {names[0], names[2]}
    applied = (demo / "Review/decisions_applied.txt").read_text()
    assert "exclude_micrographs: 1 micrograph(s)" in applied
    # and which templates picked the micrographs: all of those left, by one template set
    assert re.search(r"^templates: Select/templates4autopick/class_averages\.star \(sha256 "
                     r"[0-9a-f]{12}\) picked all 2 micrograph", applied, re.M), applied


def _synthetic_data(n_mics: int, n_picks: int, thumb: str) -> dict:
    """A review data set of ``n_mics`` micrographs of 4096² px with ``n_picks`` picks each."""
    rng = np.random.default_rng(0)
    mics, picks = [], []
    for i in range(n_mics):
        fom = np.round(rng.gamma(2.0, 0.4, n_picks), 6)
        picks.append([rng.integers(0, 4096, n_picks).tolist(),
                      rng.integers(0, 4096, n_picks).tolist(), fom.tolist()])
        mics.append({"name": f"MotionCorr/job002/Movies/mic{i:05d}.mrc", "short": f"mic{i:05d}",
                     "thumb": thumb, "tw": 768, "th": 768, "scale": 768 / 4096, "reason": "",
                     "ctf": {"rlnDefocusU": 20000.0 + i, "rlnCtfMaxResolution": 3.5},
                     "log": None, "removed_std": 3, "removed_avg": 2, "mean": 0.0,
                     "std": 1.0, "dark": 0.02})
    return {"title": "synthetic", "pixel_a": 1.0, "diameter_px": 150.0, "threshold_run": 0.1,
            "threshold_max": 2.0, "density_spread": 3.0, "dark_flag_fraction": 0.15,
            "ctf_columns": [{"key": "rlnDefocusU", "label": "dU", "title": "", "digits": 0},
                            {"key": "rlnCtfMaxResolution", "label": "CTF Å", "title": "",
                             "digits": 1}],
            "decisions": {"threshold": None, "exclude": [], "lines": ["none"]},
            "mics": mics, "picks": picks, "log_picks": [None] * n_mics, "classes": [],
            "class_source": ""}


@needs_chromium
def test_a_thousand_micrographs_are_usable_within_3_s_with_the_keyboard(tmp_path, browser):
    from PIL import Image
    from selenium.webdriver.common.keys import Keys

    (tmp_path / "thumbs").mkdir()
    noise = np.random.default_rng(1).integers(0, 255, (768, 768), dtype=np.uint8)
    Image.fromarray(noise).save(tmp_path / "thumbs/mic.jpg", quality=85)
    page = tmp_path / "index.html"
    page.write_text(render_page(_synthetic_data(1000, 200, "thumbs/mic.jpg")))
    _open(browser, page)
    load_ms = browser.execute_script("return window.reviewLoadMs")
    print(f"1000 micrographs, 200 000 picks: usable after {load_ms:.0f} ms "
          f"({page.stat().st_size / 1e6:.1f} MB page)")
    assert load_ms < 3000
    assert [e for e in browser.get_log("browser") if e["level"] == "SEVERE"] == []
    assert len(browser.find_elements("css selector", "#qc-body tr")) == 1000
    body = browser.find_element("tag name", "body")
    body.send_keys(Keys.ARROW_RIGHT, Keys.ARROW_RIGHT, Keys.ARROW_LEFT)
    assert browser.find_element("css selector", "tr.current").get_attribute(
        "data-name").endswith("mic00001.mrc")
    assert browser.find_element("id", "mic-name").text == "mic00001"
    body.send_keys("x")
    assert "excluded" in browser.find_element("css selector", "tr.current").get_attribute("class")
    # readable at 1280 × 800: nothing wider than the window
    assert browser.execute_script("return document.documentElement.scrollWidth") <= 1280
