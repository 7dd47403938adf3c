"""The pandas-free STAR tables: parsing what RELION writes, agreeing with starfile, writing."""

import numpy as np
import pandas as pd
import pytest

from cryopick.errors import InputError
from cryopick.io.loop import Loop, read_star_loops
from cryopick.io.star import format_star, read_star, write_star

RELION_TEXT = """
# version 30001

data_optics

loop_
_rlnOpticsGroupName #1
_rlnOpticsGroup #2
_rlnMicrographPixelSize #3
opticsGroup1            1     0.885000
 

# version 30001

data_general

_rlnNrClasses                      3
_rlnTau2FudgeFactor         2.000000
_rlnComment                       ""

# version 30001

data_particles

loop_
_rlnImageName #1
_rlnCoordinateX #2
_rlnClassNumber #3
_rlnAnglePsi #4
"000001@Extract/a b.mrcs"   -3.50000   1  1.000000e-04
000002@Extract/c.mrcs  1e6   2  nan
'' 7 3 -0.5
"""


def test_blocks_types_quotes_and_list_blocks(tmp_path):
    path = tmp_path / "x.star"
    path.write_text(RELION_TEXT)
    blocks = read_star_loops(path)
    assert list(blocks) == ["optics", "general", "particles"]
    general = blocks["general"]
    assert len(general) == 1 and general.row(0) == {"rlnNrClasses": 3,
                                                    "rlnTau2FudgeFactor": 2.0, "rlnComment": ""}
    particles = blocks["particles"]
    assert particles.columns == ["rlnImageName", "rlnCoordinateX", "rlnClassNumber",
                                 "rlnAnglePsi"]
    assert list(particles["rlnImageName"]) == ["000001@Extract/a b.mrcs",
                                               "000002@Extract/c.mrcs", ""]
    assert particles["rlnClassNumber"].dtype == np.int64
    assert particles["rlnCoordinateX"].dtype == np.float64
    np.testing.assert_array_equal(particles["rlnCoordinateX"], [-3.5, 1e6, 7.0])
    assert np.isnan(particles["rlnAnglePsi"][1])


def test_agrees_with_starfile_and_writes_the_same_text(tmp_path):
    """Columns, dtypes and values as starfile reads them; written back byte for byte."""
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"rlnCoordinateX": rng.uniform(0, 4000, 50),
                          "rlnCoordinateY": rng.uniform(0, 4000, 50),
                          "rlnAutopickFigureOfMerit": rng.normal(size=50),
                          "rlnClassNumber": rng.integers(0, 9, 50),
                          "rlnMicrographName": [f"MotionCorr/job002/Movies/m{k}.mrc"
                                                for k in range(50)]})
    write_star(tmp_path / "c.star", {"": frame})
    ours = next(iter(read_star_loops(tmp_path / "c.star").values()))
    theirs = next(iter(read_star(tmp_path / "c.star").values()))
    assert ours.columns == list(theirs.columns)
    for label in ours.columns:
        assert ours[label].dtype.kind == ("O" if theirs[label].dtype.kind not in "iuf"
                                          else theirs[label].dtype.kind)
        assert list(ours[label]) == list(theirs[label])
    pd.testing.assert_frame_equal(ours.to_frame(), theirs, check_dtype=False)
    assert format_star({"": ours}) == format_star({"": frame})


def test_loop_columns_rows_and_joins():
    a = Loop({"x": [1.0, 2.0], "name": ["p", "q"]})
    a["group"] = 1  # one value for every row
    b = Loop({"x": [3.0], "extra": [7]})
    joined = Loop.concat([a, b])
    assert joined.columns == ["x", "name", "group", "extra"] and len(joined) == 3
    assert list(joined["name"]) == ["p", "q", ""] and list(joined["extra"]) == [0, 0, 7]
    assert list(joined.take([2, 0])["x"]) == [3.0, 1.0]
    long = a.copy()
    long["name"] = ["a much longer name", "q"]  # text columns never truncate
    assert long["name"][0] == "a much longer name" and a["name"][0] == "p"
    with pytest.raises(ValueError, match="3 rows"):
        a["x"] = [1.0, 2.0, 3.0]
    assert list(Loop.from_frame(joined.to_frame())["extra"]) == [0, 0, 7]


@pytest.mark.parametrize("text, message", [
    ("data_\nloop_\n_rlnA #1\n_rlnB #2\n1 2\n3\n", "line 6: 1 values for 2 labels"),
    ("loop_\n_rlnA #1\n1\n", "line 1: expected data_"),
    ("# nothing\n", "no data blocks"),
    ("data_x\n_rlnA\n", "line 2: _rlnA has no value"),
])
def test_malformed_files_are_named_with_the_line(tmp_path, text, message):
    path = tmp_path / "bad.star"
    path.write_text(text)
    with pytest.raises(InputError, match=message) as err:
        read_star_loops(path)
    assert str(path) in str(err.value)
    with pytest.raises(InputError, match="not found"):
        read_star_loops(tmp_path / "missing.star")
