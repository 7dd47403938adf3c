"""Pick matching and scores."""

import numpy as np
import pytest

from cryopick.metrics import agreement, match_picks, score_picks


def test_matching_is_one_to_one_and_nearest_first():
    truth = np.array([[0.0, 0.0], [10.0, 0.0]])
    picks = np.array([[1.0, 0.0], [2.0, 0.0], [30.0, 0.0]])
    pairs = match_picks(picks, truth, radius_px=9.0)
    assert pairs.tolist() == [[0, 0], [1, 1]]


def test_scores():
    truth = np.array([[0.0, 0.0], [50.0, 50.0], [100.0, 0.0], [0.0, 100.0]])
    picks = np.array([[1.0, 1.0], [52.0, 50.0], [200.0, 200.0]])
    score = score_picks(picks, truth, radius_px=5.0)
    assert (score.precision, score.recall) == (pytest.approx(2 / 3), 0.5)
    assert score.f1 == pytest.approx(2 * 2 / 7)
    assert score_picks(np.zeros((0, 2)), truth, 5.0).f1 == 0.0


def test_agreement_in_both_directions():
    a = np.array([[0.0, 0.0], [10.0, 10.0]])
    b = np.array([[0.5, 0.0]])
    assert agreement(a, b, 1.0) == (0.5, 1.0)
