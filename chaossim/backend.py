"""Array backend: the one place that chooses NumPy or CuPy, the dtype and the generators.

Physics code receives a :class:`Backend` and writes ``bk.xp`` everywhere; there is no
``if cupy`` branch outside this module.

Backends: "numpy" (CPU), "cupy" (GPU), "auto" (CuPy when :func:`gpu_status` proves a GPU usable, else
NumPy with one line saying why) and "strict" (NumPy behind CuPy's rules, for tests: implicit host
conversions raise and host synchronisations are counted; see :mod:`chaossim.strict`).

Random numbers: fixed couplings are drawn on the host with NumPy from the model seed and moved with
``xp.asarray``, so one seed means one network on every backend. Per-run random states (initial
conditions) are drawn on the device from a generator held by the model (one per model or ensemble
member), re-keyed in place with :meth:`Backend.reseed` from an integer derived by :func:`derive_seed`:
the draws of a training step depend only on (seed, step), which makes resumed runs bit-exact.
NumPy: ``numpy.random.default_rng`` (PCG64). CuPy: cuRAND Philox4x32-10 with :data:`RNG_STATES` states,
which is small (512 KiB; CuPy's default generator holds 2048 states per SM, 13 MB on an H100) and cheap to
re-key (Philox needs no skip-ahead; XORWOW and MRG32k3a do). NumPy and CuPy streams differ.
"""

from __future__ import annotations

import functools
import sys
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import ConfigError

_DTYPES = {"float32": np.float32, "float64": np.float64}
BACKENDS = ("numpy", "cupy", "auto", "strict")

RNG_STATES = 8192
"""cuRAND states per CuPy generator (64 bytes each for Philox4x32-10). Part of the definition of the CuPy
random streams: output element i is produced by state i mod RNG_STATES. A multiple of 256 (one state per
thread of CuPy's 256-thread blocks)."""

GPU_INSTALL_HINT = (
    "install CuPy with its CUDA libraries: pip install 'chaossim[gpu]' (CUDA 12, "
    "cupy-cuda12x[ctk]) or 'chaossim[cuda13]' (CUDA 13, cupy-cuda13x[ctk]), or point CuPy at a "
    "local CUDA toolkit (CUDA_PATH)"
)


def _one_line(exc: BaseException, limit: int = 300) -> str:
    text = " ".join(str(exc).split())
    text = text if len(text) <= limit else text[: limit - 3] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


@functools.lru_cache(maxsize=1)
def gpu_status() -> tuple[bool, str]:
    """(True, "") when CuPy can really compute on a GPU, else (False, why). Run once per process.

    Counting devices is not enough: since CuPy 14 a driver-only machine imports CuPy and sees the GPU,
    then fails at the first kernel compilation ("Failed to find CUDA headers") or when cuBLAS loads. The
    probe therefore compiles and runs a tiny element-wise kernel, runs one of CuPy's own ufuncs and one
    matmul (cuBLAS), and checks the values against NumPy.
    """
    try:
        import cupy
    except Exception as exc:  # ImportError, or a broken installation
        return False, f"CuPy is not importable ({_one_line(exc)}); {GPU_INSTALL_HINT}"
    version = getattr(cupy, "__version__", "?")
    try:
        n = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:  # CUDARuntimeError: no driver, no device, insufficient driver
        return False, f"CuPy {version} is installed but finds no usable CUDA device ({_one_line(exc)})"
    if n < 1:
        return False, f"CuPy {version} is installed but the machine has no CUDA device"
    step = "compiling an element-wise kernel"
    try:
        x_host = np.linspace(-2.0, 2.0, 64, dtype=np.float32)
        x = cupy.asarray(x_host)
        kernel = cupy.ElementwiseKernel("float32 x", "float32 y", "y = expf(x) + 1.0f", "chaossim_probe_exp")
        y = kernel(x)
        step = "running a CuPy ufunc"
        z = cupy.exp(x)
        step = "a cuBLAS matmul"
        a = cupy.asarray(np.arange(12, dtype=np.float32).reshape(3, 4))
        c = a @ a.T
        step = "reading the results back"
        ok = (
            np.allclose(y.get(), np.exp(x_host) + 1, rtol=1e-5)
            and np.allclose(z.get(), np.exp(x_host), rtol=1e-5)
            and np.allclose(c.get(), np.arange(12.0).reshape(3, 4) @ np.arange(12.0).reshape(4, 3), rtol=1e-5)
        )
    except Exception as exc:
        return False, (
            f"CuPy {version} sees {n} CUDA device(s) but {step} failed ({_one_line(exc)}); {GPU_INSTALL_HINT}"
        )
    if not ok:
        return False, f"CuPy {version} sees {n} CUDA device(s) but the probe kernels returned wrong values"
    return True, ""


def gpu_available() -> bool:
    """True when CuPy imports, sees a CUDA device and compiles, runs and reads back a kernel and a matmul."""
    return gpu_status()[0]


@functools.cache
def _say_once(line: str) -> None:
    print(line, file=sys.stderr)


