"""Array backends: one code path for NumPy (CPU), CuPy (GPU) and a strict stand-in for tests.

Kernels receive arrays and ask them for their backend (:func:`backend_of`); stage functions
resolve the configured backend once (:func:`get_backend`), move data to the device once and
back once. Array functions come from the Array API namespace (``Backend.xp``, via
array-api-compat), FFTs from the backend's own FFT library (``Backend.rfft2``/``irfft2``).

The ``strict`` backend runs the same kernels on array-api-strict arrays placed on a
non-CPU device: like CuPy, it refuses silent conversion to NumPy and mixing with NumPy
arrays, so a stray ``np.`` call on device data fails in the test suite rather than on a
user's GPU.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import types
from typing import Any, Literal

import numpy as np

__all__ = [
    "Array",
    "Backend",
    "BackendName",
    "backend_of",
    "cupy_available",
    "get_backend",
]

Array = Any  # numpy.ndarray, cupy.ndarray or array_api_strict.Array
BackendName = Literal["auto", "numpy", "cupy", "strict"]


@dataclasses.dataclass(frozen=True)
class Backend:
    """An Array API namespace plus the device and FFT routines that go with it."""

    name: Literal["numpy", "cupy", "strict"]
    xp: types.ModuleType
    device: Any = None

    @property
    def device_kw(self) -> dict[str, Any]:
        """``device=`` for the namespace's array constructors (``zeros``, ``arange`` …), or
        nothing where the namespace has a single device."""
        return {"device": self.device} if self.device is not None else {}

    def asarray(self, a: Any, dtype: Any = None) -> Array:
        """Copy or view ``a`` (host data or an array of this backend) on this backend."""
        if self.name == "strict":
            if isinstance(a, np.ndarray) or np.isscalar(a):
                a = self.xp.asarray(np.asarray(a))
            return self.xp.asarray(a, dtype=dtype, device=self.device)
        return self.xp.asarray(a, dtype=dtype)

    def to_numpy(self, a: Array) -> np.ndarray:
        """Bring an array of this backend back to the host as a NumPy array."""
        if self.name == "cupy":
            return a.get()
        if self.name == "strict":
            return np.asarray(a.to_device(self.xp.Device("CPU_DEVICE")))
        return np.asarray(a)

    def rfft2(self, a: Array) -> Array:
        """Unnormalised real-to-complex FFT over the last two axes."""
        if self.name == "numpy":
            import scipy.fft

            return scipy.fft.rfft2(a, workers=_fft_workers())
        if self.name == "cupy":
            import cupyx.scipy.fft

            return cupyx.scipy.fft.rfft2(a)
        return self.xp.fft.rfftn(a, axes=(-2, -1))

    def rfft_axis(self, a: Array, axis: int = -1) -> Array:
        """Unnormalised real-to-complex FFT along one axis."""
        if self.name == "numpy":
            import scipy.fft

            return scipy.fft.rfft(a, axis=axis, workers=_fft_workers())
        if self.name == "cupy":
            import cupyx.scipy.fft

            return cupyx.scipy.fft.rfft(a, axis=axis)
        return self.xp.fft.rfft(a, axis=axis)

    def fft_axis(self, a: Array, axis: int) -> Array:
        """Unnormalised complex FFT along one axis."""
        if self.name == "numpy":
            import scipy.fft

            return scipy.fft.fft(a, axis=axis, workers=_fft_workers())
        if self.name == "cupy":
            import cupyx.scipy.fft

            return cupyx.scipy.fft.fft(a, axis=axis)
        return self.xp.fft.fft(a, axis=axis)

    def irfft2(self, f: Array, shape: tuple[int, int]) -> Array:
        """Unnormalised-forward convention inverse: ``irfft2(rfft2(x)) == x``."""
        if self.name == "numpy":
            import scipy.fft

            return scipy.fft.irfft2(f, s=shape, workers=_fft_workers())
        if self.name == "cupy":
            import cupyx.scipy.fft

            return cupyx.scipy.fft.irfft2(f, s=shape)
        return self.xp.fft.irfftn(f, s=shape, axes=(-2, -1))


def _fft_workers() -> int:
    """Threads per FFT on the CPU: CRYOPICK_FFT_THREADS, else 1 (parallelism is per micrograph)."""
    return max(1, int(os.environ.get("CRYOPICK_FFT_THREADS", "1")))


def cupy_available() -> bool:
    """True when CuPy imports and sees at least one CUDA device."""
    try:
        import cupy

        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:  # ImportError, CUDARuntimeError, missing driver libraries...
        return False


def runs_on_host(name: BackendName) -> bool:
    """True when backend ``name`` computes in this process's memory (NumPy), so that what a
    job prepares before its worker pool forks is shared by the workers. A CUDA context must
    not cross a fork: with CuPy (or ``auto`` where CuPy is installed) each worker prepares its
    own."""
    return name == "numpy" or (name == "auto" and importlib.util.find_spec("cupy") is None)


def get_backend(name: BackendName = "auto") -> Backend:
    """Resolve ``auto|numpy|cupy|strict`` to a :class:`Backend`.

    ``auto`` takes CuPy when a GPU is usable, else NumPy. ``cupy`` without a usable GPU
    raises a ``RuntimeError`` that tells the user what to set instead.
    """
    if name == "auto":
        name = "cupy" if cupy_available() else "numpy"
    if name == "numpy":
        return Backend("numpy", _numpy_namespace())
    if name == "cupy":
        if not cupy_available():
            raise RuntimeError(
                "backend 'cupy' was requested but no usable CUDA GPU/CuPy was found; "
                "set `backend: numpy` (or `auto`) in the config, or `--backend numpy`"
            )
        import array_api_compat.cupy as xp_cp

        return Backend("cupy", xp_cp)
    if name == "strict":
        import array_api_strict

        return Backend("strict", array_api_strict, array_api_strict.Device("device1"))
    raise ValueError(f"unknown backend {name!r}; choose auto, numpy or cupy")


def _numpy_namespace() -> types.ModuleType:
    """NumPy's Array API namespace: NumPy itself from 2.1 on (it implements the 2023.12
    standard), else array-api-compat's wrapper. The wrapper costs ~0.1 s to import in every
    process (it pulls in numpy.testing and numpy.f2py), which short jobs such as extracting
    two dozen micrographs notice.
    """
    if getattr(np, "__array_api_version__", "0") >= "2023.12":
        return np
    import array_api_compat.numpy as xp_np

    return xp_np


def backend_of(a: Array) -> Backend:
    """The backend that owns array ``a`` (NumPy, CuPy or array-api-strict)."""
    if isinstance(a, np.ndarray):
        return get_backend("numpy")
    module = type(a).__module__
    if module.startswith("cupy"):
        import array_api_compat.cupy as xp_cp

        return Backend("cupy", xp_cp)
    if module.startswith("array_api_strict"):
        import array_api_strict

        return Backend("strict", array_api_strict, a.device)
    raise TypeError(f"not an array of a known backend: {type(a)!r}")
