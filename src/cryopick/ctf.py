"""The contrast transfer function, as RELION evaluates it (``CTF::getCTF``)."""

from __future__ import annotations

import math

import numpy as np

from cryopick.backend import Array, Backend, backend_of
from cryopick.io.star import CtfParams

__all__ = ["astigmatism", "ctf_2d", "electron_wavelength_a", "finish_ctf"]


def electron_wavelength_a(voltage_kv):
    """Relativistic electron wavelength in Å for an acceleration voltage in kV (a number or
    a NumPy array of them)."""
    volts = voltage_kv * 1e3
    return 12.2643247 / np.sqrt(volts * (1.0 + volts * 0.978466e-6))


def astigmatism(c, s, defocus_u_a, defocus_v_a):
    """``(a11, a12, a22)`` of ``A = -Rᵀ diag(ΔfU, ΔfV) R``, R the rotation by the defocus angle
    (``c, s`` its cosine and sine): the defocus term of γ is ``uᵀAu``. Numbers or arrays."""
    du, dv = defocus_u_a, defocus_v_a
    return -(c * c * du + s * s * dv), -(c * s * (du - dv)), -(s * s * du + c * c * dv)


def finish_ctf(ctf: Array, gamma: Array, intact_first_peak: bool) -> Array:
    """RELION's last steps: 1 before the first peak (``|γ| < π/2``) with
    ``intact_first_peak``, ``|CTF| < 1e-8`` made ±1e-8; float32."""
    xp = backend_of(ctf).xp
    if intact_first_peak:
        ctf = xp.where(xp.abs(gamma) < math.pi / 2.0, xp.ones_like(ctf), ctf)
    tiny = 1e-8
    floor = xp.where(ctf < 0, xp.zeros_like(ctf) - tiny, xp.zeros_like(ctf) + tiny)
    return xp.astype(xp.where(xp.abs(ctf) < tiny, floor, ctf), xp.float32)


def ctf_2d(params: CtfParams, box_px: int, pixel_size_a: float, bk: Backend,
           intact_first_peak: bool = False, damping: bool = True,
           full: bool = False) -> Array:
    """CTF on the half-complex grid of a ``box_px`` transform (``full=True``: whole grid).

    Frequencies are ``(kx, ky)/(box·pixel)`` in 1/Å, with RELION's sign (-sin γ), astigmatism,
    phase shift, B-factor damping and scale; values with ``|CTF| < 1e-8`` become ±1e-8.
    ``intact_first_peak`` sets the CTF to 1 where ``|γ| < π/2`` (before its first peak).
    """
    xp = bk.xp
    dev = bk.device_kw
    lam = float(electron_wavelength_a(params.voltage_kv))
    cs_a = params.cs_mm * 1e7
    q0 = params.amplitude_contrast
    phase = math.radians(params.phase_shift_deg)
    k1 = math.pi / 2.0 * cs_a * lam**3
    k2 = math.pi * lam
    k3 = math.atan(q0 / math.sqrt(1.0 - q0 * q0))
    k4 = -params.bfactor_a2 / 4.0
    n = box_px
    ky = xp.arange(n, dtype=xp.float64, **dev)
    ky = xp.where(ky > n // 2, ky - n, ky)
    kx_len = n if full else n // 2 + 1
    kx = xp.arange(kx_len, dtype=xp.float64, **dev)
    if full:
        kx = xp.where(kx > n // 2, kx - n, kx)
    u = kx[None, :] / (n * pixel_size_a)
    v = ky[:, None] / (n * pixel_size_a)
    angle = math.radians(params.defocus_angle_deg)
    c, s = math.cos(angle), math.sin(angle)
    a11, a12, a22 = astigmatism(c, s, params.defocus_u_a, params.defocus_v_a)
    u2 = u * u + v * v
    quad = a11 * u * u + 2.0 * a12 * u * v + a22 * v * v
    gamma = k2 * quad + k1 * u2 * u2 - phase - k3
    ctf = -xp.sin(gamma)
    if damping and k4 != 0.0:
        ctf = ctf * xp.exp(k4 * u2)
    return finish_ctf(ctf * params.scale, gamma, intact_first_peak)
