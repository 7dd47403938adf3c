"""One unreadable micrograph among many: skipped and listed (default), or the run stops."""

from __future__ import annotations

import base64
import re
import subprocess

import numpy as np
import pandas as pd
import pytest
import yaml

from cryopick.io.mrc import write_mrc
from cryopick.io.star import read_star, write_star
from support import make_blob_micrograph
from test_slurm import _slurm_run, needs_slurm
from test_workflow_project import SNAKEMAKE

pytestmark = pytest.mark.workflow
STAGES = ["select_micrographs", "autopick_log", "Extract/LoG/particles.star"]
BAD = {"MotionCorr/job002/Movies/truncated.mrc": "not a valid MRC file",
       "MotionCorr/job002/Movies/nan.mrc": "contains NaN",
       "MotionCorr/job002/Movies/missing.mrc": "micrograph not found"}


def _project(root, policy: str | None):
    """Two good blob micrographs and a truncated, a NaN and a missing one, all selected."""
    image, _ = make_blob_micrograph()
    names = ["MotionCorr/job002/Movies/good1.mrc", *BAD, "MotionCorr/job002/Movies/good2.mrc"]
    for k, name in enumerate(names):
        if "missing" in name:
            continue
        data = np.roll(image, 40 * k, axis=1)
        if "nan" in name:
            data[100:110, 200:210] = np.nan
        write_mrc(root / name, data, 2.0)
        if "truncated" in name:
            size = (root / name).stat().st_size
            with open(root / name, "r+b") as f:
                f.truncate(size // 2)
    optics = pd.DataFrame({"rlnOpticsGroupName": ["g1"], "rlnOpticsGroup": [1],
                           "rlnMicrographPixelSize": [2.0], "rlnVoltage": [300.0],
                           "rlnSphericalAberration": [2.7], "rlnAmplitudeContrast": [0.1]})
    write_star(root / "mics.star", {"optics": optics, "micrographs": pd.DataFrame(
        {"rlnMicrographName": names, "rlnOpticsGroup": 1})})
    config = {"micrographs_star": "mics.star", "backend": "numpy",
              "select": {"first_n": len(names)},
              "autopick_log": {"diameter_min_a": 110, "diameter_max_a": 140}}
    if policy:
        config["on_bad_micrograph"] = policy
    (root / "config.yaml").write_text(yaml.safe_dump(config))
    return [*SNAKEMAKE, "--directory", str(root), "--configfile", str(root / "config.yaml")]


@pytest.mark.parametrize("where", ["local", pytest.param("slurm", marks=needs_slurm)])
def test_bad_micrographs_are_skipped_listed_and_left_out_of_what_follows(tmp_path, where):
    base = _project(tmp_path, None)  # the default: skip
    command = [*base, "--cores", "2", *STAGES] if where == "local" else \
        _slurm_run(tmp_path, *STAGES)
    run = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    qc = read_star(tmp_path / "AutoPick/LoG/qc.star")["skipped_micrographs"]
    reasons = dict(zip(qc["rlnMicrographName"], qc["cryopickSkipReason"]))
    assert set(reasons) == set(BAD)
    for name, why in BAD.items():
        assert reasons[name].startswith(name) and why in reasons[name], reasons[name]
    movies = tmp_path / "AutoPick/LoG/Movies"
    assert sorted(p.name for p in movies.glob("*.star")) == ["good1_autopick.star",
                                                              "good2_autopick.star"]
    particles = read_star(tmp_path / "Extract/LoG/particles.star")["particles"]
    assert set(particles["rlnMicrographName"]) == {"MotionCorr/job002/Movies/good1.mrc",
                                                   "MotionCorr/job002/Movies/good2.mrc"}
    report = subprocess.run([*base, "--report", "report.html", *STAGES], capture_output=True,
                            text=True, timeout=300)
    assert report.returncode == 0, report.stderr[-3000:]
    html = (tmp_path / "report.html").read_text(errors="replace")
    embedded = [base64.b64decode(data).decode(errors="replace")
                for data in re.findall(r"base64,([A-Za-z0-9+/=]+)", html)]
    assert any("missing.mrc: micrograph not found" in text for text in embedded)


def test_with_fail_a_bad_micrograph_stops_the_run_naming_the_file(tmp_path):
    base = _project(tmp_path, "fail")
    run = subprocess.run([*base, "--cores", "2", *STAGES], capture_output=True, text=True,
                         timeout=300)
    assert run.returncode != 0
    # checked before any picking: the first unreadable one in the STAR file is named
    assert "InputError: MotionCorr/job002/Movies/missing.mrc: micrograph not found" in \
        run.stderr, run.stderr[-3000:]
    assert not list((tmp_path / "AutoPick/LoG/Movies").glob("*.star"))
    assert not (tmp_path / "Extract/LoG/particles.star").exists()
