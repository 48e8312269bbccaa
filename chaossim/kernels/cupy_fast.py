"""The CuPy fast path of a training step (paper eqs. 3, 6, 11-15), and the choice between it and the plain engine.

:class:`CupyOps` executes the schedule of :mod:`chaossim.kernels.schedule` on a GPU:

- fused element-wise passes (``cupy.ElementwiseKernel``): phi + leak + bias of every layer in one pass, compiled
  from the source :mod:`chaossim.kernels.source` renders from :mod:`chaossim.dynamics`;
- GEMMs issued straight to cuBLAS through ``ctypes`` on the libcublas CuPy has loaded, on private
  handles (one per stream) whose stream and workspace are set once, before capture. CuPy's own
  wrappers call ``cublasSetStream`` on every call, which resets the workspace, and ``cupy.matmul``
  refuses to run inside a stream capture. Row-major ``C += A B`` is the column-major ``C^T += B^T A^T``
  with beta = 1, so GEMMs accumulate into the state; an ensemble is one strided-batched GEMM per coupling;
- the whole step (operators, clamped phase, the ``steps`` Euler steps, the update) captured once as a
  CUDA graph per (steps, dt/tau, k, batch size) and replayed; the GEMMs of one Euler step that feed
  different layers are independent and run on forked streams inside the graph;
- opt-in TF32 (``tf32=True``): ``CUBLAS_TF32_TENSOR_OP_MATH`` on the private handles only.

No host synchronisation happens inside a step: the initial states are drawn on the device from the
model's generator(s), exactly as the engine draws them, copied into the graph's buffers, and the graph is
ordered after the caller's stream with events.

:func:`fast_trainer` returns a :class:`~chaossim.kernels.schedule.ScheduledTrainer` on :class:`CupyOps`
when it can, otherwise a :class:`PlainTrainer` that calls the engine; both have ``train_step``.
This module imports CuPy only inside functions.
"""

from __future__ import annotations

import ctypes
import warnings
from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import DTypeLike

from .. import dynamics
from ..backend import gpu_available
from ..dynamics import Nonlinearity
from ..errors import ConfigError
from .schedule import (
    MAX_CACHED,
    OP_N,
    Activity,
    Exact,
    Fork,
    Form,
    Gemm,
    Join,
    LRUCache,
    Pre,
    Program,
    ScheduledTrainer,
    supports,
)
from .source import kernel_sources

CUBLAS_DEFAULT_MATH = 0
CUBLAS_TF32_TENSOR_OP_MATH = 3
WORKSPACE_BYTES = 32 * 1024 * 1024  # cuBLAS recommends 32 MiB on Hopper


class PlainTrainer:
    """The fallback: ``train_step`` is the model's own (the engine); ``reason`` says why no fast path
    (a :class:`chaossim.models.protocol.Trainer`)."""

    mode = "plain"
    graph_error = None

    def __init__(self, model, reason: str = ""):
        self.model, self.reason = model, reason

    def rebind(self, model) -> PlainTrainer:
        return PlainTrainer(model, self.reason)

    def train_step(
        self, batch, dt=None, tau=None, T: float = 100.0, k: float = 0.01, init=None, *, force=False, check: bool = True
    ):
        return self.model.train_step(batch, dt, tau, T, k, init, force=force, check=check)


def fast_path_available(model, *, tf32: bool = False) -> tuple[bool, str]:
    """(True, "") when the CuPy fast path can train ``model``, else (False, the reason)."""
    ok, why = supports(model)
    if not ok:
        return False, why
    if model.bk.name != "cupy":
        return False, f"the model lives on the {model.bk.name} backend (the fast path is for backend='cupy')"
    if not gpu_available():
        return False, "CuPy or a CUDA device is not available"
    if tf32 and np.dtype(model.bk.dtype) != np.float32:
        return False, "tf32=True applies to float32 models only"
    return True, ""


