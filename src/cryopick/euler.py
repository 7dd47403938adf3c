"""RELION's Euler-angle convention (ZYZ, ``Euler_angles2matrix``)."""

from __future__ import annotations

import numpy as np

__all__ = ["euler_matrix"]


def euler_matrix(rot_deg: float, tilt_deg: float, psi_deg: float) -> np.ndarray:
    """RELION's ZYZ rotation matrix ``A`` (``Euler_angles2matrix``), a (3, 3) array.

    A point ``r`` = (x, y, z) of the map lies at ``A @ r`` in the frame of its projection.
    """
    a, b, g = np.deg2rad([rot_deg, tilt_deg, psi_deg])
    ca, sa, cb, sb, cg, sg = np.cos(a), np.sin(a), np.cos(b), np.sin(b), np.cos(g), np.sin(g)
    cc, cs, sc, ss = cb * ca, cb * sa, sb * ca, sb * sa
    return np.array([[cg * cc - sg * sa, cg * cs + sg * ca, -cg * sb],
                     [-sg * cc - cg * sa, -sg * cs + cg * ca, sg * sb],
                     [sc, ss, cb]])
