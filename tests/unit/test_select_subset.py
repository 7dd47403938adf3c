"""The micrograph subset sized by LoG picks (select.first_n: auto)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from support import make_blob_micrograph

from cryopick.errors import InputError
from cryopick.io.mrc import write_mrc
from cryopick.io.star import read_micrographs_star, write_star
from cryopick.picking.log import LogPickParams
from cryopick.picking.subset import plot_subset, select_by_picks

PARAMS = LogPickParams(diameter_min_a=110, diameter_max_a=140, seed_by_name=True)


@pytest.fixture
def mics(tmp_path, monkeypatch):
    """Four 600×720 micrographs with five blobs each, at 2 Å/px."""
    monkeypatch.chdir(tmp_path)
    image, _ = make_blob_micrograph()
    names = [f"Movies/m{i}.mrc" for i in range(4)]
    for i, name in enumerate(names):
        write_mrc(name, np.roll(image, 40 * i, axis=1), 2.0)
    write_star("mics.star", {
        "optics": pd.DataFrame({"rlnOpticsGroup": [1], "rlnMicrographPixelSize": [2.0],
                                "rlnVoltage": [300.0], "rlnSphericalAberration": [2.7],
                                "rlnAmplitudeContrast": [0.1]}),
        "micrographs": pd.DataFrame({"rlnMicrographName": names, "rlnOpticsGroup": 1})})
    return read_micrographs_star("mics.star")


def test_the_subset_grows_until_the_picks_reach_the_target(mics, tmp_path):
    selection, counts = select_by_picks(mics, PARAMS, target_picks=8, min_micrographs=1)
    assert len(counts) == 2 and sum(counts[:1]) < 8 <= sum(counts)
    assert selection.names == mics.names[:2]
    selection, counts = select_by_picks(mics, PARAMS, target_picks=8, min_micrographs=3)
    assert len(selection.names) == 3  # at least min_micrographs
    selection, counts = select_by_picks(mics, PARAMS, target_picks=10_000, min_micrographs=1)
    assert selection.names == mics.names  # never more than there are
    plot_subset(counts, 10_000, tmp_path / "subset.png")
    assert (tmp_path / "subset.png").stat().st_size > 0
    with pytest.raises(InputError, match="target_picks"):
        select_by_picks(mics, PARAMS, target_picks=0, min_micrographs=1)


@pytest.mark.parametrize(("target", "at_least"), [(8, 1), (8, 3), (10_000, 1)])
def test_counting_on_two_workers_stops_where_one_at_a_time_does(mics, target, at_least):
    one = select_by_picks(mics, PARAMS, target_picks=target, min_micrographs=at_least)
    two = select_by_picks(mics, PARAMS, target_picks=target, min_micrographs=at_least, jobs=2)
    assert two[1] == one[1] and two[0].names == one[0].names
