"""Automatic template selection and RELION-style re-centring."""

import numpy as np
import pandas as pd
import pytest
from scipy import ndimage

from cryopick.classification.class_features import ClassGeometry, FeatureLimits, junk_reason
from cryopick.classification.class_selection import COLLAPSED, SelectionCriteria, \
    below_resolution_limit, choose_classes, read_class_averages, recenter, resolution_limit_a, rotational_similarity, \
    write_templates
from cryopick.classification.kernels import center_of_mass
from cryopick.errors import InputError
from cryopick.io.mrc import read_image_stack, write_mrc
from cryopick.io.star import read_star, write_star

N = 48
GEOMETRY = ClassGeometry(pixel_a=3.54, mask_radius_px=20, particle_radius_px=18)


def _blobs(*specs):
    yy, xx = np.mgrid[:N, :N] - N // 2
    return sum(a * np.exp(-((yy - y) ** 2 + (xx - x) ** 2) / (2 * s * s))
               for y, x, s, a in specs).astype(np.float32)


@pytest.fixture
def model(tmp_path, monkeypatch):
    """Eight classes: three distinct views, a rotated duplicate, off-centre, noise, tiny, and a
    contamination disc filling the mask."""
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    view_a = _blobs((0, 0, 5, 1), (-9, 7, 3, 0.9))
    images = [view_a,
              _blobs((0, -6, 4, 1), (0, 6, 4, 1)),
              _blobs((0, 0, 8, 0.8), (8, 8, 2.5, 0.8), (-8, -8, 2.5, 0.8)),
              ndimage.rotate(view_a, 120, reshape=False, order=1),
              _blobs((14, 14, 5, 1)),
              0.02 * rng.normal(size=(N, N)),
              _blobs((0, 0, 6, 1), (5, -8, 3, 1)),
              np.where(np.hypot(*np.mgrid[:N, :N] - N // 2) < 20, 1.0, 0.0)]  # contamination
    write_mrc("Class2D/job008/run_it025_classes.mrcs", np.stack(images).astype(np.float32),
              3.54, stack=True)
    table = pd.DataFrame({
        "rlnReferenceImage": [f"{i:06d}@Class2D/job008/run_it025_classes.mrcs"
                              for i in range(1, 9)],
        "rlnClassDistribution": [0.2, 0.2, 0.15, 0.2, 0.1, 0.095, 0.005, 0.05],
        "rlnAccuracyRotations": [3.0] * 8, "rlnAccuracyTranslationsAngst": [1.0] * 8,
        "rlnEstimatedResolution": [10.0, 11.0, 12.0, 10.0, 14.0, 40.0, 12.0, 12.0]})
    write_star("Class2D/job008/run_it025_model.star",
               {"model_general": {"rlnReferenceDimensionality": 2}, "model_classes": table})
    return tmp_path


def test_automatic_choice_keeps_distinct_good_views(model):
    table, images, pixel = read_class_averages("Class2D/job008/run_it025_model.star")
    assert pixel == pytest.approx(3.54)
    choice = choose_classes(table, images, SelectionCriteria(n_templates=4), GEOMETRY)
    chosen = choice.table.loc[choice.table["chosen"], "rlnClassNumber"].tolist()
    assert sorted(chosen) == [1, 2, 3]
    reasons = dict(zip(choice.table["rlnClassNumber"], choice.table["reason"]))
    assert reasons[4].startswith("same view as class 1")
    # class 5's mass sits at the mask edge, 0.99 mask radii off the centre
    assert reasons[5].startswith(("off-centre", "density at the mask edge"))
    assert reasons[6] == "low resolution"
    assert reasons[7] == "few particles"
    assert reasons[8].startswith("density at the mask edge")


def test_listed_classes_are_taken_as_given(model):
    table, images, _ = read_class_averages("Class2D/job008/run_it025_model.star")
    choice = choose_classes(table, images, SelectionCriteria(), GEOMETRY, classes=[5, 2])
    assert choice.table.loc[choice.table["chosen"], "rlnClassNumber"].tolist() == [2, 5]
    with pytest.raises(InputError, match="do not exist"):
        choose_classes(table, images, SelectionCriteria(), GEOMETRY, classes=[9])


def test_recentred_templates_are_written_as_relion_does(model):
    table, images, pixel = read_class_averages("Class2D/job008/run_it025_model.star")
    choice = choose_classes(table, images, SelectionCriteria(), GEOMETRY, classes=[5])
    write_templates(table, images, choice, pixel, "Select/job009/class_averages.star", True)
    rows = read_star("Select/job009/class_averages.star")[""]
    assert rows["rlnReferenceImage"].tolist() == ["000001@Select/job009/class_averages.mrcs"]
    assert rows["rlnClassNumber"].tolist() == [5]
    centred = read_image_stack("Select/job009/class_averages.mrcs")[0]
    assert np.hypot(*center_of_mass(centred)) < 0.5


def test_recentring_moves_the_centre_of_mass_to_the_centre():
    image = _blobs((6, -4, 3, 1))
    assert np.allclose(center_of_mass(image), (6, -4), atol=0.05)
    assert np.hypot(*center_of_mass(recenter(image))) < 0.3


def test_rotational_similarity_finds_rotated_copies():
    a = _blobs((0, 0, 5, 1), (-9, 7, 3, 0.9))
    b = _blobs((0, -6, 4, 1), (0, 6, 4, 1))
    assert rotational_similarity(a, ndimage.rotate(a, 75, reshape=False, order=1)) > 0.95
    assert rotational_similarity(a, b) < 0.85


def test_model_without_classes_block_is_named(tmp_path):
    write_star(tmp_path / "x.star", {"model_general": {"rlnReferenceDimensionality": 2}})
    with pytest.raises(InputError, match="data_model_classes"):
        read_class_averages(tmp_path / "x.star")


@pytest.mark.parametrize("diameter_a, kept", [(127.0, False), (318.0, True)])
def test_the_resolution_limit_follows_the_particle_size(model, diameter_a, kept):
    """A view at 36 Å is coarse for a 127 Å particle but reads clearly for a 318 Å one: the
    limit is max(max_resolution_a, 2× Nyquist, diameter / 8)."""
    table, images, pixel = read_class_averages("Class2D/job008/run_it025_model.star")
    table["rlnEstimatedResolution"] = 36.0
    table.loc[table["rlnClassNumber"] != 1, "rlnEstimatedResolution"] = 20.0
    geometry = ClassGeometry(pixel_a=pixel, mask_radius_px=20,
                             particle_radius_px=diameter_a / (2 * pixel))
    assert resolution_limit_a(SelectionCriteria(), geometry) == \
        pytest.approx(max(30.0, 4 * pixel, diameter_a / 8))
    choice = choose_classes(table, images, SelectionCriteria(n_templates=4), geometry)
    reasons = dict(zip(choice.table["rlnClassNumber"], choice.table["reason"]))
    assert (reasons[1] != "low resolution") == kept


def test_when_no_class_reaches_the_resolution_limit_the_views_are_judged_by_their_image(model):
    """A classification low-resolution as a whole (no CTF, few particles): its classes that
    look like views are kept, said to be below the limit; the others keep their verdict."""
    table, images, pixel = read_class_averages("Class2D/job008/run_it025_model.star")
    table["rlnEstimatedResolution"] = 60.0
    geometry = ClassGeometry(pixel_a=pixel, mask_radius_px=20, particle_radius_px=127 / (2 * pixel))
    choice = choose_classes(table, images, SelectionCriteria(n_templates=4), geometry).table
    assert choice["chosen"].any()
    assert choice.loc[choice["chosen"], "reason"].str.endswith(
        "(below the resolution limit, as most views are)").all()
    assert (choice.loc[~choice["chosen"], "reason"] != "").all()
    looks = [junk_reason(row, FeatureLimits()) == "" for row in choice.to_dict("records")]
    assert all(looks[i] for i in np.flatnonzero(choice["chosen"].to_numpy()))


def test_a_small_class_that_reaches_the_limit_does_not_turn_the_other_views_away(model):
    """The limit is relaxed as long as the views below it hold more particles than the
    classes that reach it: one small class's estimate is no measure of the classification."""
    table, images, pixel = read_class_averages("Class2D/job008/run_it025_model.star")
    table["rlnEstimatedResolution"] = 60.0
    geometry = ClassGeometry(pixel_a=pixel, mask_radius_px=20, particle_radius_px=127 / (2 * pixel))
    relaxed = choose_classes(table, images, SelectionCriteria(n_templates=4), geometry).table
    views = relaxed.loc[relaxed["chosen"], "rlnClassNumber"].tolist()
    assert len(views) >= 2
    small = table["rlnClassNumber"] == views[-1]
    table.loc[small, "rlnEstimatedResolution"] = 20.0
    table.loc[small, "rlnClassDistribution"] = 0.03
    choice = choose_classes(table, images, SelectionCriteria(n_templates=4), geometry).table
    chosen = set(choice.loc[choice["chosen"], "rlnClassNumber"])
    assert set(views[:-1]) <= chosen
    # the same class holding most of the particles: a classification that reaches the limit
    others = table.loc[~small, "rlnClassDistribution"]
    table.loc[~small, "rlnClassDistribution"] = 0.4 * others / others.sum()
    table.loc[small, "rlnClassDistribution"] = 0.6
    choice = choose_classes(table, images, SelectionCriteria(n_templates=4), geometry).table
    assert set(choice.loc[choice["chosen"], "rlnClassNumber"]) == {views[-1]}


@pytest.mark.parametrize("box, pixel_a, shells_kept", [
    (64, 2.86, {6: True, 5: False, 7: True}),    # 30 Å lies at shell 6.1: 30.5 Å passes
    (48, 3.54, {6: True, 5: False}),             # 30 Å lies at shell 5.66: 34.0 Å does not
    (256, 1.0, {10: True, 9: True, 8: False}),   # 8.53: the nearest shell is 9 (28.4 Å)
])
def test_the_resolution_limit_is_applied_in_fourier_shells(box, pixel_a, shells_kept):
    """Class resolutions are shells of the class average (box·pixel/s Å): the limit is met
    by a class resolving the shell nearest to it, whatever side of it that shell lies on."""
    shells = np.array(sorted(shells_kept))
    low = below_resolution_limit(box * pixel_a / shells, 30.0, box, pixel_a)
    assert dict(zip(shells.tolist(), (~low).tolist())) == shells_kept


def test_one_class_holding_nearly_every_particle_is_a_collapse_not_a_view(model):
    """A classification that put 90 % of the particles into one class averaged every kind of
    pick together: however particle-like that average looks, it is not a view."""
    table, images, _ = read_class_averages("Class2D/job008/run_it025_model.star")
    table["rlnClassDistribution"] = [0.9] + [0.1 / 7] * 7
    choice = choose_classes(table, images, SelectionCriteria(n_templates=4), GEOMETRY)
    verdicts = choice.table.set_index("rlnClassNumber")
    assert verdicts.loc[1, "reason"] == COLLAPSED and not verdicts.loc[1, "chosen"]
    # two classes may split 90/10 for real (a dominant view): the rule needs three or more
    two = choose_classes(table.iloc[:2].assign(rlnClassDistribution=[0.9, 0.1]), images[:2],
                         SelectionCriteria(n_templates=4), GEOMETRY)
    assert two.table.set_index("rlnClassNumber").loc[1, "chosen"]


def test_a_view_much_fainter_than_the_others_is_not_a_template(model):
    """Class averages share one intensity scale: a view at a third of the others' contrast
    averages few particles with many empty-ice picks, and its FOMs (divided by its small
    expected excess) would dwarf the other templates'."""
    table, images, _ = read_class_averages("Class2D/job008/run_it025_model.star")
    images = images.copy()
    images[2] *= 0.3
    choice = choose_classes(table, images, SelectionCriteria(n_templates=4), GEOMETRY)
    verdicts = choice.table.set_index("rlnClassNumber")
    assert sorted(verdicts.index[verdicts["chosen"]]) == [1, 2]
    assert verdicts.loc[3, "reason"].startswith("faint")
    images[2] /= 0.3 / 0.7  # at 0.7 of the others it stays
    choice = choose_classes(table, images, SelectionCriteria(n_templates=4), GEOMETRY)
    assert choice.table.set_index("rlnClassNumber").loc[3, "chosen"]


@pytest.mark.parametrize("share", [0.02, 0.15])
def test_a_view_far_denser_than_the_main_view_is_contamination(model, share):
    """At low SNR a class of ice or contamination specks outshines every particle view; judged
    against the strongest view, the real views would all look faint. A class several times
    denser than the view holding most particles goes first, whatever its share below the main
    view's; the views then stay."""
    table, images, _ = read_class_averages("Class2D/job008/run_it025_model.star")
    table["rlnClassDistribution"] = [0.2, 0.2, share, 0.2, 0.1, 0.095, 0.005, 0.05]
    images = images.copy()
    images[2] *= 6.0 * np.sqrt(np.mean(images[0] ** 2) / np.mean(images[2] ** 2))
    choice = choose_classes(table, images, SelectionCriteria(n_templates=4), GEOMETRY)
    verdicts = choice.table.set_index("rlnClassNumber")
    assert sorted(verdicts.index[verdicts["chosen"]]) == [1, 2]
    assert verdicts.loc[3, "reason"].startswith("far denser than the typical view")
    # within the ratio a denser view stays, and it is the fainter views that go (as before)
    choice = choose_classes(table, images, SelectionCriteria(n_templates=4,
                                                             max_contrast_ratio=10.0), GEOMETRY)
    verdicts = choice.table.set_index("rlnClassNumber")
    assert verdicts.loc[3, "chosen"] and verdicts.loc[1, "reason"].startswith("faint")


def _two_species():
    """Three views of a small particle (alike, below the same-view limit) holding most
    particles, then a top and a side view of a large seven-lobed ring."""
    small = [_blobs((0, -4, 2.2, 1), (0, 4, 2.2, 1), extra)
             for extra in ((5, 0, 2, 0.8), (-5, 2, 2, 0.8), (4, 5, 2, 0.8))]
    angles = np.arange(7) * 2 * np.pi / 7
    ring = _blobs(*[(12 * np.sin(a), 12 * np.cos(a), 2.5, 0.9) for a in angles])
    side = _blobs(*[(y, x, 2.5, 0.9) for y in (-4, 4) for x in (-12, -4, 4, 12)])
    table = pd.DataFrame({"rlnClassNumber": range(1, 6),
                          "rlnClassDistribution": [0.25, 0.22, 0.2, 0.12, 0.1],
                          "rlnEstimatedResolution": [12.0] * 5})
    return table, np.stack(small + [ring, side])


def test_diversity_gives_the_second_species_a_template_before_more_views_of_the_first():
    table, images = _two_species()
    # the premise: the small particle's views are alike, and unlike the ring's
    assert min(rotational_similarity(images[0], images[i]) for i in (1, 2)) > 0.55
    assert max(rotational_similarity(images[0], images[i]) for i in (3, 4)) < 0.25

    def chosen(diversity):
        choice = choose_classes(table, images,
                                SelectionCriteria(n_templates=2, diversity=diversity), GEOMETRY)
        return choice.table.loc[choice.table["chosen"], "rlnClassNumber"].tolist()

    assert chosen(0.0) == [1, 2]  # by score alone: two views of the small particle
    assert chosen(1.0) == [1, 4]  # the ring's top view comes before a second small view


def test_a_higher_diversity_prefers_a_rare_second_species_to_a_third_like_view():
    table, images = _two_species()
    table["rlnClassDistribution"] = [0.25, 0.22, 0.2, 0.06, 0.05]  # the ring is rare

    def chosen(diversity):
        choice = choose_classes(table, images,
                                SelectionCriteria(n_templates=2, diversity=diversity), GEOMETRY)
        return choice.table.loc[choice.table["chosen"], "rlnClassNumber"].tolist()

    # class 3 is 0.58 like class 1 and holds 3.3x the ring top view's share (0.15 like it):
    # 0.2 x 0.42 > 0.06 x 0.85 at diversity 1, but 0.2 x 0.42**2 < 0.06 x 0.85**2 at 2
    assert chosen(1.0) == [1, 3]
    assert chosen(2.0) == [1, 4]


def test_listed_classes_leave_a_verdict_on_every_class_that_the_review_page_reads(model, tmp_path):
    from cryopick.review.page import read_class_verdicts
    from cryopick.workflow.templates import _write_decisions

    table, images, _ = read_class_averages("Class2D/job008/run_it025_model.star")
    choice = choose_classes(table, images, SelectionCriteria(), GEOMETRY, classes=[5, 2])
    reasons = dict(zip(choice.table["rlnClassNumber"], choice.table["reason"]))
    assert reasons[1] == reasons[3] == "not listed (looks like a view)"
    assert (choice.table["reason"] != "").all()
    _write_decisions(str(tmp_path / "decisions.txt"), ["templates: listed"], choice,
                     "Class2D/job008/run_it025_model.star")
    source, verdicts = read_class_verdicts(tmp_path / "decisions.txt")
    assert source == "Class2D/job008/run_it025_model.star"
    assert {c for c, v in verdicts.items() if v["chosen"]} == {2, 5}
    assert verdicts[1]["reason"] == "not listed (looks like a view)"
    assert verdicts[5]["reason"].startswith("listed (looks like:")


def test_a_faint_view_unlike_every_other_is_a_lighter_species_and_stays():
    """A ring of two thirds of a dumbbell's diameter carries about a third of its mass: its top
    view is faint beside the dumbbell's, but no other template finds rings. A faint view unlike
    every other kept view is kept; a faint view like another (test above) is not."""
    table, images = _two_species()
    images = images[[0, 3]].copy()
    table = table.iloc[[0, 3]].reset_index(drop=True).assign(rlnClassNumber=[1, 2],
                                                             rlnClassDistribution=[0.5, 0.2])
    images[1] *= 0.3 * np.sqrt(np.mean(images[0] ** 2) / np.mean(images[1] ** 2))
    assert rotational_similarity(images[0], images[1]) < 0.25  # the premise: unlike views
    choice = choose_classes(table, images, SelectionCriteria(n_templates=4), GEOMETRY)
    verdicts = choice.table.set_index("rlnClassNumber")
    assert verdicts.loc[2, "chosen"]
    assert verdicts.loc[2, "reason"].startswith("distinct view of a lighter species")
    strict = choose_classes(table, images, SelectionCriteria(n_templates=4, species_similarity=0),
                            GEOMETRY)
    verdicts = strict.table.set_index("rlnClassNumber")
    assert not verdicts.loc[2, "chosen"] and verdicts.loc[2, "reason"].startswith("faint")
    images[1] *= 0.15 / 0.3  # fainter than a quarter (1 / max_contrast_ratio): empty ice
    choice = choose_classes(table, images, SelectionCriteria(n_templates=4), GEOMETRY)
    verdicts = choice.table.set_index("rlnClassNumber")
    assert not verdicts.loc[2, "chosen"] and verdicts.loc[2, "reason"].startswith("faint")


def test_contrast_is_judged_against_the_typical_view_not_the_largest_class(model):
    """The class holding the largest share may be a faint one, mostly empty ice; three
    views alike in contrast, each 6× denser than it, are the particle, not specks. They stay
    and the faint class goes."""
    table, images, _ = read_class_averages("Class2D/job008/run_it025_model.star")
    table["rlnClassDistribution"] = [0.12, 0.12, 0.11, 0.2, 0.1, 0.095, 0.005, 0.05]
    images = images.copy()
    angles = np.arange(5) * 2 * np.pi / 5
    images[3] = _blobs(*[(10 * np.sin(a), 10 * np.cos(a), 2.5, 1) for a in angles])
    scale = np.sqrt(np.mean(images[0] ** 2) / np.mean(images[3] ** 2))
    images[3] *= scale / 6.0
    choice = choose_classes(table, images, SelectionCriteria(n_templates=4), GEOMETRY)
    verdicts = choice.table.set_index("rlnClassNumber")
    assert sorted(verdicts.index[verdicts["chosen"]]) == [1, 2, 3]
    assert verdicts.loc[4, "reason"].startswith("faint")
