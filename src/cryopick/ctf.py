"""The contrast transfer function, as RELION evaluates it (``CTF::getCTF``)."""

from __future__ import annotations

import math

from cryopick.backend import Array, Backend
from cryopick.io.star import CtfParams

__all__ = ["ctf_2d", "electron_wavelength_a"]


def electron_wavelength_a(voltage_kv: float) -> float:
    """Relativistic electron wavelength in Å for an acceleration voltage in kV."""
    volts = voltage_kv * 1e3
    return 12.2643247 / math.sqrt(volts * (1.0 + volts * 0.978466e-6))


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
    lam = electron_wavelength_a(params.voltage_kv)
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
    du, dv = params.defocus_u_a, params.defocus_v_a
    # Q(u) = uᵀAu with A = -Rᵀ diag(ΔfU, ΔfV) R, R the rotation by the defocus angle
    a11 = -(c * c * du + s * s * dv)
    a12 = -(c * s * (du - dv))
    a22 = -(s * s * du + c * c * dv)
    u2 = u * u + v * v
    quad = a11 * u * u + 2.0 * a12 * u * v + a22 * v * v
    gamma = k2 * quad + k1 * u2 * u2 - phase - k3
    ctf = -xp.sin(gamma)
    if damping and k4 != 0.0:
        ctf = ctf * xp.exp(k4 * u2)
    ctf = ctf * params.scale
    if intact_first_peak:
        ctf = xp.where(xp.abs(gamma) < math.pi / 2.0, xp.ones_like(ctf), ctf)
    tiny = 1e-8
    floor = xp.where(ctf < 0, xp.zeros_like(ctf) - tiny, xp.zeros_like(ctf) + tiny)
    ctf = xp.where(xp.abs(ctf) < tiny, floor, ctf)
    return xp.astype(ctf, xp.float32)
