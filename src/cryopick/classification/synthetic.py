"""Small synthetic particle sets with known classes, for tests and benchmarks of 2D classification.

A few distinct 2D shapes, each a handful of Gaussian blobs, are drawn at random in-plane
rotations and small shifts, multiplied by a per-particle CTF (RELION's convention, random
defoci), buried in white noise and written as RELION 3.1 extraction output would be:
``particles.star`` (``data_optics`` + ``data_particles``) and one ``.mrcs`` stack per
"micrograph", with ``NNNNNN@stack`` image names.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np
import pandas as pd

from cryopick.backend import get_backend
from cryopick.ctf import ctf_2d
from cryopick.io.mrc import write_mrc
from cryopick.io.star import CtfParams, write_star

__all__ = ["SyntheticSet", "blob_shapes", "render_shape", "write_synthetic_particles"]

VOLTAGE_KV = 300.0
CS_MM = 2.7
AMPLITUDE_CONTRAST = 0.1


@dataclasses.dataclass(frozen=True)
class SyntheticSet:
    """What was simulated: the star file, the true shapes and each particle's truth."""

    star: Path
    shapes: np.ndarray  # (n_shapes, n, n) float32, centred, unrotated, CTF-free
    labels: np.ndarray  # (N,) int, index of the true shape
    psi_deg: np.ndarray  # (N,) in-plane angle used to draw each particle
    shifts_px: np.ndarray  # (N, 2) (y, x) shift of each particle's centre
    pixel_size_a: float


def blob_shapes(n_shapes: int, box_px: int, radius_px: float, seed: int = 0) -> list[np.ndarray]:
    """Blob lists for ``n_shapes`` distinct shapes: each row ``(y, x, sigma, amplitude)`` in px.

    Shapes are asymmetric (so every in-plane angle is distinguishable) and differ in the
    number, placement and size of their blobs; all fit inside ``radius_px`` of the centre.
    """
    rng = np.random.default_rng(seed)
    shapes = []
    for s in range(n_shapes):
        n_blobs = 3 + s % 3
        angles = np.sort(rng.uniform(0, 2 * np.pi, n_blobs)) + s
        dist = rng.uniform(0.35, 0.75, n_blobs) * radius_px
        sigma = rng.uniform(0.08, 0.15, n_blobs) * radius_px
        amp = rng.uniform(0.8, 1.2, n_blobs)
        blobs = np.column_stack([dist * np.sin(angles), dist * np.cos(angles), sigma, amp])
        # a faint central body keeps some mass near the centre
        body = [[0.0, 0.0, radius_px * (0.15 + 0.05 * s), 0.3]]
        shapes.append(np.vstack([body, blobs]))
    return shapes


