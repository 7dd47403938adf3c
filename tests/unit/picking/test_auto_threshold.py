"""The automatic picking threshold from the distribution of peak figures of merit."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from cryopick.errors import InputError
from cryopick.picking.auto_threshold import choose_threshold, plot_fom_histogram, \
    read_threshold, write_threshold


def test_the_cut_falls_in_the_valley_between_noise_and_particles():
    rng = np.random.default_rng(0)
    for share in (0.05, 0.3, 0.6):  # particle peaks among all peaks
        n_particles = int(share * 2000)
        noise = rng.gumbel(-0.8, 0.2, 2000 - n_particles)
        particles = rng.normal(1.0, 0.35, n_particles)
        choice = choose_threshold(np.concatenate([noise, particles]))
        assert choice.method == "valley"
        kept, noise_kept = np.sum(particles >= choice.threshold), np.sum(noise >= choice.threshold)
        recall, precision = kept / n_particles, kept / (kept + noise_kept)
        assert 2 * recall * precision / (recall + precision) > 0.9, (share, choice)


def test_without_particles_about_one_noise_peak_passes():
    rng = np.random.default_rng(1)
    for scale in (0.1, 1.0, 10.0):  # the rule does not depend on the FOM's units
        symmetric = rng.normal(0.3 * scale, 0.25 * scale, 3000)
        choice = choose_threshold(symmetric)
        assert choice.method == "null"
        assert np.sum(symmetric >= choice.threshold) <= 5, (scale, choice)
        # maxima of many noise values: a Gumbel's heavier upper tail, seen in the mode's skew
        # (measured on 3000 peaks, so the cut lies between the Gumbel's and the Gaussian's)
        skewed = rng.gumbel(0.3 * scale, 0.25 * scale, 3000)
        choice = choose_threshold(skewed)
        assert choice.method == "null"
        assert np.sum(skewed >= choice.threshold) <= 30, (scale, choice)


def test_when_nothing_stands_out_of_the_noise_the_fallback_is_used_and_named():
    rng = np.random.default_rng(7)
    noise = rng.normal(0.3, 1.3, 974)  # as a real micrograph's FOMs with no clear particles
    assert choose_threshold(noise).method == "null"
    choice = choose_threshold(noise, fallback=0.8)
    assert (choice.method, choice.threshold) == ("fallback", 0.8)
    assert "fallback" in choice.describe()
    # particles that stand out keep the null's cut, fallback or not
    particles = rng.normal(8.0, 1.0, 40)
    with_particles = choose_threshold(np.concatenate([noise, particles]), fallback=0.8)
    assert with_particles.method != "fallback"
    assert np.sum(particles >= with_particles.threshold) >= 38


def test_a_symmetric_noise_mode_does_not_push_the_cut_into_the_particles():
    # as the template FOMs of a sparse two-species set: 7000 noise peaks in a narrow,
    # near-symmetric mode (a little longer below), 200 particles spread thinly above it
    rng = np.random.default_rng(6)
    noise = np.concatenate([rng.normal(-0.7, 0.1, 6000), rng.normal(-0.85, 0.2, 1000)])
    particles = rng.uniform(-0.2, 2.5, 200)
    choice = choose_threshold(np.concatenate([noise, particles]))
    assert choice.method == "null", choice
    kept, noise_kept = np.sum(particles >= choice.threshold), np.sum(noise >= choice.threshold)
    assert kept / len(particles) > 0.95 and noise_kept <= 10, (choice, kept, noise_kept)


def test_a_tail_of_junk_above_the_noise_is_cut_at_its_own_valley():
    # as a sparse set with much empty ice and contamination: a narrow noise mode, a tail of
    # junk peaks falling from it, and the particles' mode above, far lower than the noise's
    for seed in range(4):
        rng = np.random.default_rng(seed)
        noise = rng.gumbel(-0.8, 0.06, 4000)
        junk = -0.45 + rng.exponential(0.2, 150)
        particles = rng.normal(1.0, 0.3, 150)
        choice = choose_threshold(np.concatenate([noise, junk, particles]))
        assert choice.method == "tail valley", choice
        assert "between junk and particles" in choice.describe()
        kept = np.sum(particles >= choice.threshold)
        wrong = np.sum(junk >= choice.threshold) + np.sum(noise >= choice.threshold)
        assert kept >= 0.95 * len(particles) and wrong <= 0.1 * len(junk), (choice, kept, wrong)


def test_the_choice_round_trips_and_is_drawn(tmp_path):
    rng = np.random.default_rng(2)
    foms = np.concatenate([rng.gumbel(-1, 0.2, 500), rng.normal(1, 0.3, 100)])
    choice = choose_threshold(foms)
    write_threshold(tmp_path / "t.yaml", choice)
    assert read_threshold(tmp_path / "t.yaml") == choice
    plot_fom_histogram(foms, choice, "test", tmp_path / "h.png")
    assert (tmp_path / "h.png").stat().st_size > 0
    with pytest.raises(InputError, match="missing.yaml"):
        read_threshold(tmp_path / "missing.yaml")
    with pytest.raises(InputError, match="≥ 10 peaks"):
        choose_threshold(foms[:5])


def test_too_few_peaks_keep_every_pick_or_take_the_fallback(tmp_path):
    """A tiny subset (a handful of LoG picks) has no distribution to cut: the run goes on,
    keeping every pick, or with the optimisation pass's threshold, and says so."""
    from cryopick.picking.auto_threshold import threshold_or_keep

    foms = np.array([0.3, 0.9, 1.2, np.nan, 0.5, 2.0])
    keep = threshold_or_keep(foms)
    assert keep.method == "too few" and keep.threshold == 0.3 and keep.n_peaks == 5
    assert "too few peaks" in keep.describe()
    assert threshold_or_keep(foms, fallback=0.8).threshold == 0.8
    assert threshold_or_keep(np.zeros(0)).n_peaks == 0
    write_threshold(tmp_path / "t.yaml", keep)
    again = read_threshold(tmp_path / "t.yaml")
    assert (again.threshold, again.method) == (0.3, "too few") and np.isnan(again.noise_mode)
    plot_fom_histogram(foms[np.isfinite(foms)], keep, "few", tmp_path / "h.png")
    assert (tmp_path / "h.png").stat().st_size > 0