def fast_trainer(
    model,
    *,
    tf32: bool = False,
    graph: bool = True,
    streams: int = 2,
    require: bool = False,
    max_cached: int = MAX_CACHED,
):
    """The fastest trainer for ``model`` (a single model or an Ensemble): the CuPy fast path when available,
    else the plain engine. ``require=True`` raises :class:`ConfigError` instead of falling back.

    ``graph``: capture each step as a CUDA graph (else issue the kernels one by one); ``streams``: how many
    streams the independent GEMMs of an Euler step are spread over; ``tf32``: TF32 tensor cores (float32);
    ``max_cached``: programs and graphs kept (one per (Euler steps, dt/tau, k)), least recently used dropped.
    """
    ok, why = fast_path_available(model, tf32=tf32)
    if ok:
        try:
            ops = CupyOps(model.bk.dtype, tf32=tf32, graph=graph, streams=streams, max_graphs=max_cached, phi=model.phi)
            return ScheduledTrainer(model, ops, max_cached=max_cached)
        except Exception as exc:  # cuBLAS not loadable, kernel compilation failure, ...
            why = f"the CuPy fast path failed to initialise ({type(exc).__name__}: {exc})"
    if require:
        raise ConfigError(
            f"the CuPy fast path is not available: {why}. Use backend='cupy' on a GPU machine, or "
            "require=False to fall back to the plain engine."
        )
    return PlainTrainer(model, why)


# ---------------------------------------------------------------------------------------------- cuBLAS via ctypes
def _loaded_library(stem: str) -> str | None:
    """Path of a dynamic library (.so) already mapped into this process (the one CuPy uses)."""
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                path = line.split()[-1] if line.strip() else ""
                base = path.rsplit("/", 1)[-1]
                if base.startswith(stem + ".so"):
                    return path
    except OSError:
        return None
    return None


class Cublas:
    """The few cuBLAS entry points the schedule needs, called directly (host pointer mode)."""

    _lib = None

    @classmethod
    def lib(cls) -> Any:
        if cls._lib is None:
            import cupy

            cupy.cuda.device.get_cublas_handle()  # makes CuPy load libcublas
            path = _loaded_library("libcublas")
            if path is None:
                major = cupy.cuda.runtime.runtimeGetVersion() // 1000
                path = f"libcublas.so.{major}"
            lib = ctypes.CDLL(path)
            P, I, L, S = ctypes.c_void_p, ctypes.c_int, ctypes.c_longlong, ctypes.c_size_t
            sig = {
                "cublasCreate_v2": [ctypes.POINTER(P)],
                "cublasDestroy_v2": [P],
                "cublasGetVersion_v2": [P, ctypes.POINTER(I)],
                "cublasSetStream_v2": [P, P],
                "cublasSetWorkspace_v2": [P, P, S],
                "cublasSetMathMode": [P, I],
                "cublasGetMathMode": [P, ctypes.POINTER(I)],
                "cublasSgemm_v2": [P, I, I, I, I, I, P, P, I, P, I, P, P, I],
                "cublasDgemm_v2": [P, I, I, I, I, I, P, P, I, P, I, P, P, I],
                "cublasSgemmStridedBatched": [P, I, I, I, I, I, P, P, I, L, P, I, L, P, P, I, L, I],
                "cublasDgemmStridedBatched": [P, I, I, I, I, I, P, P, I, L, P, I, L, P, P, I, L, I],
            }
            for name, args in sig.items():
                fn = getattr(lib, name)
                fn.argtypes, fn.restype = args, I
            cls._lib, cls.path = lib, path
        return cls._lib

    path: str | None = None
    """The file of the libcublas these entry points come from (the one CuPy mapped into the process)."""

    @staticmethod
    def check(status: int, what: str) -> None:
        if status != 0:
            raise RuntimeError(f"{what} failed with cuBLAS status {status}")


def square_gemm(n: int, buffers: tuple[str, str, str] = ("A", "B", "C")) -> Gemm:
    """The descriptor of ``C = A B`` for three contiguous n x n matrices (no batch, no transposes, beta = 0)."""
    a, b, c = buffers
    return Gemm(
        transa=OP_N, transb=OP_N, m=n, n=n, k=n, alpha=1.0,
        A=(a, 0), lda=n, stride_a=0, B=(b, 0), ldb=n, stride_b=0, beta=0.0, C=(c, 0), ldc=n, stride_c=0, batch=1,
    )  # fmt: skip