@dataclass(frozen=True)
class Backend:
    """An array namespace ``xp`` with its name ("numpy", "cupy" or "strict") and default dtype."""

    name: str
    xp: Any
    dtype: Any

    @property
    def on_device(self) -> bool:
        """True when arrays are device arrays (CuPy, or the strict namespace that imitates them)."""
        return self.name != "numpy"

    def rng(self, seed: int):
        """A new generator on this backend seeded with a non-negative integer (see the module docstring).

        Models keep one and re-key it with :meth:`reseed`; create new ones only where a computation owns
        its random numbers (a Lyapunov run, a probe).
        """
        seed = int(seed)
        if self.name == "cupy":
            random = self.xp.random
            return random.Generator(random.Philox4x3210(seed, size=RNG_STATES))
        return self.xp.random.default_rng(seed)

    def reseed(self, gen, seed: int):
        """Re-key ``gen`` (from :meth:`rng`) in place: afterwards it draws exactly what ``self.rng(seed)``
        would. Returns ``gen``. No allocation; on CuPy one small initialisation kernel."""
        seed = int(seed)
        if self.name == "cupy":
            _reseed_curand(gen, seed)
        else:
            bits = gen.bit_generator
            bits.state = type(bits)(seed).state
        return gen

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
        if self.name == "strict":
            return "cpu (strict)"
        dev = self.xp.cuda.Device()
        props = self.xp.cuda.runtime.getDeviceProperties(dev.id)
        name = props["name"]
        name = name.decode() if isinstance(name, bytes) else str(name)
        return f"cuda:{dev.id} ({name})"


def _reseed_curand(gen, seed: int) -> None:
    """Re-initialise the cuRAND states of a ``cupy.random.Generator`` in place for ``seed``.

    Does what ``cupy.random._bit_generator._cuRANDGenerator.__init__`` does after allocating (CuPy 13.0 to
    15: ``seed32 = SeedSequence(seed).generate_state(1, uint32)[0]``, then
    ``_generator_api.init_curand(generator, state_ptr, seed32, size)``), on the existing state buffer. If
    those internals are missing (another CuPy version), a new bit generator of the same kind and size is
    built instead: the same numbers, one small allocation from CuPy's memory pool.
    """
    bits = gen.bit_generator
    try:
        from cupy.random._generator_api import init_curand

        state, size, kind = bits._state, int(bits._size), bits.generator
    except (ImportError, AttributeError):
        gen.bit_generator = type(bits)(seed, size=getattr(bits, "_size", RNG_STATES))
        return
    seed_seq = np.random.SeedSequence(seed)
    seed32 = seed_seq.generate_state(1, np.uint32)[0]
    init_curand(kind, state.data.ptr, seed32, size)
    bits._seed_seq, bits._seed = seed_seq, seed32


def get_backend(backend: str | Backend = "numpy", dtype: str | Any = "float32") -> Backend:
    """Return the :class:`Backend` for ``backend`` in {"numpy", "cupy", "auto", "strict"} and ``dtype``.

    "auto" picks CuPy when :func:`gpu_status` proves a GPU usable, otherwise NumPy (and says why, once).
    "strict" is NumPy behind CuPy's rules (:mod:`chaossim.strict`), for tests.
    """
    if isinstance(backend, Backend):
        if dtype is None or np.dtype(dtype) == np.dtype(backend.dtype):
            return backend
        return Backend(backend.name, backend.xp, np.dtype(dtype).type)
    name = str(backend).lower()
    if name == "auto":
        ok, why = gpu_status()
        if not ok:
            _say_once(f"chaossim: backend 'auto' uses NumPy: {why}.")
        name = "cupy" if ok else "numpy"
    key = np.dtype(dtype).name if not isinstance(dtype, str) else dtype
    if key not in _DTYPES:
        raise ConfigError(f"dtype {dtype!r} is not supported; use 'float32' (default) or 'float64'.")
    if name == "numpy":
        return Backend("numpy", np, _DTYPES[key])
    if name == "strict":
        from . import strict

        return Backend("strict", strict.xp, _DTYPES[key])
    if name == "cupy":
        ok, why = gpu_status()
        if not ok:
            raise ConfigError(
                f"backend 'cupy' was requested but the GPU is not usable: {why}. Run `chaossim doctor` for "
                "details, or use backend='numpy' / 'auto'."
            )
        import cupy

        return Backend("cupy", cupy, _DTYPES[key])
    raise ConfigError(f"unknown backend {backend!r}; choose 'numpy', 'cupy', 'auto' or 'strict'.")


def is_device_array(a) -> bool:
    """True for arrays that live on a device (CuPy's, or the strict namespace's)."""
    t = type(a)
    return t.__module__.startswith("cupy") or getattr(t, "_chaossim_device", False)


def to_numpy(a):
    """Convert an array of either backend (or a scalar) to NumPy. Use only at I/O boundaries: for a device
    array this is the explicit copy to the host (``.get()``), a host synchronisation."""
    if is_device_array(a) and hasattr(a, "get"):
        return a.get()
    return np.asarray(a)


def array_module(a):
    """The namespace (numpy, cupy or the strict namespace) an array belongs to."""
    t = type(a)
    if t.__module__.startswith("cupy"):
        import cupy

        return cupy
    if getattr(t, "_chaossim_device", False):
        return a.__array_namespace__()
    return np


def derive_seed(*keys: int) -> int:
    """A 63-bit integer seed derived from integer ``keys`` with NumPy's SeedSequence.

    Stateless: ``derive_seed(seed, step)`` is the same in every process, which makes
    resumed runs and sweep points reproducible without saving generator state.
    """
    ss = np.random.SeedSequence([int(k) for k in keys])
    words = ss.generate_state(2, dtype=np.uint32).astype(np.uint64)
    return int(words @ np.array([1 << 31, 1], dtype=np.uint64)) & ((1 << 63) - 1)


def host_normal(seed: int, stream: int, shape, scale: float = 1.0) -> np.ndarray:
    """float64 N(0, scale^2) draws on the host, from stream ``stream`` of ``seed``."""
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), int(stream)]))
    return rng.standard_normal(shape) * scale