def test_background_outliers_are_limited_relative_to_the_micrograph():
    from cryopick.picking.template import FomMaps, TemplatePickParams, \
        background_outlier_limits
    from cryopick.picking.working_size import working_size

    rng = np.random.default_rng(3)
    size = working_size(400, 300, 1.0, -1.0, 1.0, False)
    w = size.w
    for scale in (0.5, 2.0):  # the same limits in units of the micrograph's own spread
        stddev = (1.0 + 0.02 * rng.normal(size=(w, w))) * scale
        avg = 0.1 * rng.normal(size=(w, w)) * scale
        maps = FomMaps([], [], [], stddev.astype(np.float32), avg.astype(np.float32), size)
        off = background_outlier_limits(maps, 400, 300, TemplatePickParams())
        assert off == (-1.0, -999.0)  # RELION's flags, untouched
        max_std, min_avg = background_outlier_limits(
            maps, 400, 300, TemplatePickParams(auto_noise_mads=2.5))
        assert max_std == pytest.approx(scale * 1.05, rel=0.01)
        assert min_avg == pytest.approx(-0.25 * scale, abs=0.02 * scale)
        tight = background_outlier_limits(maps, 400, 300, TemplatePickParams(
            auto_noise_mads=2.5, max_stddev_noise=0.1, min_avg_noise=5.0))
        assert tight == (0.1, 5.0)  # RELION's flags still apply where they are stricter


def test_particles_that_show_only_as_a_shoulder_are_cut_from_the_noise():
    rng = np.random.default_rng(4)
    noise, particles = rng.gumbel(0.2, 0.25, 1500), rng.normal(1.6, 0.7, 400)
    choice = choose_threshold(np.concatenate([noise, particles]))
    kept, noise_kept = np.sum(particles >= choice.threshold), np.sum(noise >= choice.threshold)
    recall, precision = kept / len(particles), kept / (kept + noise_kept)
    assert 2 * recall * precision / (recall + precision) > 0.8, choice


