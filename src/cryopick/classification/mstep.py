"""M-step of 2D classification on the host (relion-facts §4.7–§4.11).

From the summed statistics of one iteration: class averages (Wiener-like, τ²-regularised),
class fractions, class prior offsets and the offset spread, the noise spectrum per group,
per-group intensity scales, SSNR / resolution per class and the next image size; then the
solvent mask and (optionally) re-centring of the averages.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy import ndimage

from cryopick.classification.kernels import CoefficientList, center_of_mass, gridding_correction, \
    soft_edge
from cryopick.classification.model import Model
from cryopick.classification.params import Class2DParams
from cryopick.classification.reconstruct import (
    PAD_OVERSAMPLING,
    gridding_weights,
    map_weight,
    padded_layout,
)
from cryopick.classification.sampling import current_size

__all__ = ["IterationSums", "center_classes", "maximize", "projector_tau2", "reference_tau2",
           "shell_mean", "solvent_mask"]


@dataclasses.dataclass
class IterationSums:
    """Statistics of one iteration summed over particles (and MPI ranks). Host arrays.

    ``num`` (K, mp) complex / ``den`` (K, mp) are reference-frame sums on the 2×-padded
    reference grid (:func:`.reconstruct.padded_layout`); ``resid`` (G, n//2+1) residual power per group and shell; ``group_weight``
    (G,) particles per group seen this iteration.
    """

    num: np.ndarray
    den: np.ndarray
    class_weight: np.ndarray
    offset_sum: np.ndarray
    sigma_offset_sum: float
    resid: np.ndarray
    group_weight: np.ndarray
    scale_xa: np.ndarray
    scale_aa: np.ndarray

    def arrays(self) -> dict[str, np.ndarray]:
        return {f.name: np.atleast_1d(np.asarray(getattr(self, f.name)))
                for f in dataclasses.fields(self)}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> IterationSums:
        values = dict(arrays)
        values["sigma_offset_sum"] = float(values["sigma_offset_sum"][0])
        return cls(**values)


def shell_mean(values: np.ndarray, coeffs: CoefficientList) -> np.ndarray:
    """Mean over each shell of ``(..., m)`` list values → ``(..., n//2+1)`` (0 for empty shells)."""
    m = values.shape[-1]
    onehot = np.zeros((m, coeffs.n_shells))
    onehot[np.arange(m), coeffs.shell[:m]] = 1.0
    counts = onehot.sum(axis=0)
    return np.where(counts > 0, values @ onehot / np.maximum(counts, 1), 0.0)


def reference_tau2(refs: np.ndarray, coeffs: CoefficientList) -> np.ndarray:
    """τ²_k(r): radial mean of ``|F_ref|²/2`` per shell, ``(K, n//2+1)``."""
    n = coeffs.n
    f = np.fft.rfft2(np.fft.ifftshift(refs.astype(np.float64), axes=(-2, -1))) / (n * n)
    values = np.abs(f.reshape(len(refs), -1)[:, coeffs.flat]) ** 2
    return shell_mean(values, coeffs) / 2.0


def projector_tau2(refs: np.ndarray, coeffs: CoefficientList, size: int) -> np.ndarray:
    """τ²_k(r) as RELION's projector measures it at the start of an E-step, ``(K, n//2+1)``.

    The power ``|F|²/2`` of each reference on the 2×-padded grid (after the gridding
    pre-correction ÷ sinc², transform normalised to the size-``n`` one), averaged over the
    points of the half transform in shell ``ROUND(|k2|/2)`` within the current radius
    (``|k2| ≤ size``); zero beyond it. The padded grid also samples between the integer
    frequencies, so a reference low-passed at shell ρ still has some power beyond ρ (as in
    RELION: the first iterations after the low-passed initial references are regularised
    with it, not with zeros).
    """
    n, k = coeffs.n, len(refs)
    padded = np.zeros((k, 2 * n, 2 * n))
    padded[:, n // 2: n // 2 + n, n // 2: n // 2 + n] = refs / gridding_correction(n)
    f = np.fft.rfft2(np.roll(padded, (-n, -n), axis=(-2, -1))) / float(n * n)
    ky = np.fft.fftfreq(2 * n, 1.0 / (2 * n))
    r2 = ky[:, None] ** 2 + np.arange(n + 1)[None, :] ** 2
    keep = (r2 <= float(size) ** 2).ravel()
    shell = np.floor(np.sqrt(r2) / 2.0 + 0.5).astype(np.int64).ravel()[keep]
    counts = np.bincount(shell, minlength=coeffs.n_shells)[:coeffs.n_shells]
    power = np.abs(f.reshape(k, -1)[:, keep]) ** 2 / 2.0
    out = np.zeros((k, coeffs.n_shells))
    for i in range(k):
        out[i] = np.bincount(shell, power[i], minlength=coeffs.n_shells)[:coeffs.n_shells]
    return np.where(counts > 0, out / np.maximum(counts, 1), 0.0)


def _images(values: np.ndarray, coeffs: CoefficientList) -> np.ndarray:
    """``(K, m)`` list coefficients → ``(K, n, n)`` real images (host)."""
    n = coeffs.n
    grid = np.zeros((len(values), n * (n // 2 + 1)), np.complex128)
    m = values.shape[1]
    grid[:, coeffs.flat[:m]] = values
    grid = grid.reshape(len(values), n, n // 2 + 1)
    column = grid[:, : n // 2, 0]  # kx = 0, ky ≥ 0 → fill ky < 0 by conjugate symmetry
    grid[:, n - np.arange(1, n // 2), 0] = np.conj(column[:, 1:])
    images = np.fft.irfft2(grid, s=(n, n)) * (n * n)
    return np.fft.fftshift(images, axes=(-2, -1))


def reconstruct_classes(sums: IterationSums, tau2: np.ndarray, params: Class2DParams,
                        coeffs: CoefficientList, size: int, regularise: bool = True
                        ) -> np.ndarray:
    """Class averages ``(K, n, n)`` float32 (unmasked); classes without weight are zero.

    As RELION's back-projector reconstructs (relion-facts §4.7): on the padded grid up to the
    current ``size``, ``Num`` times the gridding pre-weights of ``Den + 1/(pad²·T·τ²)``
    (both divided by the class weight, RELION's ``normalise``), transformed at ``2n``,
    windowed to the central ``n`` and corrected for the linear interpolation (÷ sinc²).
    Without ``regularise`` (the initial references) there is no prior term and no division.
    """
    n = coeffs.n
    padded, shell_n, _ = padded_layout(n)
    mp = sums.num.shape[1]
    weight = map_weight(sums.den, tau2, params.tau2_fudge, shell_n[:mp], regularise=regularise)
    normalise = np.where(sums.class_weight > 0, sums.class_weight, 1.0)[:, None] \
        if regularise else np.ones((len(weight), 1))
    fourier = sums.num / normalise * gridding_weights(weight / normalise, n, size)
    big = _images(fourier, padded) / 4.0  # the 2n transform of an n-normalised spectrum
    images = big[:, n // 2: n // 2 + n, n // 2: n // 2 + n]
    # RELION's windowing masks the corners softly (radius n/2, 3 px edge, outside → the
    # edge-weighted mean there) before the interpolation correction
    edge = soft_edge(n, n / 2.0, 3.0).astype(np.float64)
    background = np.sum(images * edge, axis=(1, 2)) / np.sum(edge)
    images = images * (1.0 - edge) + background[:, None, None] * edge
    images = images / gridding_correction(n)
    images[sums.class_weight <= 0] = 0.0
    return images.astype(np.float32)


def _ssnr(sums: IterationSums, tau2: np.ndarray, params: Class2DParams,
          coeffs: CoefficientList) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """SSNR (data vs prior), Fourier completeness and reference σ² per class and shell.

    As RELION's ``updateSSNRarrays``: over every point of the padded grid in shell
    ``ROUND(|k2|/2)``, the ratio of the padded weight to the prior term, ``pad²·T·τ²·Den``, is
    averaged; the reference σ² is the inverse of the mean ``pad²·Den``.
    """
    _, shell_n, _ = padded_layout(coeffs.n)
    mp = sums.den.shape[1]
    shell = shell_n[:mp]
    n_shells = coeffs.n_shells
    inside = shell < n_shells
    onehot = np.zeros((mp, n_shells))
    onehot[np.flatnonzero(inside), shell[inside]] = 1.0
    counts = onehot.sum(axis=0)

    def mean(values: np.ndarray) -> np.ndarray:
        return np.where(counts > 0, values @ onehot / np.maximum(counts, 1), 0.0)

    weight = PAD_OVERSAMPLING * sums.den
    ratio = weight * params.tau2_fudge * np.where(inside, tau2[:, np.minimum(shell, n_shells - 1)],
                                                  0.0)
    ssnr = mean(ratio)
    completeness = mean((ratio >= 1.0).astype(np.float64))
    mean_w = mean(weight)
    ref_sigma2 = np.where(mean_w > 1e-10, 1.0 / np.where(mean_w > 1e-10, mean_w, 1.0), 0.0)
    return ssnr, completeness, ref_sigma2


def _resolution_shells(ssnr: np.ndarray, n: int) -> np.ndarray:
    """Per class: the last shell before the SSNR first drops below 1 (at least 1)."""
    shells = []
    for row in ssnr:
        below = np.flatnonzero(row[1: n // 2] < 1.0)
        first = int(below[0]) + 1 if below.size else n // 2
        shells.append(max(first - 1, 1))
    return np.asarray(shells)


def _noise(sums: IterationSums, old: np.ndarray, coeffs: CoefficientList) -> np.ndarray:
    """σ²_g(r) = residual power / (2·W_g·N_pix(r)); tiny values take the previous shell's."""
    sigma2 = old.copy()
    for g in np.flatnonzero(sums.group_weight > 0):
        values = sums.resid[g] / (2.0 * sums.group_weight[g] * np.maximum(coeffs.shell_counts, 1))
        for r in range(len(values)):
            if values[r] < 1e-14:
                values[r] = values[r - 1] if r > 0 else old[g, r]
        sigma2[g] = values
    return sigma2


def _scales(sums: IterationSums, old: np.ndarray, group_sizes: np.ndarray) -> np.ndarray:
    """Per-group intensity scales (``--scale``): ratio of sums (1 for a group without
    reference power, as RELION), clamped, mean 1."""
    scale = np.ones_like(old)
    ok = sums.scale_aa > 0
    scale[ok] = sums.scale_xa[ok] / sums.scale_aa[ok]
    median = float(np.median(scale))
    scale = np.clip(scale, median / 5.0, 5.0 * median)
    mean = float(np.sum(scale * group_sizes) / max(np.sum(group_sizes), 1))
    return scale / mean if mean > 0 else old


def solvent_mask(n: int, diameter_a: float, pixel_a: float, edge_px: float) -> np.ndarray:
    """RELION's solvent-flattening disc: 1 inside, raised cosine over ``edge_px``, 0 outside."""
    return 1.0 - soft_edge(n, diameter_a / (2.0 * pixel_a), edge_px)


def center_classes(refs: np.ndarray, max_shift_px: float) -> np.ndarray:
    """Shift each average by minus its centre of mass (positive pixels), clamped, zero fill."""
    out = refs.copy()
    for k, image in enumerate(refs):
        if not (image > 0).any():
            continue
        shift = np.clip(-np.array(center_of_mass(image)), -max_shift_px, max_shift_px)
        out[k] = ndimage.shift(image, shift, order=1, mode="constant", cval=0.0)
    return out


def maximize(model: Model, sums: IterationSums, params: Class2DParams, coeffs: CoefficientList,
             pixel_a: float, group_sizes: np.ndarray, tau2: np.ndarray) -> Model:
    """The model of the next iteration from this iteration's sums (references not yet masked).

    ``tau2`` is the τ² of the references used in this E-step; ``group_sizes`` (G,) counts
    particles per group (for the scale average). Norm corrections are updated by the caller.
    """
    w_tot = float(sums.class_weight.sum())
    unmasked = reconstruct_classes(sums, tau2, params, coeffs, model.current_size)
    ssnr, completeness, ref_sigma2 = _ssnr(sums, tau2, params, coeffs)
    shells = _resolution_shells(ssnr, coeffs.n)
    r_c = max(int(shells.max()), 5)
    pdf = sums.class_weight / w_tot
    prior = sums.offset_sum / w_tot  # RELION divides by the total, not the class, weight
    sigma_off = float(np.sqrt(max(sums.sigma_offset_sum / (2.0 * w_tot), 1e-6))) / pixel_a
    scale = model.scale
    if params.scale and len(model.scale) > 1:
        scale = _scales(sums, model.scale, group_sizes)
    return dataclasses.replace(
        model, unmasked_refs=unmasked, refs=unmasked.copy(), pdf_class=pdf,
        prior_offset_px=prior, sigma_offset_px=sigma_off, sigma2=_noise(sums, model.sigma2, coeffs),
        scale=scale, current_size=current_size(r_c, coeffs.n, params.incr_size),
        resolution_shell=r_c, tau2=tau2, ssnr=ssnr, ref_sigma2=ref_sigma2,
        completeness=completeness, resolution_a=coeffs.n * pixel_a / shells.astype(np.float64),
        refs_ctf_corrected=True)


def finish_references(model: Model, params: Class2DParams, pixel_a: float) -> Model:
    """Solvent flattening (``--flatten_solvent``) and re-centring (``--center_classes``)."""
    refs = model.unmasked_refs
    if params.center_classes:
        refs = center_classes(refs, params.offset_range_px)
    if params.flatten_solvent:
        diameter = params.particle_diameter_a
        refs = refs * solvent_mask(refs.shape[-1], diameter, pixel_a, params.mask_edge_px)
    return dataclasses.replace(model, refs=refs.astype(np.float32))