class Handle:
    """A private cuBLAS handle bound to one stream with its own workspace (set once, before any capture)."""

    def __init__(self, stream: Any, *, tf32: bool = False, workspace_bytes: int = WORKSPACE_BYTES) -> None:
        import cupy

        self.lib = Cublas.lib()
        h = ctypes.c_void_p()
        Cublas.check(self.lib.cublasCreate_v2(ctypes.byref(h)), "cublasCreate")
        self.ptr = h
        self.workspace = cupy.empty(workspace_bytes, dtype=cupy.uint8)
        Cublas.check(self.lib.cublasSetStream_v2(h, ctypes.c_void_p(stream.ptr)), "cublasSetStream")
        Cublas.check(
            self.lib.cublasSetWorkspace_v2(h, ctypes.c_void_p(self.workspace.data.ptr), workspace_bytes),
            "cublasSetWorkspace",
        )
        mode = CUBLAS_TF32_TENSOR_OP_MATH if tf32 else CUBLAS_DEFAULT_MATH
        Cublas.check(self.lib.cublasSetMathMode(h, mode), "cublasSetMathMode")

    def math_mode(self) -> int:
        """The math mode read back from cuBLAS (CUBLAS_DEFAULT_MATH = 0, CUBLAS_TF32_TENSOR_OP_MATH = 3)."""
        mode = ctypes.c_int(-1)
        Cublas.check(self.lib.cublasGetMathMode(self.ptr, ctypes.byref(mode)), "cublasGetMathMode")
        return mode.value

    def version(self) -> int:
        """cuBLAS's version number (e.g. 120903 for 12.9.3)."""
        v = ctypes.c_int(0)
        Cublas.check(self.lib.cublasGetVersion_v2(self.ptr, ctypes.byref(v)), "cublasGetVersion")
        return v.value

    def gemm(self, g: Gemm, dtype: DTypeLike, base: Mapping[str, int]) -> None:
        """``C = alpha op(A) op(B) + beta C`` as described by ``g`` (column-major; strided-batched when
        ``g.batch > 1``), issued on this handle's stream. ``base``: the device address of each buffer ``g``
        names (``g.buffers``); the operands' element offsets are added here."""
        dt = np.dtype(dtype)
        f64 = dt == np.float64
        scalar = ctypes.c_double if f64 else ctypes.c_float
        al, be = scalar(g.alpha), scalar(g.beta)
        pa, pb = ctypes.c_void_p(ctypes.addressof(al)), ctypes.c_void_p(ctypes.addressof(be))
        A, B, C = (ctypes.c_void_p(base[name] + offset * dt.itemsize) for name, offset in (g.A, g.B, g.C))
        if g.batch == 1:
            fn = self.lib.cublasDgemm_v2 if f64 else self.lib.cublasSgemm_v2
            status = fn(self.ptr, g.transa, g.transb, g.m, g.n, g.k, pa, A, g.lda, B, g.ldb, pb, C, g.ldc)
        else:
            fn = self.lib.cublasDgemmStridedBatched if f64 else self.lib.cublasSgemmStridedBatched
            status = fn(
                self.ptr, g.transa, g.transb, g.m, g.n, g.k,
                pa, A, g.lda, g.stride_a, B, g.ldb, g.stride_b, pb, C, g.ldc, g.stride_c, g.batch,
            )  # fmt: skip
        Cublas.check(status, "gemm")

    def __del__(self) -> None:
        try:
            self.lib.cublasDestroy_v2(self.ptr)
        except Exception:
            pass


# ---------------------------------------------------------------------------------------------- element-wise kernels
class Kernels(NamedTuple):
    """The compiled element-wise kernels, one per element-wise instruction type of the schedule."""

    pre: Any  # Pre: ACT = phi(X); X = leak(X, BIAS, a)
    exact: Any  # Exact: X = relax(X, BIAS, d)
    activity: Any  # Activity: ACT = phi(X)
    form: Any  # Form: OP = operator(F, TR, SCALE)


