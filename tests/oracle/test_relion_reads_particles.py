"""relion_refine accepts our particles.star and stacks: one short 2D classification iteration."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cryopick.extraction import CoordinateFiles, ExtractJob, ExtractParams, run_extraction
from cryopick.io.mrc import write_mrc
from cryopick.io.star import read_micrographs_star, write_coordinates, write_star
from support import needs_relion

pytestmark = [needs_relion, pytest.mark.relion]

PIXEL_A = 2.0


@pytest.fixture
def extracted(tmp_path, monkeypatch) -> Path:
    """20 particles of 64 px (4 Å/px) extracted by cryopick from two blob micrographs."""
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(5)
    names = ["MotionCorr/job002/Movies/a.mrc", "MotionCorr/job002/Movies/b.mrc"]
    yy, xx = np.mgrid[:600, :640]
    for name in names:
        centres = rng.uniform(80, [520, 560], size=(10, 2))
        image = rng.normal(0.0, 1.0, yy.shape)
        for y, x in centres:
            image -= 1.5 * np.exp(-((yy - y) ** 2 + (xx - x) ** 2) / (2 * 18.0**2))
        write_mrc(name, image.astype(np.float32), PIXEL_A)
        write_coordinates(f"AutoPick/job006/Movies/{Path(name).stem}_autopick.star",
                          pd.DataFrame({"rlnCoordinateX": centres[:, 1],
                                        "rlnCoordinateY": centres[:, 0]}))
    optics = pd.DataFrame({"rlnOpticsGroupName": ["opticsGroup1"], "rlnOpticsGroup": [1],
                           "rlnMicrographOriginalPixelSize": [PIXEL_A], "rlnVoltage": [300.0],
                           "rlnSphericalAberration": [2.7], "rlnAmplitudeContrast": [0.1],
                           "rlnMicrographPixelSize": [PIXEL_A]})
    mics = pd.DataFrame({"rlnMicrographName": names, "rlnOpticsGroup": 1,
                         "rlnDefocusU": [15000.0, 20000.0], "rlnDefocusV": [14000.0, 19500.0],
                         "rlnDefocusAngle": [30.0, 60.0]})
    write_star("micrographs_ctf.star", {"optics": optics, "micrographs": mics})
    params = ExtractParams(128, 64, normalise=True, bg_radius_px=24, invert_contrast=True)
    run_extraction(read_micrographs_star("micrographs_ctf.star"),
                   CoordinateFiles("AutoPick/job006/", "_autopick.star"), params,
                   ExtractJob("Extract/job007/", "Extract/job007/particles.star"))
    return tmp_path


def test_relion_refine_runs_one_2d_iteration_on_our_particles(extracted):
    Path("Class2D/job008").mkdir(parents=True)
    result = subprocess.run(
        ["relion_refine", "--i", "Extract/job007/particles.star", "--o", "Class2D/job008/run",
         "--K", "2", "--iter", "1", "--particle_diameter", "200", "--ctf", "--tau2_fudge", "2",
         "--psi_step", "12", "--offset_range", "5", "--offset_step", "2", "--j", "1",
         "--random_seed", "1", "--dont_combine_weights_via_disc", "--zero_mask",
         "--flatten_solvent"], check=False, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert Path("Class2D/job008/run_it001_model.star").is_file()
    data = Path("Class2D/job008/run_it001_data.star").read_text()
    assert data.count("@Extract/job007/Movies/") == 20