def test_log_picks_below_the_cut_are_dropped_from_their_files(tmp_path):
    import pandas as pd

    from cryopick.io.star import read_coordinates, write_coordinates
    from cryopick.picking.auto_threshold import ThresholdChoice, threshold_pick_files
    from cryopick.picking.log import log_params_from_config

    paths = []
    for i, foms in enumerate(([0.1, 2.0, 3.0], [0.2, 0.3])):
        paths.append(tmp_path / f"m{i}_autopick.star")
        write_coordinates(paths[-1], pd.DataFrame({
            "rlnCoordinateX": np.arange(len(foms)) * 50.0, "rlnCoordinateY": 10.0,
            "rlnAutopickFigureOfMerit": foms}))
    choice = ThresholdChoice(1.0, "valley", 0.2, 0.1, 5)
    assert threshold_pick_files(paths, choice) == (2, 5)
    assert read_coordinates(paths[0])["rlnAutopickFigureOfMerit"].tolist() == [2.0, 3.0]
    assert len(read_coordinates(paths[1])) == 0
    params = log_params_from_config({"diameter_min_a": 100, "diameter_max_a": 120,
                                     "auto_threshold": True})
    assert params.diameter_max_a == 120
    with pytest.raises(TypeError):
        log_params_from_config({"diameter_min_a": 100, "diameter_max_a": 120, "typo": 1})


def test_peaks_far_below_the_noise_do_not_raise_the_null_cut():
    rng = np.random.default_rng(5)
    noise = rng.gumbel(0.3, 0.25, 3000)
    clean = choose_threshold(noise)
    # 5 % of the peaks on carbon edges and contamination, FOMs far below the noise
    with_outliers = choose_threshold(np.concatenate([noise, rng.normal(-1.5, 0.4, 150)]))
    assert with_outliers.method == clean.method == "null"
    # the null is fitted to the noise mode's half widths: a lower side's RMS would nearly
    # triple the noise width (0.30 to 0.86) and put the cut three times as far above the noise
    rise = with_outliers.threshold - clean.threshold
    assert rise < 0.25 * (clean.threshold - clean.noise_mode), (clean, with_outliers)


def _maps_with_carbon(rng, ice_picks, carbon_picks):
    """Working-grid maps of a 480 px micrograph: ice (tight background statistics) with the
    rims of contamination blobs (wide: 30 % of the area) and a carbon film (25 %: a little
    higher std, a little lower mean); FOM peaks on a grid over the ice and on the carbon."""
    from cryopick.picking.template import FomMaps
    from cryopick.picking.working_size import working_size

    size = working_size(480, 480, 1.0, -1.0, 1.0, False)
    w = size.w
    stddev = 1.0 + 0.01 * rng.normal(size=(w, w))
    avg = 0.02 * rng.normal(size=(w, w))
    rim = np.zeros((w, w), bool)
    rim[:144, :360] = True
    stddev[rim], avg[rim] = rng.uniform(1.0, 1.4, rim.sum()), rng.uniform(-0.6, 0.1, rim.sum())
    stddev[:, 360:], avg[:, 360:] = 1.07, -0.12
    fom = np.zeros((w, w))
    yy, xx = np.mgrid[:w, :w]
    for y, x in [*ice_picks, *carbon_picks]:
        fom = np.maximum(fom, 2.0 * np.exp(-((yy - y) ** 2 + (xx - x) ** 2) / 8.0))
    maps = FomMaps([fom.astype(np.float32)], [np.zeros((w, w), np.float32)], [1.0],
                   stddev.astype(np.float32), avg.astype(np.float32), size)
    return maps


def test_picks_on_carbon_are_outliers_of_the_picks_backgrounds_not_of_the_area():
    from cryopick.picking.references import TemplateSet
    from cryopick.picking.template import TemplatePickParams, peaks_from_maps

    rng = np.random.default_rng(6)
    ice = [(y, x) for y in range(170, 460, 40) for x in range(30, 340, 40)]
    carbon = [(200, 400), (300, 420), (420, 400)]
    maps = _maps_with_carbon(rng, ice, carbon)
    templates = TemplateSet(np.zeros((1, 32, 32), np.float32), 32, 144, 452, 32.0)
    area = TemplatePickParams(threshold=0.5, min_distance_a=20, auto_noise_mads=2.5)

    def picked(params, maps=maps):
        table = peaks_from_maps(maps, 480, 480, 1.0, templates, params)
        return {(int(y), int(x)) for y, x in table[["rlnCoordinateY", "rlnCoordinateX"]]
                .to_numpy()}

    # the rims widen the area's MADs: the carbon's background is no outlier of the area
    assert picked(area) == set(ice) | set(carbon)
    # the picks lie mostly on ice, and carbon is an outlier of their backgrounds
    assert picked(dataclasses.replace(area, auto_noise_pick_mads=3.0)) == set(ice)
    # too few picks to say what the ice looks like: the area's limits alone
    few = _maps_with_carbon(rng, ice[:8], carbon)
    assert picked(dataclasses.replace(area, auto_noise_pick_mads=3.0), few) == \
        set(ice[:8]) | set(carbon)