def _kernels(dtype: DTypeLike, phi: Nonlinearity, shared: Kernels | None = None) -> Kernels:
    """The schedule's element-wise kernels, compiled from the source :mod:`chaossim.kernels.source` renders
    from :mod:`chaossim.dynamics` (the expressions HostOps evaluates). ``shared``: kernels of another phi
    whose phi-free kernels (exact, form) are reused."""
    import cupy

    src = kernel_sources(dtype, phi)

    def compile_(k):
        return cupy.ElementwiseKernel(k.in_params, k.out_params, k.operation, k.name)

    if shared is not None:
        return Kernels(compile_(src.pre), shared.exact, compile_(src.activity), shared.form)
    return Kernels(*(compile_(k) for k in src))


class CupyOps:
    """Executes a schedule on the GPU: eagerly, or captured once per key as a CUDA graph and replayed."""

    def __init__(
        self,
        dtype: DTypeLike,
        *,
        tf32: bool = False,
        graph: bool = True,
        streams: int = 2,
        max_graphs: int = MAX_CACHED,
        phi: Nonlinearity = dynamics.DEFAULT_PHI,
    ) -> None:
        import cupy

        self.cp = cupy
        self.xp = cupy
        self.dtype: np.dtype[Any] = np.dtype(dtype)
        if tf32 and self.dtype != np.float32:
            raise ConfigError("tf32=True applies to float32 models only.")
        self.n_streams = max(1, int(streams))
        self.use_graph = bool(graph)
        self.streams = [cupy.cuda.Stream(non_blocking=True) for _ in range(self.n_streams)]
        self.handles = [Handle(s, tf32=tf32) for s in self.streams]
        self.fork_events = [cupy.cuda.Event(disable_timing=True) for _ in self.streams]
        self.join_events = [cupy.cuda.Event(disable_timing=True) for _ in self.streams]
        self.enter, self.leave = cupy.cuda.Event(disable_timing=True), cupy.cuda.Event(disable_timing=True)
        self.phi = phi  # the nonlinearity whose kernels are compiled first (programs may name others)
        self._kernels: dict[str, Kernels] = {}  # per nonlinearity (by name)
        self.kernels(phi)  # compiled now: a compilation failure makes fast_trainer fall back at once
        self.graphs = LRUCache(max_graphs)  # an evicted graph is destroyed when dropped (after it has run)
        self.graph_error: str | None = None
        self.tf32 = bool(tf32)

    @property
    def mode(self) -> str:
        return "graph" if self.use_graph else "eager"

    def empty(self, n: int) -> Any:
        return self.cp.zeros(n, dtype=self.dtype)

    def kernels(self, phi: Nonlinearity) -> Kernels:
        """The element-wise kernels for the nonlinearity ``phi`` (compiled once per executor)."""
        if phi.name not in self._kernels:
            shared = next(iter(self._kernels.values()), None)
            self._kernels[phi.name] = _kernels(self.dtype, phi, shared)
        return self._kernels[phi.name]

    def reset(self) -> None:
        """Drop the captured graphs (they hold the addresses of buffers about to be replaced)."""
        self.streams[0].synchronize()
        self.graphs.clear()

    # one pass over the program, on self.streams[0] (and the side streams for forked GEMMs)
    def _issue(self, program: Program, bufs: dict[str, Any], R: int, M: int) -> None:
        main = self.streams[0]
        ntot = bufs["BIAS"].size // R
        with main:
            for ins in program:
                match ins:
                    case Gemm():
                        self.handles[ins.stream].gemm(ins, self.dtype, {n: bufs[n].data.ptr for n in ins.buffers})
                    case Pre(x, act, c0, nc, a, phi):
                        self.kernels(phi).pre(bufs["BIAS"], a, M, ntot, c0, nc, bufs[x], bufs[act], size=R * M * nc)
                    case Exact(x, c0, nc, decay):
                        k = self.kernels(self.phi)  # no phi in this kernel: any compiled set has it
                        k.exact(bufs["BIAS"], decay, M, ntot, c0, nc, bufs[x], size=R * M * nc)
                    case Activity(x, act, c0, nc, phi):
                        self.kernels(phi).activity(bufs[x], M, ntot, c0, nc, bufs[act], size=R * M * nc)
                    case Form(i):
                        k = self.kernels(self.phi)
                        k.form(bufs[f"F{i}"], bufs[f"TR{i}"], bufs[f"SCALE{i}"], bufs[f"OP{i}"])
                    case Fork():
                        for s in range(1, self.n_streams):
                            self.fork_events[s].record(main)
                            self.streams[s].wait_event(self.fork_events[s])
                    case Join():
                        for s in range(1, self.n_streams):
                            self.join_events[s].record(self.streams[s])
                            main.wait_event(self.join_events[s])
                    case _:
                        raise TypeError(f"unknown instruction {ins!r}")

    def _capture(self, key: Any, program: Program, bufs: dict[str, Any], R: int, M: int) -> Any:
        """Warm up (kernels compiled, cuBLAS loaded) with the parameters saved and restored, then capture."""
        main = self.streams[0]
        keep = ("X", "XC", "ACTC", "BIAS")
        with main:  # after the copy-ins (main waits for them), before the warm-up
            state = {n: b.copy() for n, b in bufs.items() if n.startswith("T:") or n in keep}
        self._issue(program, bufs, R, M)
        with main:
            for n, b in state.items():
                bufs[n][...] = b
        main.synchronize()
        try:
            with main:
                main.begin_capture()
                try:
                    self._issue(program, bufs, R, M)
                finally:
                    graph = main.end_capture()
            return graph
        except Exception as exc:
            if main.is_capturing():
                main.end_capture()
            self.graph_error = f"{type(exc).__name__}: {exc}"
            warnings.warn(
                f"CUDA graph capture failed ({self.graph_error}); chaossim continues with eager kernels.",
                RuntimeWarning,
                stacklevel=3,
            )
            self.use_graph = False
            return None

    def execute(self, key: Any, program: Program, bufs: dict[str, Any], shape: tuple[int, int]) -> None:
        R, M = shape
        cur, main = self.cp.cuda.get_current_stream(), self.streams[0]
        self.enter.record(cur)
        main.wait_event(self.enter)
        if self.use_graph and key not in self.graphs:
            graph = self._capture(key, program, bufs, R, M)
            if graph is not None:
                self.graphs[key] = graph
        if self.use_graph and key in self.graphs:
            self.graphs[key].launch(main)
        else:
            self._issue(program, bufs, R, M)
        self.leave.record(main)
        cur.wait_event(self.leave)


