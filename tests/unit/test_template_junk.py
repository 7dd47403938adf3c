"""Template choice rejects every kind of junk class, at every size and share of the particles.

Class averages are simulated (tests/class_junk.py): views of the simulator's asymmetric
particle beside one junk class that holds from 5 % to 70 % of the particles and has the best
estimated resolution, so that only what the class average shows can reject it.
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np
import pandas as pd
import pytest
from class_junk import (JUNK_KINDS, JUNK_SIZES, MASK_R, PIXEL_A, junk, lobed_view, shell_view,
                        views)

from cryopick.classification.class_features import (ClassGeometry, FeatureLimits, class_features,
                                                     junk_reason)
from cryopick.classification.class_selection import NoTemplateError, SelectionCriteria, choose_classes

SHARES = (0.05, 0.4, 0.7)
PASSED = ("distinct view", "enough templates")  # verdicts of classes that are not junk


@functools.cache
def _views(diameter_a: float) -> tuple[np.ndarray, ...]:
    return tuple(views(diameter_a, 3))


def _model(images: list[np.ndarray], shares: list[float], resolutions: list[float]):
    table = pd.DataFrame({"rlnClassNumber": np.arange(1, len(images) + 1),
                          "rlnClassDistribution": shares,
                          "rlnEstimatedResolution": resolutions})
    return table, np.stack(images)


def _geometry(diameter_a: float) -> ClassGeometry:
    return ClassGeometry(PIXEL_A, MASK_R, diameter_a / (2 * PIXEL_A))


@pytest.mark.parametrize("diameter_a", [110.0, 180.0])
@pytest.mark.parametrize("kind", JUNK_KINDS)
def test_junk_is_never_a_template_whatever_its_size_and_share(kind, diameter_a):
    real = list(_views(diameter_a))
    for size in JUNK_SIZES:
        bad = junk(kind, size, seed=int(100 * size))
        for share in SHARES:
            rest = (1.0 - share) / len(real)
            table, images = _model([bad, *real], [share] + [rest] * len(real),
                                   [14.0] + [25.0] * len(real))
            # one template: the views are not compared with each other (that costs 44 ms each)
            choice = choose_classes(table, images, SelectionCriteria(n_templates=1),
                                    _geometry(diameter_a))
            verdict = choice.table.set_index("rlnClassNumber")
            assert verdict.loc[1, "reason"] not in PASSED, (kind, size, share,
                                                            verdict.loc[1].to_dict())
            assert verdict.loc[2:, "reason"].isin(PASSED).all(), (kind, size, share,
                                                                  verdict["reason"])


@pytest.mark.parametrize("shift_px", [(0.0, 0.0), (3.0, -2.0), (-4.0, 0.0)])
def test_views_whose_lobes_do_not_join_are_views_also_off_the_box_centre(shift_px):
    # a large ring's side views: separate lobes out to 0.85 of the mask, a few px off centre
    images = [lobed_view(rotation, shift_px, lobe, seed=i)
              for i, (rotation, lobe) in enumerate([(0, 1.8), (30, 2.2), (75, 2.8)])]
    table, stack = _model(images, [0.4, 0.3, 0.3], [25.0] * 3)
    choice = choose_classes(table, stack, SelectionCriteria(n_templates=1),
                            ClassGeometry(PIXEL_A, MASK_R, 0.9 * MASK_R))
    assert choice.table["reason"].isin(PASSED).all(), choice.table.to_dict("records")
    assert (choice.table["scattered"] < 0.05).all() and (choice.table["solvent"] < 0.1).all()


@pytest.mark.parametrize("diameter_a", [110.0, 180.0])
def test_a_hollow_shell_is_a_view_though_round_and_flat_along_its_rim(diameter_a):
    shells = [shell_view(diameter_a, wall, blur, seed=i)
              for i, (wall, blur) in enumerate([(0.3, 1.5), (0.3, 3.0), (0.45, 1.5)])]
    table, stack = _model(shells, [0.4, 0.3, 0.3], [25.0] * 3)
    criteria = SelectionCriteria(n_templates=1)
    choice = choose_classes(table, stack, criteria, _geometry(diameter_a))
    assert choice.table["reason"].isin(PASSED).all(), choice.table.to_dict("records")
    # no in-plane structure, and the rim is a plateau: the radial dip alone tells them apart
    assert (choice.table["anisotropy"] < 0.2).all() and (choice.table["plateau"] > 0.45).all()
    assert (choice.table["radial_dip"] > 0.25).all()
    flat = dataclasses.replace(criteria, limits=dataclasses.replace(criteria.limits,
                                                                    hollow_dip=9.0))
    with pytest.raises(NoTemplateError):
        choose_classes(table, stack, flat, _geometry(diameter_a))


def test_a_shallow_textured_shell_view_is_structured_and_a_flat_disc_is_not():
    # features measured on two classes of one simulated project (150 Å shell, 1.6 Å/px): the
    # shell's top view dips by 0.12 at 25 Å, the featureless disc of empty-ice picks does not
    common = {"snr": 100.0, "scattered": 0.0, "edge": 0.0, "offcentre": 0.05, "solvent": 0.0}
    shell = {**common, "anisotropy": 0.135, "radial_dip": 0.124, "plateau": 0.362}
    disc = {**common, "anisotropy": 0.151, "radial_dip": 0.001, "plateau": 0.599}
    limits = FeatureLimits()
    assert junk_reason(shell, limits) == ""
    assert junk_reason(disc, limits) == "featureless disc/blob"
    assert junk_reason(shell, dataclasses.replace(limits, min_radial_dip=0.15)) != ""


@pytest.mark.parametrize(("diameter_a", "wall"), [(110.0, 0.45), (180.0, 0.65)])
def test_a_thick_walled_shell_whose_rim_is_blurred_flat_is_still_a_view(diameter_a, wall):
    image = shell_view(diameter_a, wall, blur_px=3.0)
    features = class_features(image, _geometry(diameter_a))
    # rotationally symmetric, flat along its rim, and dipping less than a thin shell
    assert features["anisotropy"] < 0.1 and features["plateau"] > 0.6
    assert 0.12 <= features["radial_dip"] < 0.18
    assert junk_reason(features, FeatureLimits()) == ""


def test_a_flat_rimmed_shell_view_is_hollow_and_the_deepest_featureless_disc_is_not():
    # features measured on simulated projects' classes at 25 Å: a 220 Å shell's top view, flat
    # along a smooth rim (truth NCC 0.98), and the featureless disc that dips the most of all
    # the stored projects' discs (a class of empty-ice and off-centre picks)
    common = {"snr": 100.0, "scattered": 0.0, "edge": 0.0, "offcentre": 0.04, "solvent": 0.0}
    shell = {**common, "anisotropy": 0.077, "radial_dip": 0.147, "plateau": 0.627}
    disc = {**common, "anisotropy": 0.194, "radial_dip": 0.078, "plateau": 0.718}
    limits = FeatureLimits()
    assert junk_reason(shell, limits) == ""
    assert junk_reason(disc, limits) == "featureless disc/blob"
    assert junk_reason(shell, dataclasses.replace(limits, hollow_dip=0.18)) == \
        "featureless disc/blob"


@pytest.mark.parametrize("kind", JUNK_KINDS)
def test_a_classification_of_junk_alone_gives_no_template(kind):
    images = [junk(kind, size, seed=i) for i, size in enumerate(JUNK_SIZES)]
    table, stack = _model(images, [0.2] * 5, [14.0] * 5)
    with pytest.raises(NoTemplateError) as err:
        choose_classes(table, stack, SelectionCriteria(), _geometry(180.0))
    assert (err.value.choice.table["reason"] != "").all()


def test_classes_whose_particles_align_poorly_are_dropped():
    real = list(_views(180.0))
    table, images = _model(real, [0.3, 0.3, 0.4], [25.0] * 3)
    pmax = pd.Series({1: 0.6, 2: 0.5, 3: 0.05})
    choice = choose_classes(table, images, SelectionCriteria(), _geometry(180.0), pmax=pmax)
    verdict = choice.table.set_index("rlnClassNumber")
    assert verdict.loc[3, "reason"].startswith("aligns poorly")
    assert verdict.loc[[1, 2], "chosen"].all()


def test_listed_junk_is_kept_with_its_verdict_beside_it():
    table, images = _model([junk("disc", 0.7), *_views(180.0)], [0.4, 0.2, 0.2, 0.2],
                           [14.0] + [25.0] * 3)
    choice = choose_classes(table, images, SelectionCriteria(), _geometry(180.0), classes=[1])
    verdict = choice.table.set_index("rlnClassNumber")
    assert verdict["chosen"].tolist() == [True, False, False, False]
    assert verdict.loc[1, "reason"] == "listed (looks like: featureless disc/blob)"