def render_shape(blobs: np.ndarray, box_px: int, psi_deg: float = 0.0,
                 shift_px: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    """Draw a blob list into an ``(n, n)`` image, rotated by ψ and shifted by (y, x) px.

    Rotation follows RELION: the drawn image is ``T(Aᵀ r)`` with
    ``A = [[cos ψ, sin ψ], [−sin ψ, cos ψ]]`` acting on ``r = (x, y)``, so a blob at
    ``r0`` of the unrotated shape appears at ``A r0``. The centre is pixel ``n//2``.
    """
    n = box_px
    yy, xx = np.mgrid[:n, :n].astype(np.float64) - n // 2
    c, s = np.cos(np.deg2rad(psi_deg)), np.sin(np.deg2rad(psi_deg))
    image = np.zeros((n, n))
    for y0, x0, sigma, amp in blobs:
        x1 = c * x0 + s * y0 + shift_px[1]
        y1 = -s * x0 + c * y0 + shift_px[0]
        image += amp * np.exp(-((xx - x1) ** 2 + (yy - y1) ** 2) / (2 * sigma**2))
    return image.astype(np.float32)


def _apply_ctf(image: np.ndarray, params: CtfParams, pixel_a: float) -> np.ndarray:
    """Multiply a centred image by the CTF in Fourier space (RELION's centring and sign)."""
    n = image.shape[0]
    ctf = ctf_2d(params, n, pixel_a, get_backend("numpy"))
    f = np.fft.rfft2(np.fft.ifftshift(image))
    return np.fft.fftshift(np.fft.irfft2(f * ctf, s=(n, n))).astype(np.float32)


def write_synthetic_particles(out_dir: str | os.PathLike[str], n_particles: int = 120,
                              n_shapes: int = 3, box_px: int = 48, pixel_size_a: float = 3.0,
                              snr: float = 0.5, max_shift_px: float = 2.0,
                              n_micrographs: int = 3, ctf: bool = True, seed: int = 0,
                              defocus_range_a: tuple[float, float] = (8000.0, 25000.0),
                              ) -> SyntheticSet:
    """Simulate particles and write them as ``out_dir/Extract/job007/particles.star`` + stacks.

    Parameters
    ----------
    n_particles, n_shapes : int
        Total images, and how many distinct shapes they are drawn from (round robin).
    box_px, pixel_size_a : int, float
        Box size (even) and pixel size (Å).
    snr : float
        Ratio of signal variance (inside the particle) to noise variance (noise std 1).
    max_shift_px : float
        Particle centres are shifted uniformly within ± this, per axis.
    ctf : bool
        Apply a per-particle CTF (random astigmatic defocus in ``defocus_range_a``).

    Returns
    -------
    SyntheticSet with paths relative to ``out_dir`` in the STAR file (run from ``out_dir``).
    """
    out = Path(out_dir)
    rng = np.random.default_rng(seed)
    radius = 0.35 * box_px
    shapes = blob_shapes(n_shapes, box_px, radius, seed=seed)
    truth = np.stack([render_shape(b, box_px) for b in shapes])
    yy, xx = np.mgrid[:box_px, :box_px] - box_px // 2
    inside = yy**2 + xx**2 <= radius**2
    signal_std = float(np.std(truth[:, inside]))
    gain = np.sqrt(snr) / max(signal_std, 1e-12)
    labels = np.arange(n_particles) % n_shapes
    rng.shuffle(labels)
    psi = rng.uniform(0, 360, n_particles)
    shifts = rng.uniform(-max_shift_px, max_shift_px, (n_particles, 2))
    defocus_u = rng.uniform(*defocus_range_a, n_particles)
    defocus_v = defocus_u - rng.uniform(0, 500, n_particles)
    angle = rng.uniform(0, 180, n_particles)
    mic = np.arange(n_particles) % n_micrographs
    images = np.empty((n_particles, box_px, box_px), np.float32)
    for i in range(n_particles):
        image = render_shape(shapes[labels[i]], box_px, psi[i], tuple(shifts[i])) * gain
        if ctf:
            image = _apply_ctf(image, CtfParams(defocus_u[i], defocus_v[i], angle[i],
                                                VOLTAGE_KV, CS_MM, AMPLITUDE_CONTRAST),
                               pixel_size_a)
        images[i] = image + rng.normal(0, 1, (box_px, box_px))
    names = _write_stacks(out, images, mic, n_micrographs, pixel_size_a)
    star = out / "Extract/job007/particles.star"
    _write_particles_star(star, names, mic, defocus_u, defocus_v, angle, box_px, pixel_size_a,
                          shifts, ctf)
    return SyntheticSet(star, truth * gain, labels, psi, shifts, pixel_size_a)


def _write_stacks(out: Path, images: np.ndarray, mic: np.ndarray, n_mics: int,
                  pixel_a: float) -> list[str]:
    """One stack per micrograph; returns each particle's ``NNNNNN@stack`` name."""
    names = [""] * len(images)
    for m in range(n_mics):
        stack = f"Extract/job007/Movies/mic{m + 1:03d}.mrcs"
        members = np.flatnonzero(mic == m)
        write_mrc(out / stack, images[members], pixel_a, stack=True)
        for j, i in enumerate(members):
            names[i] = f"{j + 1:06d}@{stack}"
    return names


def _write_particles_star(star: Path, names: list[str], mic: np.ndarray, du: np.ndarray,
                          dv: np.ndarray, angle: np.ndarray, box: int, pixel_a: float,
                          shifts: np.ndarray, ctf: bool) -> None:
    optics = pd.DataFrame({
        "rlnOpticsGroupName": ["opticsGroup1"], "rlnOpticsGroup": [1],
        "rlnMicrographOriginalPixelSize": [pixel_a], "rlnVoltage": [VOLTAGE_KV],
        "rlnSphericalAberration": [CS_MM], "rlnAmplitudeContrast": [AMPLITUDE_CONTRAST],
        "rlnImagePixelSize": [pixel_a], "rlnImageSize": [box], "rlnImageDimensionality": [2]})
    table = pd.DataFrame({
        "rlnCoordinateX": 500.0 + 10 * np.arange(len(names)) - shifts[:, 1],
        "rlnCoordinateY": 600.0 - shifts[:, 0],
        "rlnImageName": names,
        "rlnMicrographName": [f"MotionCorr/job002/Movies/mic{m + 1:03d}.mrc" for m in mic],
        "rlnOpticsGroup": np.ones(len(names), dtype=int)})
    if ctf:
        table["rlnDefocusU"] = du
        table["rlnDefocusV"] = dv
        table["rlnDefocusAngle"] = angle
        table["rlnCtfBfactor"] = 0.0
        table["rlnCtfScalefactor"] = 1.0
        table["rlnPhaseShift"] = 0.0
    write_star(star, {"optics": optics, "particles": table})