def gemm_ceiling(n: int = 8192, *, tf32: bool = False, repeats: int = 10) -> float:
    """Measured TFLOP/s of an n x n x n float32 GEMM through the same cuBLAS path (device events)."""
    import cupy

    stream = cupy.cuda.Stream(non_blocking=True)
    h = Handle(stream, tf32=tf32)
    a = cupy.random.standard_normal((n, n), dtype=cupy.float32)
    b = cupy.random.standard_normal((n, n), dtype=cupy.float32)
    c = cupy.zeros((n, n), dtype=cupy.float32)
    cupy.cuda.Device().synchronize()  # the inputs were written on another stream; `stream` is non-blocking
    g = square_gemm(n, ("a", "b", "c"))
    start, stop = cupy.cuda.Event(), cupy.cuda.Event()
    times = []
    for i in range(repeats + 2):
        start.record(stream)
        h.gemm(g, np.float32, {"a": a.data.ptr, "b": b.data.ptr, "c": c.data.ptr})
        stop.record(stream)
        stop.synchronize()
        if i >= 2:
            times.append(cupy.cuda.get_elapsed_time(start, stop) / 1e3)
    return 2.0 * n**3 / float(np.median(times)) / 1e12


__all__ = ["CupyOps", "Cublas", "Handle", "PlainTrainer", "fast_path_available", "fast_trainer", "gemm_ceiling"]
