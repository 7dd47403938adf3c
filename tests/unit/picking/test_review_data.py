"""The review page's data: rows, thumbnails and picks of a template-picking job, the class
verdicts of decisions.txt, and the inlined page."""

import json

import numpy as np
import pandas as pd
import pytest

from cryopick.io.star import read_coordinates, read_micrographs_star, write_star
from cryopick.picking.job import AutopickJob
from cryopick.picking.template import TemplatePickParams
from cryopick.picking.template_job import TemplateSpec, run_autopick_template
from cryopick.review.inputs import ReviewInputs
from cryopick.review.page import count_picks, read_class_verdicts, render_page, review_data
from test_template_job import project  # noqa: F401 -- the fixture: two micrographs, a reference

DECISIONS = """Template selection, automatic decisions:
templates: classes 2 of Class2D/LoG/run_it025_model.star

Classes of Class2D/LoG/run_it025_model.star:
 rlnClassNumber  rlnClassDistribution  rlnEstimatedResolution  pmax  chosen                                                         reason
              2                 0.291                    25.2  0.84    True                                                  distinct view
              1                 0.0676                   16.2  0.959  False density at the mask edge (contamination, carbon or neighbours)
"""


def test_class_verdicts_are_read_from_the_decisions_table(tmp_path):
    (tmp_path / "decisions.txt").write_text(DECISIONS)
    source, verdicts = read_class_verdicts(tmp_path / "decisions.txt")
    assert source == "Class2D/LoG/run_it025_model.star"
    assert verdicts == {2: {"chosen": True, "reason": "distinct view"},
                        1: {"chosen": False, "reason": "density at the mask edge "
                                                      "(contamination, carbon or neighbours)"}}
    (tmp_path / "decisions.txt").write_text("Template selection, automatic decisions:\n")
    with pytest.raises(ValueError, match="decisions.txt: no 'Classes of <model>:' table"):
        read_class_verdicts(tmp_path / "decisions.txt")


def test_count_picks_keeps_a_fom_at_the_threshold():
    assert count_picks(np.array([0.1, 0.25, 0.3]), 0.25) == 2
    assert count_picks(np.zeros(0), 0.0) == 0


def test_rows_thumbnails_and_picks_of_a_picking_job_with_a_bad_micrograph(project):
    mics = read_micrographs_star("mics.star")
    frame = mics.micrographs
    frame = pd.concat([frame, frame.iloc[:1].assign(rlnMicrographName="Movies/gone.mrc")])
    write_star("mics.star", {"optics": mics.optics, "micrographs": frame})
    (project / "A").mkdir()
    (project / "A/note.txt").write_text("cryopick autopick --threshold 0.3 --min_distance 60\n")
    run_autopick_template(read_micrographs_star("mics.star"),
                          TemplatePickParams(lowpass_a=20, angular_sampling_deg=15, shrink=0,
                                             threshold=0.3, min_distance_a=60),
                          TemplateSpec(references="refs.mrcs", invert=True),
                          AutopickJob(odir="A/", backend="numpy", record_qc=True,
                                      on_bad_micrograph="skip"))
    data = review_data(ReviewInputs("mics.star", "L/", "A/", "S/", 100.0), project / "Review")
    assert [m["name"] for m in data["mics"]] == ["Movies/m0.mrc", "Movies/m1.mrc",
                                                "Movies/gone.mrc"]
    assert data["threshold_run"] == 0.3 and data["diameter_px"] == 50.0
    assert data["classes"] == [] and data["ctf_columns"] == []
    gone = data["mics"][2]
    assert "micrograph not found" in gone["reason"] and gone["thumb"] is None
    assert data["picks"][2] is None and data["log_picks"] == [None, None, None]
    for i, entry in enumerate(data["mics"][:2]):
        assert (project / "Review" / entry["thumb"]).is_file()
        assert entry["scale"] * 480 == entry["tw"] == 480  # 480 px fit in one thumbnail
        picks = read_coordinates(f"A/Movies/m{i}_autopick.star")
        x, y, fom = data["picks"][i]
        assert fom == picks["rlnAutopickFigureOfMerit"].tolist()
        assert x == np.rint(picks["rlnCoordinateX"]).astype(int).tolist()
        assert count_picks(fom, 0.3) == len(picks) == 4
        assert entry["removed_std"] == 0 and entry["std"] > 0.9


def test_the_page_inlines_its_data_safely():
    data = {"title": "a<b", "mics": [{"name": "</script><script>alert(1)</script>"}]}
    html = render_page(data)
    assert "cryopick review: a&lt;b" in html
    inlined = html.split('id="review-data">', 1)[1].split("</script>", 1)[0]
    assert json.loads(inlined) == data
