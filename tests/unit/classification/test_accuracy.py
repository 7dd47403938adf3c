"""RELION's accuracy estimates: its C library random numbers, the error schedule, the estimate."""

from __future__ import annotations

import ctypes
import ctypes.util
import itertools

import numpy as np
import pytest

from cryopick.backend import get_backend
from cryopick.classification.accuracy import ANGLES, SHIFTS, class_accuracies, glibc_rand, \
    particle_order
from cryopick.classification.kernels import coefficient_list


def _libc():
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.gnu_get_libc_version  # only glibc has it
    except (OSError, AttributeError):
        return None
    return libc


@pytest.mark.skipif(_libc() is None, reason="not a glibc system")
@pytest.mark.parametrize("seed", [0, 1, 12, 2**31 + 5])
def test_rand_is_glibcs(seed):
    libc = _libc()
    libc.srand(ctypes.c_uint(seed))
    assert [libc.rand() for _ in range(500)] == list(itertools.islice(glibc_rand(seed), 500))


def test_error_schedules_step_as_relion_and_stop_past_their_limit():
    assert ANGLES[:4] == pytest.approx([0.05, 0.1, 0.15, 0.2]) and ANGLES[-1] == pytest.approx(30.1)
    assert SHIFTS[:2] == pytest.approx([0.1, 0.2]) and SHIFTS[-1] == pytest.approx(10.1)
    assert all(b > a for a, b in zip(ANGLES, ANGLES[1:]))


def test_order_is_shuffled_once_without_subsets_and_kept_by_a_later_iteration():
    first = particle_order(50, 3, 1, 2, False)
    assert sorted(first) == list(range(50)) and list(first) != list(range(50))
    assert list(particle_order(50, 3, 7, 2, False)) == list(first)
    assert list(particle_order(50, 0, 7, 2, False)) == list(range(50))
    assert list(particle_order(50, 3, 7, 2, False, first_iteration=7)) != list(first)


def _disc_refs(n: int) -> np.ndarray:
    yy, xx = np.mgrid[:n, :n] - n // 2
    blob = np.exp(-((yy - 3) ** 2 + xx**2 / 3.0) / 8.0) \
        + 0.5 * np.exp(-((yy + 4) ** 2 + (xx - 4) ** 2) / 4.0)
    return np.stack([blob, 0.3 * blob, blob]).astype(np.float32)


def test_weaker_references_and_more_noise_align_worse_and_rare_classes_get_999():
    n = 32
    refs, coeffs, bk = _disc_refs(n), coefficient_list(n), get_backend("numpy")
    sigma2 = np.full((1, n // 2 + 1), 1e-5)
    args = dict(sample=np.arange(4), psi_deg=np.array([0.0, 30.0, 60.0, 90.0]),
                group=np.zeros(4, int), ctf=None, coeffs=coeffs, size=n, pixel_a=2.0, seed=1,
                bk=bk)
    rot, trans = class_accuracies(refs, np.array([0.5, 0.495, 0.005]), sigma2, **args)
    assert rot[1] > rot[0] and trans[1] > trans[0]  # the same shape, a third of the signal
    assert rot[2] == trans[2] == 999.0  # under 1 % of the particles
    noisier, _ = class_accuracies(refs, np.full(3, 1 / 3), 4 * sigma2, **args)
    assert noisier[0] > rot[0]
