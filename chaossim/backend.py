"""Array backend: the one place that chooses NumPy or CuPy, the dtype and the generators.

Physics code receives a :class:`Backend` and writes ``bk.xp`` everywhere; there is no
``if cupy`` branch outside this module.

Random numbers (see ENGINEERING.md): fixed couplings are drawn on the host with NumPy from
the model seed and moved with ``xp.asarray``, so one seed means one network on both
backends. Per-run random states (initial conditions) are drawn on the device from a
generator seeded with an integer derived by :func:`derive_seed`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import ConfigError

_DTYPES = {"float32": np.float32, "float64": np.float64}


def gpu_available() -> bool:
    """True when CuPy imports *and* sees at least one CUDA device."""
    try:
        import cupy  # noqa: F401

        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:  # ImportError, CUDARuntimeError with no driver, ...
        return False


@dataclass(frozen=True)
class Backend:
    """An array namespace ``xp`` with its name ("numpy" or "cupy") and default dtype."""

    name: str
    xp: Any
    dtype: Any

    def rng(self, seed: int):
        """A generator on this backend seeded with a non-negative integer."""
        return self.xp.random.default_rng(int(seed))

    def asarray(self, a, dtype=None):
        return self.xp.asarray(a, dtype=self.dtype if dtype is None else dtype)

    def zeros(self, shape):
        return self.xp.zeros(shape, dtype=self.dtype)

    def normal(self, rng, shape):
        """Standard normal draws of this backend's dtype from ``rng`` (a backend generator)."""
        return rng.standard_normal(shape, dtype=self.dtype)

    @property
    def device(self) -> str:
        """A human-readable description of where the arrays live."""
        if self.name == "numpy":
            return "cpu"
        dev = self.xp.cuda.Device()
        props = self.xp.cuda.runtime.getDeviceProperties(dev.id)
        name = props["name"]
        name = name.decode() if isinstance(name, bytes) else str(name)
        return f"cuda:{dev.id} ({name})"


def get_backend(backend: "str | Backend" = "numpy", dtype: "str | Any" = "float32") -> Backend:
    """Return the :class:`Backend` for ``backend`` in {"numpy", "cupy", "auto"} and ``dtype``.

    "auto" picks CuPy when a GPU is usable, otherwise NumPy.
    """
    if isinstance(backend, Backend):
        if dtype is None or np.dtype(dtype) == np.dtype(backend.dtype):
            return backend
        return Backend(backend.name, backend.xp, np.dtype(dtype).type)
    name = str(backend).lower()
    if name == "auto":
        name = "cupy" if gpu_available() else "numpy"
    key = np.dtype(dtype).name if not isinstance(dtype, str) else dtype
    if key not in _DTYPES:
        raise ConfigError(f"dtype {dtype!r} is not supported; use 'float32' (default) or 'float64'.")
    if name == "numpy":
        return Backend("numpy", np, _DTYPES[key])
    if name == "cupy":
        if not gpu_available():
            raise ConfigError(
                "backend 'cupy' was requested but no usable GPU was found (CuPy missing or no "
                "CUDA device). Install the GPU extra (pip install 'chaossim[gpu]') on a GPU "
                "machine, or use backend='numpy' / 'auto'."
            )
        import cupy

        return Backend("cupy", cupy, _DTYPES[key])
    raise ConfigError(f"unknown backend {backend!r}; choose 'numpy', 'cupy' or 'auto'.")


def to_numpy(a):
    """Convert an array of either backend (or a scalar) to NumPy. Use only at I/O boundaries."""
    if hasattr(a, "get") and type(a).__module__.startswith("cupy"):
        return a.get()
    return np.asarray(a)


def array_module(a):
    """The namespace (numpy or cupy) an array belongs to."""
    if type(a).__module__.startswith("cupy"):
        import cupy

        return cupy
    return np


def derive_seed(*keys: int) -> int:
    """A 63-bit integer seed derived from integer ``keys`` with NumPy's SeedSequence.

    Stateless: ``derive_seed(seed, step)`` is the same in every process, which makes
    resumed runs and sweep points reproducible without saving generator state.
    """
    ss = np.random.SeedSequence([int(k) for k in keys])
    return int(ss.generate_state(2, dtype=np.uint32).astype(np.uint64) @ np.array([1 << 31, 1], dtype=np.uint64)) & ((1 << 63) - 1)


def host_normal(seed: int, stream: int, shape, scale: float = 1.0) -> np.ndarray:
    """float64 N(0, scale^2) draws on the host, from stream ``stream`` of ``seed``."""
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), int(stream)]))
    return rng.standard_normal(shape) * scale
