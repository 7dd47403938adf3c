"""The automatic picking threshold from the distribution of peak figures of merit."""

from __future__ import annotations

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
