"""Compare two runs of the demo workflow (e.g. CuPy against NumPy): the templates chosen,
the automatic thresholds, the final particles (how many lie within 1 px of the other run's)
and the F1 of each against the simulator's truth. Usage::

    python benchmarks/compare_demo.py RUN_A RUN_B
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from common import truth_positions
from scipy.spatial import cKDTree

from cryopick.io.star import read_star
from cryopick.metrics import PickScore, score_picks

XY = ["rlnCoordinateX", "rlnCoordinateY"]


def summary(run: Path) -> dict:
    decisions = (run / "Select/templates4autopick/decisions.txt").read_text().splitlines()
    thresholds = re.findall(r"threshold auto: ([-0-9.]+)",
                            (run / "AutoPick/template/note.txt").read_text())
    particles = read_star(run / "Extract/template/particles.star")["particles"]
    return {"templates": decisions[1], "threshold": thresholds[0] if thresholds else "?",
            "particles": particles}


def main() -> None:
    a, b = (Path(p) for p in sys.argv[1:3])
    sa, sb = summary(a), summary(b)
    for name, s in ((a, sa), (b, sb)):
        print(f"{name}: {s['templates']}; final threshold {s['threshold']}; "
              f"{len(s['particles'])} particles")
    sim = json.loads((a / "Demo/simulation.json").read_text())["config"]
    radius = 0.25 * sim["particle_diameter_a"] / sim["pixel_size_a"]  # a quarter diameter
    matched, f1 = 0, {a: PickScore(0, 0, 0), b: PickScore(0, 0, 0)}
    for mic, pa in sa["particles"].groupby("rlnMicrographName"):
        pb = sb["particles"][sb["particles"]["rlnMicrographName"] == mic]
        if len(pb):
            dist, _ = cKDTree(pb[XY].to_numpy(float)).query(pa[XY].to_numpy(float))
            matched += int((dist <= 1.0).sum())
        truth = truth_positions(a, mic)
        for run, table in ((a, pa), (b, pb)):
            f1[run] = f1[run] + score_picks(table[XY].to_numpy(float),
                                            truth, radius)
    print(f"{matched} of {len(sa['particles'])} particles of {a} lie within 1 px of one of "
          f"{b}'s {len(sb['particles'])}")
    for run, s in f1.items():
        print(f"{run}: P {s.precision:.3f} R {s.recall:.3f} F1 {s.f1:.3f} against the truth")


if __name__ == "__main__":
    main()
