"""The normalised, noise-padded micrograph's cropped transform, computed in row blocks.

Both pickers start the same way: z-score the micrograph (outliers to the mean), embed it in
an ``n × n`` square padded with N(0, 1) noise, and keep only the low frequencies of its
transform (``forward_cropped(square, n_out)``). Done on whole arrays, that allocates the
normalised micrograph, the square and a full half-complex row transform (~0.3 GB for a
tutorial-size micrograph) and passes over each several times. On the host the same
coefficients come from blocks of rows: each block is normalised into a small buffer, its
rows transformed and only the kept columns stored, so the work stays in cache and a worker
touches ~20 MB of new memory instead of ~300 MB (a worker's first micrograph paid ~0.4 s of
page faults for it). The column transform then runs over the kept columns only.

The square's pixels, and so the coefficients, are those of :func:`normalise_micrograph` and
:func:`embed_square`, the whole-array way a device takes (the same padding noise, drawn in
the same order), to float rounding: the mean and standard deviation are accumulated in
float64 in the row blocks.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from cryopick.backend import Array, Backend, backend_of

__all__ = ["BLOCK_ROWS", "cropped_transforms", "embed_square", "micrograph_stats",
           "normalise_micrograph", "normalised_cropped_transforms"]

BLOCK_ROWS = 128  # rows per block: 128 × 3838 float32 is 2 MB, its row transform 4 MB


def micrograph_stats(image: np.ndarray, block_rows: int = 64
                     ) -> tuple[float, float, float, float]:
    """``(mean, population std, min, max)`` of a 2D image, in one pass of row blocks.

    Sums are taken about the first row's mean in float64, so a large offset (raw counts)
    costs no precision.
    """
    ny = image.shape[0]
    shift = np.float32(image[0].mean(dtype=np.float64))
    total, total_sq, low, high = 0.0, 0.0, np.inf, -np.inf
    for r0 in range(0, ny, block_rows):
        block = image[r0:r0 + block_rows]
        low, high = min(low, float(block.min())), max(high, float(block.max()))
        centred = (block - shift).astype(np.float64)
        total += float(centred.sum())
        # not np.dot: BLAS would start its threads, which workers in a pool must not
        total_sq += float(np.square(centred, out=centred).sum())
    count = image.size
    mean_c = total / count
    return float(shift) + mean_c, max(total_sq / count - mean_c * mean_c, 0.0) ** 0.5, low, high


def normalised_cropped_transforms(image: np.ndarray, n: int, n_out: int, outlier_zscore: float,
                                  flip: bool, seed: int, squared: bool = False,
                                  block_rows: int = BLOCK_ROWS
                                  ) -> tuple[np.ndarray, np.ndarray | None]:
    """``forward_cropped(square, n_out)`` (and of ``square²`` with ``squared``) on the host.

    ``square`` is ``embed_square(normalise_micrograph(image, outlier_zscore, flip), n, seed)``;
    ``n_out < n``. Returns complex64 ``(n_out, n_out//2 + 1)`` arrays in RELION's layout,
    divided by ``n²`` like :func:`cryopick.fourier.forward`.
    """
    import scipy.fft

    ny, nx = image.shape
    mean, std, low, high = micrograph_stats(image)
    mean32, std32 = np.float32(mean), np.float32(-std if flip else std)
    outliers = (high - mean) / std > outlier_zscore or (mean - low) / std > outlier_zscore
    top, left = n // 2 - ny // 2, n // 2 - nx // 2
    noise = _padding_noise(n, ny, nx, top, left, seed)
    h = n_out // 2
    rows = np.empty((n, h + 1), dtype=np.complex64)
    rows_sq = np.empty((n, h + 1), dtype=np.complex64) if squared else None
    buffer = np.empty((block_rows, n), dtype=np.float32)
    for r0 in range(0, n, block_rows):
        r1 = min(n, r0 + block_rows)
        block = buffer[:r1 - r0]
        _fill_block(block, r0, r1, image, noise, top, left, mean32, std32,
                    outlier_zscore if outliers else None)
        rows[r0:r1] = scipy.fft.rfft(block, axis=-1)[:, :h + 1]
        if rows_sq is not None:
            np.multiply(block, block, out=block)
            rows_sq[r0:r1] = scipy.fft.rfft(block, axis=-1)[:, :h + 1]
    return _columns(rows, n, n_out), None if rows_sq is None else _columns(rows_sq, n, n_out)


def normalise_micrograph(image: Array, outlier_zscore: float, flip: bool) -> Array:
    """Outliers (|z| > zscore) to the mean, then z-score with the population std.

    ``flip`` multiplies by -1 (dark particles become bright). Float32 throughout; the
    outlier pass is skipped when the extremes show there are none (the usual case).
    """
    xp = backend_of(image).xp
    mean = xp.mean(image)
    std = xp.std(image)
    mean_f, std_f = float(mean), float(std)
    if (float(xp.max(image)) - mean_f) / std_f > outlier_zscore or \
            (mean_f - float(xp.min(image))) / std_f > outlier_zscore:
        image = xp.where(xp.abs(image - mean) / std > outlier_zscore, mean, image)
    # dividing by -std is exactly the negation of dividing by std (IEEE)
    return (image - mean) / (-std if flip else std)


def embed_square(bk: Backend, image: Array, n: int, seed: int) -> Array:
    """Centre ``image`` in an ``n × n`` square (logical centres), padding with N(0,1) noise.

    RELION fills the padding with Gaussian noise so that local statistics stay defined; its
    own random numbers cannot be reproduced, so FOMs near the padding differ slightly.
    """
    ny, nx = image.shape
    if ny == n and nx == n:
        return image
    rng = np.random.default_rng(seed)
    top, left = n // 2 - ny // 2, n // 2 - nx // 2
    square = bk.xp.empty((n, n), dtype=bk.xp.float32, **bk.device_kw)
    strips = [(0, top, 0, n), (top + ny, n, 0, n),  # rows above and below
              (top, top + ny, 0, left), (top, top + ny, left + nx, n)]  # columns left, right
    for r0, r1, c0, c1 in strips:
        if r1 > r0 and c1 > c0:
            square[r0:r1, c0:c1] = bk.asarray(rng.standard_normal((r1 - r0, c1 - c0),
                                                                   dtype=np.float32))
    square[top:top + ny, left:left + nx] = image
    return square


def cropped_transforms(bk: Backend, image: np.ndarray, n: int, n_out: int,
                       outlier_zscore: float, flip: bool, seed: int, squared: bool = False,
                       prefilter: Callable[[Array], Array] | None = None
                       ) -> tuple[Array, Array | None]:
    """The normalised, padded micrograph's transform cropped (or padded) to ``n_out``, and
    its square's with ``squared``, on backend ``bk``.

    In row blocks on the host when cropping (:func:`normalised_cropped_transforms`); from
    whole arrays on a device, when not cropping, or with a ``prefilter`` of the whole square
    (template picking's high-pass).
    """
    if bk.name == "numpy" and n_out < n and prefilter is None:
        return normalised_cropped_transforms(np.asarray(image, dtype=np.float32), n, n_out,
                                             outlier_zscore, flip, seed, squared)
    from cryopick.fourier import forward, forward_cropped, fourier_window

    xp = bk.xp
    square = embed_square(bk, normalise_micrograph(bk.asarray(image, dtype=xp.float32),
                                                   outlier_zscore, flip), n, seed)
    if prefilter is not None:
        square = prefilter(square)

    def cropped(a: Array) -> Array:
        return forward_cropped(a, n_out) if n_out < n else fourier_window(forward(a), n, n_out)

    return cropped(square), cropped(square * square) if squared else None


def _padding_noise(n: int, ny: int, nx: int, top: int, left: int, seed: int
                   ) -> dict[str, np.ndarray]:
    """The padding's N(0, 1) strips, drawn as :func:`embed_square` draws them: rows above,
    rows below, columns left, columns right."""
    rng = np.random.default_rng(seed)
    strips = {"above": (top, n), "below": (n - top - ny, n),
              "left": (ny, left), "right": (ny, n - left - nx)}
    return {name: rng.standard_normal(shape, dtype=np.float32) if min(shape) > 0
            else np.empty(shape, np.float32) for name, shape in strips.items()}


def _fill_block(block: np.ndarray, r0: int, r1: int, image: np.ndarray,
                noise: dict[str, np.ndarray], top: int, left: int, mean: np.float32,
                std: np.float32, zscore: float | None) -> None:
    """Rows ``r0:r1`` of the normalised, padded square into ``block``."""
    ny, nx = image.shape
    above = slice(r0, min(r1, top))
    if above.stop > above.start:  # padding rows above the micrograph
        block[:above.stop - r0] = noise["above"][above]
    i0, i1 = max(r0, top), min(r1, top + ny)
    if i1 > i0:  # micrograph rows, with the padding columns either side
        out = block[i0 - r0:i1 - r0]
        out[:, :left] = noise["left"][i0 - top:i1 - top]
        out[:, left + nx:] = noise["right"][i0 - top:i1 - top]
        part = out[:, left:left + nx]
        np.subtract(image[i0 - top:i1 - top], mean, out=part)
        np.divide(part, std, out=part)
        if zscore is not None:  # outliers (|z| > zscore) to the mean, i.e. to 0
            part[np.abs(part) > zscore] = 0.0
    below0 = max(r0, top + ny)
    if r1 > below0:  # padding rows below
        block[below0 - r0:] = noise["below"][below0 - top - ny:r1 - top - ny]


def _columns(rows: np.ndarray, n: int, n_out: int) -> np.ndarray:
    """The column transform of the kept columns, cropped to ``n_out`` rows, divided by n²."""
    import scipy.fft

    h = n_out // 2
    n_neg = n_out - h - 1
    cols = scipy.fft.fft(rows, axis=0)
    kept = np.concatenate([cols[:h + 1], cols[n - n_neg:]], axis=0)
    kept /= np.float32(n) * np.float32(n)
    return kept
