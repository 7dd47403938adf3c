"""``Review/index.html``: one self-contained page to review a finished run in a browser.

The page opens from a ``file://`` URL: its script, style and data are inlined, the micrograph
thumbnails are relative files (``Review/thumbs/``) loaded when a micrograph is shown, and the
class averages are inlined as small PNGs. Picks travel as compact columns (integer pixel
positions, the FOM as written in the STAR file), so that the page's count at a threshold t
(picks with FOM ≥ t, as the peak search keeps them) is :func:`count_picks` exactly.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import math
import os
import re
from importlib import resources
from pathlib import Path

import numpy as np

from cryopick.binning import block_mean
from cryopick.errors import InputError, atomic_output
from cryopick.io.loop import read_star_loops
from cryopick.io.mrc import read_micrograph
from cryopick.io.star import MicrographSet, post_name, read_coordinates, read_micrographs_star
from cryopick.picking.job import coordinate_path
from cryopick.picking.qc import CTF_LABELS, DARK_FLAG_FRACTION, DENSITY_SPREAD, qc_table
from cryopick.review.decisions import ReviewDecisions
from cryopick.review.inputs import ReviewInputs

__all__ = ["THUMBNAIL_PX", "count_picks", "read_class_verdicts",
           "render_page", "review_data", "run_threshold", "write_review_page"]

logger = logging.getLogger(__name__)

THUMBNAIL_PX = 768  # a thumbnail's longer side is at most this (block-averaged micrograph)
# the CTF columns' headings, tooltips and decimals
_CTF_DISPLAY = {"rlnDefocusU": ("dU", "defocus U (Å)", 0),
                "rlnDefocusV": ("dV", "defocus V (Å)", 0),
                "rlnCtfAstigmatism": ("astig", "astigmatism (Å)", 0),
                "rlnCtfMaxResolution": ("CTF Å", "CTF max. resolution (Å)", 1)}


def count_picks(fom: np.ndarray, threshold: float) -> int:
    """Picks kept at ``threshold``: FOM ≥ threshold (the page's count, per micrograph)."""
    return int((np.asarray(fom, dtype=np.float64) >= threshold).sum())


def run_threshold(template_dir: str) -> float | None:
    """The threshold the template-picking job used (``--threshold`` in its ``note.txt``)."""
    note = Path(template_dir) / "note.txt"
    if not note.is_file():
        return None
    match = re.search(r"--threshold\s+(\S+)", note.read_text())
    return float(match.group(1)) if match else None


def read_class_verdicts(decisions_txt: str | os.PathLike[str]) -> tuple[str, dict[int, dict]]:
    """The model STAR the templates came from and, per class number, whether it was chosen
    and why (the table ``Select/templates4autopick/decisions.txt`` ends with)."""
    path = Path(decisions_txt)
    if not path.is_file():
        raise InputError(f"{path}: template decisions not found")
    lines = path.read_text().splitlines()
    heads = [i for i, line in enumerate(lines) if line.startswith("Classes of ")]
    if not heads:
        raise InputError(f"{path}: no 'Classes of <model>:' table")
    source = lines[heads[-1]][len("Classes of "):].rstrip(":")
    header = lines[heads[-1] + 1].split()
    if header[-2:] != ["chosen", "reason"] or "rlnClassNumber" not in header:
        raise InputError(f"{path}: unexpected class table header {header}")
    verdicts = {}
    for line in lines[heads[-1] + 2:]:
        if not line.strip():
            break
        values = line.split(None, len(header) - 1)  # the reason, last, may hold spaces
        row = dict(zip(header, values))
        verdicts[int(row["rlnClassNumber"])] = {"chosen": row["chosen"] == "True",
                                                "reason": row.get("reason", "").strip()}
    return source, verdicts


def review_data(inputs: ReviewInputs, out_dir: str | os.PathLike[str],
                decisions: ReviewDecisions = ReviewDecisions()) -> dict:
    """Everything the page shows, as one JSON-able dict; writes the thumbnails it names
    under ``out_dir/thumbs/`` (only those missing or older than their micrograph)."""
    mics = read_micrographs_star(inputs.micrographs_star)
    qc = _qc_columns(mics, inputs)
    threshold = run_threshold(inputs.template_dir)
    entries, picks, log_picks = [], [], []
    for i, name in enumerate(mics.names):
        template = _picks(inputs.template_dir, name, inputs.pickname, with_fom=True)
        picks.append(template)
        log_picks.append(_picks(inputs.log_dir, name, inputs.pickname, with_fom=False))
        entries.append(_entry(i, name, qc, log_picks[-1], out_dir))
    foms = [f for p in picks if p for f in p[2]]
    if threshold is None:
        threshold = min(foms, default=0.0)
    return {
        "title": inputs.micrographs_star, "pixel_a": mics.pixel_size_a,
        "diameter_px": inputs.particle_diameter_a / mics.pixel_size_a,
        # the slider's top: the 99th percentile of the FOMs (a few very strong picks would
        # squeeze the useful range into the slider's first steps)
        "threshold_run": threshold,
        "threshold_max": float(np.quantile(foms, 0.99)) if foms else threshold + 1.0,
        "density_spread": DENSITY_SPREAD, "dark_flag_fraction": DARK_FLAG_FRACTION,
        "ctf_columns": [dict(zip(("key", "label", "title", "digits"), (k, *_CTF_DISPLAY[k])))
                        for k in CTF_LABELS if k in qc],
        "decisions": {"threshold": decisions.threshold,
                      "exclude": list(decisions.exclude_micrographs),
                      "lines": decisions.describe()},
        "mics": entries, "picks": picks, "log_picks": log_picks,
        **_classes(inputs.templates_dir),
    }


def write_review_page(inputs: ReviewInputs, out_html: str | os.PathLike[str],
                      decisions: ReviewDecisions = ReviewDecisions()) -> dict:
    """Write the review page (and its thumbnails beside it); returns the page's data."""
    out_html = Path(out_html)
    data = review_data(inputs, out_html.parent, decisions)
    with atomic_output(out_html) as tmp:
        tmp.write_text(render_page(data))
    n_picks = sum(len(p[0]) for p in data["picks"] if p)
    logger.info("wrote %s (%d micrographs, %d template picks, %d classes)", out_html,
                len(data["mics"]), n_picks, len(data["classes"]))
    return data


def render_page(data: dict) -> str:
    """The page's HTML with ``data`` (as :func:`review_data` makes it) inlined."""
    template = resources.files("cryopick.review").joinpath("page.html").read_text()
    # "</" inside the inlined JSON would end the script element
    text = json.dumps(data, separators=(",", ":"), allow_nan=False).replace("</", "<\\/")
    return template.replace("__TITLE__", _escape(data["title"])).replace("__DATA__", text)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _qc_columns(mics: MicrographSet, inputs: ReviewInputs) -> dict[str, np.ndarray]:
    """The template job's QC table (its qc.star), or the same computed from its files."""
    path = Path(inputs.template_dir) / "qc.star"
    loops = read_star_loops(path) if path.is_file() else {}
    if "micrographs" in loops and list(loops["micrographs"]["rlnMicrographName"]) == mics.names:
        table = loops["micrographs"]
        return {label: table[label] for label in table.columns}
    skipped = loops.get("skipped_micrographs")
    bad = dict(zip(skipped["rlnMicrographName"], skipped["cryopickSkipReason"])) \
        if skipped is not None else {}
    return qc_table(mics, inputs.template_dir,
                    [coordinate_path(inputs.template_dir, name, inputs.pickname)
                     for name in mics.names], bad)


def _picks(odir: str, name: str, pickname: str, with_fom: bool) -> list | None:
    """``[x, y(, fom)]`` of one micrograph's picks (integer pixels), None without a file."""
    path = coordinate_path(odir, name, pickname)
    if not path.is_file():
        return None
    table = read_coordinates(path)
    columns = [np.rint(table["rlnCoordinateX"].to_numpy(float)).astype(int).tolist(),
               np.rint(table["rlnCoordinateY"].to_numpy(float)).astype(int).tolist()]
    if with_fom:
        columns.append(table["rlnAutopickFigureOfMerit"].to_numpy(float).tolist())
    return columns


def _number(value: object) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def _entry(i: int, name: str, qc: dict[str, np.ndarray], log_picks: list | None,
           out_dir: str | os.PathLike[str]) -> dict:
    """One micrograph's row of the page: QC figures and its thumbnail."""
    reason = str(qc["cryopickSkipReason"][i]) if "cryopickSkipReason" in qc else ""
    thumb, size, scale = _thumbnail(name, Path(out_dir)) if not reason else (None, (1, 1), 1.0)
    return {
        "name": name, "short": Path(name).stem, "thumb": thumb, "tw": size[1], "th": size[0],
        "scale": scale, "reason": reason,
        "ctf": {k: _number(qc[k][i]) for k in CTF_LABELS if k in qc},
        "log": len(log_picks[0]) if log_picks else None,
        "removed_std": _number(qc["cryopickRemovedByStddevNoise"][i]),
        "removed_avg": _number(qc["cryopickRemovedByAvgNoise"][i]),
        "mean": _number(qc["cryopickImageMean"][i]), "std": _number(qc["cryopickImageStd"][i]),
        "dark": _number(qc["cryopickDarkFraction"][i]),
    }


def _thumbnail(name: str, out_dir: Path) -> tuple[str, tuple[int, int], float]:
    """``thumbs/<post w/o ext>.jpg`` (relative to the page), its (h, w) and its pixels per
    micrograph pixel (the micrograph block-averaged by a whole factor); made only when missing
    or older than the micrograph."""
    import mrcfile
    from PIL import Image

    relative = Path("thumbs") / (os.path.splitext(post_name(name))[0] + ".jpg")
    path = out_dir / relative
    with mrcfile.open(name, header_only=True, permissive=True) as mrc:
        ny, nx = int(mrc.header.ny), int(mrc.header.nx)
    step = max(1, math.ceil(max(ny, nx) / THUMBNAIL_PX))
    shape = (ny // step, nx // step)
    if path.is_file() and path.stat().st_mtime_ns >= Path(name).stat().st_mtime_ns:
        return relative.as_posix(), shape, 1.0 / step
    image = read_micrograph(name)
    small = block_mean(image, step)
    lo, hi = np.percentile(small, [0.5, 99.5])
    grey = np.clip((small - lo) / max(hi - lo, 1e-12) * 255.0, 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(grey).save(buffer, format="JPEG", quality=85)
    with atomic_output(path) as tmp:
        tmp.write_bytes(buffer.getvalue())
    return relative.as_posix(), shape, 1.0 / step


def _classes(templates_dir: str) -> dict:
    """The class gallery: each class of the model the templates came from, with its share,
    resolution, whether it was chosen and why (none when the decisions are missing)."""
    from cryopick.classification.class_selection import read_class_averages
    from PIL import Image

    decisions = Path(templates_dir) / "decisions.txt"
    if not decisions.is_file():
        return {"classes": [], "class_source": ""}
    source, verdicts = read_class_verdicts(decisions)
    table, images, _ = read_class_averages(source)
    classes = []
    for row, image in zip(table.itertuples(index=False), images):
        number = int(row.rlnClassNumber)
        lo, hi = float(image.min()), float(image.max())
        grey = ((image - lo) / max(hi - lo, 1e-12) * 255.0).astype(np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(grey).save(buffer, format="PNG")
        verdict = verdicts.get(number, {"chosen": False, "reason": "not judged"})
        classes.append({"number": number, "share": float(row.rlnClassDistribution),
                        "resolution": _number(row.rlnEstimatedResolution),
                        "chosen": verdict["chosen"], "reason": verdict["reason"],
                        "img": "data:image/png;base64,"
                               + base64.b64encode(buffer.getvalue()).decode("ascii")})
    classes.sort(key=lambda c: (not c["chosen"], -c["share"]))
    return {"classes": classes, "class_source": source}
