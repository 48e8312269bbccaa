"""``chaossim doctor``: first contact with a machine, every layer of the array stack proved in one command.

Prints versions, the device, the libcublas that was opened, and a table with one PASS/FAIL line per check;
the exit status is 1 when any line fails. It takes seconds on a CPU; on an H100 it is designed to finish
within two minutes (not yet measured).

Always (the NumPy side, which is also the reference of the GPU side):
  * the host emulation of the cuBLAS calls (HostOps) against NumPy, over all transposes, padded leading
    dimensions and batch strides; the fused programs of every architecture checked race-free;
  * the fused training schedule run by HostOps against the engine, float64, every architecture (the three
    rate networks and those ``--arch`` names, e.g. ``my_arch:Chain4``, at small sizes), single models and
    ensembles, one and two streams;
  * the strict namespace: an engine step and a fused step read nothing back from the device;
  * the NumPy engine's time per training step at a small size.
With a GPU (CuPy importable and a CUDA device visible):
  * the backend probe (a compiled kernel, a CuPy ufunc and a cuBLAS matmul, values checked);
  * each cuBLAS entry point (S/Dgemm, S/DgemmStridedBatched) against the host emulation;
  * the element-wise kernels, eager and captured as a CUDA graph, against HostOps; a two-stream capture;
  * the fast trainer against the NumPy engine from the same initial states in float64, every architecture,
    single and ensemble, eager and graphed, one and two streams; float32 and TF32 closeness, the TF32 math
    mode read back and its rounding measured; the cuRAND generators (small, re-keyed in place);
  * ms per training step at the paper's size (784 x 500, M = 500, T = 100) for the engine and the fast
    trainer in float32 and TF32.
Without a GPU the table says why and the NumPy side is checked. ``--require-gpu`` makes a missing GPU a FAIL.
"""

from __future__ import annotations

import math
import platform
import sys
import time
import traceback
from dataclasses import dataclass
from typing import Any

import numpy as np

PASS, FAIL, INFO = "PASS", "FAIL", "INFO"
# the restricted model at the paper's size (FashionMNIST, M = 500)
PAPER: dict[str, Any] = dict(nv=784, nh=500, M=500, T=100.0)
TARGET_MS = 2.5  # ms per training step of one restricted model at the paper's size, float32 (issue target)


@dataclass
class Row:
    status: str
    name: str
    detail: str
    seconds: float


class Table:
    """Rows printed as they are produced (a long check shows progress); ``failed`` at the end."""

    def __init__(self, out=None):
        self.out = out or sys.stdout
        self.rows: list[Row] = []

    NAME, DETAIL = 54, 62

    def header(self, title: str):
        print(title, file=self.out)
        print(f"{'':5}{'check':<{self.NAME}} {'result':<{self.DETAIL}} {'time':>6}", file=self.out)
        print(f"{'':5}{'-' * self.NAME} {'-' * self.DETAIL} {'-' * 6}", file=self.out)
        self.out.flush()

    def add(self, status: str, name: str, detail: str, seconds: float = 0.0):
        import textwrap

        row = Row(status, name, detail, seconds)
        self.rows.append(row)
        t = f"{seconds:5.1f}s" if seconds >= 0.05 else ""
        lines = textwrap.wrap(detail, self.DETAIL, break_on_hyphens=False) or [""]
        print(f"{status:4} {name:<{self.NAME}} {lines[0]:<{self.DETAIL}} {t:>6}".rstrip(), file=self.out)
        for more in lines[1:]:
            print(f"{'':5}{'':<{self.NAME}} {more}", file=self.out)
        self.out.flush()

    def check(self, name: str, fn, *args, **kwargs):
        """Run ``fn`` -> detail string (PASS); an AssertionError or any exception is a FAIL with its text."""
        t0 = time.perf_counter()
        try:
            detail = fn(*args, **kwargs)
            status = PASS
        except Exception as exc:  # a check must never stop the others
            status, detail = FAIL, _short(exc)
            if not isinstance(exc, AssertionError):
                tb = traceback.extract_tb(exc.__traceback__)[-1]
                detail += f" [{tb.filename.rsplit('/', 1)[-1]}:{tb.lineno}]"
        self.add(status, name, detail, time.perf_counter() - t0)
        return status == PASS

    @property
    def failed(self) -> list[Row]:
        return [r for r in self.rows if r.status == FAIL]


def _short(exc: BaseException, limit: int = 200) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    text = f"{type(exc).__name__}: {text}" if not isinstance(exc, AssertionError) else text
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _rel(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-300))


def _within(value: float, limit: float, what: str) -> str:
    assert np.isfinite(value) and value <= limit, f"{what} = {value:.3g} > {limit:.0e}"
    return f"{what} {value:.1e} (<= {limit:.0e})"


# ---------------------------------------------------------------------------------------------- models
SMALL_SIZES = (12, 8, 5, 4, 3)
"""Units of the checked models' layers, in layer order (the last repeated for deeper architectures)."""
GS, SEEDS = [1.2, 1.6, 2.1], [0, 1, 2]


def rate_networks() -> list[str]:
    """The architectures checked: the registered rate networks of :mod:`chaossim.archs` (the three built-ins in a
    new process); ``chaossim doctor --arch`` adds others."""
    from .archs import lookup, names

    return [n for n in names() if lookup(n).dynamics]


def small_sizes(arch: str) -> tuple[int, ...]:
    """The small sizes at which the doctor checks the architecture ``arch``."""
    from .archs import lookup

    n = len(lookup(arch).layers)
    return tuple(SMALL_SIZES[min(i, len(SMALL_SIZES) - 1)] for i in range(n))


def _model(arch: str, ensemble: bool, backend: str, dtype: str, sizes=None, seed: int = 3):
    from .archs import lookup
    from .ensemble import Ensemble

    sizes = sizes or small_sizes(arch)
    if ensemble:
        return Ensemble(arch, sizes, GS, [s + seed for s in SEEDS], backend=backend, dtype=dtype)
    a = lookup(arch)
    return a.model_class()(*sizes, arch=a, g=1.5, seed=seed, backend=backend, dtype=dtype)


def _given_init(model, R: int | None, m: int, rng, dtype):
    pre = (R,) if R else ()
    free = {n: rng.normal(size=pre + (m, s)).astype(dtype) for n, s in model.sizes.items()}
    clamped = {n: rng.normal(size=pre + (m, s)).astype(dtype) for n, s in model.sizes.items() if n != model.visible}
    return {"free": free, "clamped": clamped}


def _params_host(model) -> dict:
    from .backend import to_numpy

    return {k: to_numpy(v).astype(np.float64) for k, v in model.params.items()}


def _max_diff(a: dict, b: dict) -> float:
    return max(float(np.abs(a[k] - b[k]).max()) for k in a)


def _train_pair(
    arch,
    ensemble,
    fast_trainer_of,
    *,
    dtype="float64",
    steps=2,
    T=5.0,
    k=0.3,
    m=6,
    sizes=None,
    seed=3,
    model_backend="numpy",
):
    """The engine (NumPy, float64) and a trainer from ``fast_trainer_of(model)`` on a model of
    ``model_backend``/``dtype``, trained from the same given initial states. Returns (engine params,
    fast params, the fast trainer)."""
    ref = _model(arch, ensemble, "numpy", "float64", sizes, seed)
    fast = _model(arch, ensemble, model_backend, dtype, sizes, seed)
    tr = fast_trainer_of(fast)
    rng = np.random.default_rng(7)
    R = 3 if ensemble else None
    nv = ref.sizes[ref.visible]
    for _ in range(steps):
        init = _given_init(ref, R, m, rng, np.float64)
        batch = rng.uniform(-1.0, 1.0, size=((R,) if R else ()) + (m, nv))
        ref.train_step(batch, T=T, k=k, init=init)
        tr.train_step(
            batch.astype(dtype), T=T, k=k, init={p: {n: x.astype(dtype) for n, x in d.items()} for p, d in init.items()}
        )
    return _params_host(ref), _params_host(fast), tr


# ---------------------------------------------------------------------------------------------- NumPy side
def _colmajor(buf, off, rows, cols, ld):
    idx = off + np.arange(cols)[None, :] * ld + np.arange(rows)[:, None]
    return buf[idx]


def gemm_cases(batched: bool):
    """(Gemm, buffer sizes) covering the four transpose pairs, padded leading dimensions and batch strides
    larger than a matrix (batched) or batch 1."""
    from .kernels.schedule import OP_N, OP_T, Gemm

    m, n, k = 5, 4, 3
    batch = 3 if batched else 1
    for ta in (OP_N, OP_T):
        for tb in (OP_N, OP_T):
            ar, ac = (m, k) if ta == OP_N else (k, m)
            br, bc = (k, n) if tb == OP_N else (n, k)
            lda, ldb, ldc = ar + 2, br + 1, m + 3
            sa, sb, sc = lda * ac + 5, ldb * bc + 2, ldc * n + 1
            g = Gemm(ta, tb, m, n, k, 0.75, ("A", 3), lda, sa, ("B", 1), ldb, sb, -0.5, ("C", 2), ldc, sc, batch)
            yield g, {"A": 3 + sa * batch + 4, "B": 1 + sb * batch + 4, "C": 2 + sc * batch + 4}


def _gemm_reference(g, bufs):
    """Straight from the definition of a column-major strided-batched GEMM (independent of HostOps)."""
    from .kernels.schedule import OP_N

    out = bufs["C"].copy()
    for r in range(g.batch):
        A = _colmajor(bufs["A"], g.A[1] + r * g.stride_a, *((g.m, g.k) if g.transa == OP_N else (g.k, g.m)), g.lda)
        B = _colmajor(bufs["B"], g.B[1] + r * g.stride_b, *((g.k, g.n) if g.transb == OP_N else (g.n, g.k)), g.ldb)
        C = _colmajor(bufs["C"], g.C[1] + r * g.stride_c, g.m, g.n, g.ldc)
        C = g.alpha * (A if g.transa == OP_N else A.T) @ (B if g.transb == OP_N else B.T) + g.beta * C
        idx = g.C[1] + r * g.stride_c + np.arange(g.n)[None, :] * g.ldc + np.arange(g.m)[:, None]
        out[idx] = C
    return out


def check_host_gemm() -> str:
    from .kernels import HostOps

    rng = np.random.default_rng(0)
    worst, count = 0.0, 0
    for batched in (False, True):
        for g, sizes in gemm_cases(batched):
            bufs = {name: rng.normal(size=n) for name, n in sizes.items()}
            want = _gemm_reference(g, bufs)
            HostOps(np.float64)._gemm(g, bufs)
            worst = max(worst, _rel(bufs["C"], want))
            count += 1
    return _within(worst, 1e-13, f"{count} GEMMs, max rel diff")


def check_programs_race_free(archs: list[str]) -> str:
    from .kernels.schedule import Layout, build_program, check_program

    n = 0
    for arch in archs:
        m = _model(arch, False, "numpy", "float32")
        for R in (1, 3):
            for streams in (1, 2, 3):
                check_program(build_program(m, Layout.of(m), R, 4, 3, 0.1, 0.01, streams), streams)
                n += 1
    return f"{n} programs: fork/join and side streams race-free"


def check_schedule_vs_engine(arch: str, ensemble: bool) -> str:
    from .kernels import HostOps, ScheduledTrainer

    worst = 0.0
    for streams in (1, 2):
        make = lambda m, s=streams: ScheduledTrainer(m, HostOps(np.float64, streams=s))
        ref, got, _ = _train_pair(arch, ensemble, make)
        worst = max(worst, _max_diff(got, ref))
    return _within(worst, 1e-12, "1/2 streams, max |diff|")


def check_strict_no_sync() -> str:
    from . import strict
    from .kernels import HostOps, ScheduledTrainer

    rng = np.random.default_rng(1)
    for ensemble in (False, True):
        m = _model("deep", ensemble, "strict", "float64")
        tr = ScheduledTrainer(m, HostOps(np.float64, streams=2, xp=strict.xp))
        batch = rng.uniform(-1.0, 1.0, size=((3,) if ensemble else ()) + (5, 12))
        with strict.record() as log:
            m.train_step(batch, T=3, check=False)
            tr.train_step(batch, T=3, check=False)
        assert log.implicit == 0 and log.syncs == 0, log.report()
    return "deep engine + fused step, single and ensemble: 0 syncs, 0 implicit"


def check_numpy_timing() -> str:
    from .models import Restricted

    nv, nh, M, T = 196, 128, 128, 20.0
    m = Restricted(nv, nh, seed=0)
    batch = np.random.default_rng(0).uniform(-1.0, 1.0, size=(M, nv)).astype(np.float32)
    m.train_step(batch, T=T, check=False)
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        m.train_step(batch, T=T, check=False)
        times.append(time.perf_counter() - t0)
    return f"restricted {nv}x{nh}, M {M}, {int(T)} Euler steps: {1e3 * float(np.median(times)):.1f} ms/step"


def numpy_side(table: Table, archs: list[str]) -> None:
    table.check("host cuBLAS emulation vs definition", check_host_gemm)
    table.check(f"fused programs race-free ({len(archs)} archs, 1-3 streams)", check_programs_race_free, archs)
    for arch in archs:
        for ensemble in (False, True):
            kind = "ensemble" if ensemble else "single"
            table.check(f"fused schedule vs engine f64: {arch} {kind}", check_schedule_vs_engine, arch, ensemble)
    table.check("strict namespace: steps issue no host sync", check_strict_no_sync)
    table.check("NumPy engine time per step", check_numpy_timing)


# ---------------------------------------------------------------------------------------------- GPU side
def _cupy_versions() -> str:
    import cupy

    rt = cupy.cuda.runtime

    def version(get):
        try:
            v = get()
        except Exception as exc:
            return f"unavailable ({type(exc).__name__})"
        return f"{v // 1000}.{v % 1000 // 10}" if v else "none"

    text = (
        f"CuPy {cupy.__version__}, CUDA runtime {version(rt.runtimeGetVersion)}, driver {version(rt.driverGetVersion)}"
    )
    try:
        major, minor = cupy.cuda.nvrtc.getVersion()
        text += f", NVRTC {major}.{minor}"
    except Exception as exc:  # the CUDA libraries are missing: kernels cannot be compiled
        text += f", NVRTC not found ({type(exc).__name__})"
    return text


def _device() -> str:
    import cupy

    dev = cupy.cuda.Device()
    props = cupy.cuda.runtime.getDeviceProperties(dev.id)
    name = props["name"].decode() if isinstance(props["name"], bytes) else str(props["name"])
    return (
        f"cuda:{dev.id} {name}, cc {props['major']}.{props['minor']}, {props['multiProcessorCount']} SMs, "
        f"{props['totalGlobalMem'] / 2**30:.0f} GiB"
    )


def check_probe() -> str:
    from .backend import gpu_status

    ok, why = gpu_status()
    assert ok, why
    return "kernel compiled and run, CuPy ufunc, cuBLAS matmul: values checked"


def check_cublas_library() -> str:
    import cupy

    from .kernels.cupy_fast import Cublas, Handle

    Cublas.lib()
    h = Handle(cupy.cuda.Stream(non_blocking=True), workspace_bytes=1 << 20)
    v = h.version()
    return f"cuBLAS {v // 10000}.{v % 10000 // 100}.{v % 100} from {Cublas.path}"


def check_cublas_entry(dtype, batched: bool) -> str:
    import cupy

    from .kernels.cupy_fast import Handle

    stream = cupy.cuda.Stream(non_blocking=True)
    h = Handle(stream, workspace_bytes=1 << 20)
    rng = np.random.default_rng(2)
    worst, count = 0.0, 0
    for g, sizes in gemm_cases(batched):
        host = {name: rng.normal(size=n) for name, n in sizes.items()}
        dev = {name: cupy.asarray(v.astype(dtype)) for name, v in host.items()}
        want = _gemm_reference(g, {name: v.astype(dtype).astype(np.float64) for name, v in host.items()})
        cupy.cuda.Device().synchronize()  # the handle's stream is non-blocking
        h.gemm(g, dtype, {name: dev[name].data.ptr for name in g.buffers})
        stream.synchronize()
        worst = max(worst, _rel(dev["C"].get(), want))
        count += 1
    limit = 1e-12 if np.dtype(dtype) == np.float64 else 1e-5
    return _within(worst, limit, f"4 transposes, padded ld{', strides' if batched else ''}: max rel diff")


def _elementwise_program():
    """Every element-wise instruction on column ranges that are not the whole row."""
    from .kernels.schedule import Activity, Exact, Form, Pre

    return [
        Pre("X", "ACT", 0, 7, 0.1),
        Pre("X", "ACT", 2, 3, 0.3),
        Exact("XC", 4, 3, 0.6),
        Activity("XC", "ACTC", 1, 5),
        Form(0),
    ]


def check_elementwise(dtype, graph: bool) -> str:
    import cupy

    from .kernels import HostOps
    from .kernels.cupy_fast import CupyOps

    R, M, ntot = 2, 3, 7
    rng = np.random.default_rng(3)
    host: dict[str, Any] = {n: rng.normal(size=R * M * ntot).astype(dtype) for n in ("X", "ACT", "XC", "ACTC")}
    host["BIAS"] = rng.normal(size=R * ntot).astype(dtype)
    host["F0"], host["T:A"], host["OP0"] = (rng.normal(size=R * 12).astype(dtype) for _ in range(3))
    host["TR0"], host["SCALE0"] = host["T:A"], 0.5
    dev = {n: (cupy.asarray(v) if isinstance(v, np.ndarray) else v) for n, v in host.items()}
    dev["TR0"] = dev["T:A"]
    ops = CupyOps(dtype, graph=graph, streams=1, max_graphs=2)
    prog = _elementwise_program()
    HostOps(dtype).execute("k", prog, host, (R, M))
    ops.execute("k", prog, dev, (R, M))
    cupy.cuda.Device().synchronize()
    worst = max(_rel(dev[n].get(), host[n]) for n in ("X", "ACT", "XC", "ACTC", "OP0"))
    if graph:
        assert ops.mode == "graph" and ops.graph_error is None and len(ops.graphs) == 1, (
            f"no graph captured ({ops.graph_error})"
        )
    limit = 1e-14 if np.dtype(dtype) == np.float64 else 1e-6
    return _within(worst, limit, f"pre/exact/activity/form{' (graph)' if graph else ''}: max rel diff")


def check_two_stream_capture() -> str:
    """Three Euler steps of a restricted ensemble whose two GEMMs run on two streams, captured as one graph,
    replayed twice, against HostOps."""
    import cupy

    from .kernels import HostOps
    from .kernels.cupy_fast import CupyOps
    from .kernels.schedule import Activity, Fork, Form, Gemm, Instruction, Layout, Pre, _coupling_gemm, _gemm_block
    from .models import Restricted

    model, R, M, a = Restricted(6, 5), 2, 3, 0.2
    lay = Layout.of(model)
    prog: list[Instruction] = [Form(i) for i in range(len(model.couplings))]
    for _ in range(3):
        prog.append(Pre("X", "ACT", 0, lay.ntot, a))
        prog += _gemm_block(
            [_coupling_gemm(i, c, lay, M, R, a, "ACT", "X", i) for i, c in enumerate(model.couplings)], 2
        )
    prog.append(Activity("X", "ACT", 0, lay.ntot))
    assert Fork() in prog and any(isinstance(ins, Gemm) and ins.stream == 1 for ins in prog)
    rng = np.random.default_rng(4)
    host: dict[str, Any] = {
        "X": rng.normal(size=R * M * lay.ntot),
        "ACT": np.zeros(R * M * lay.ntot),
        "BIAS": rng.normal(size=R * lay.ntot),
        "T:A": rng.normal(scale=0.1, size=R * 30),
    }
    for i in range(2):
        host[f"F{i}"], host[f"OP{i}"] = rng.normal(size=R * 30), np.zeros(R * 30)
        host[f"TR{i}"], host[f"SCALE{i}"] = host["T:A"], 1.0 / math.sqrt(lay.size(model.couplings[i].pre))
    dev = {n: (cupy.asarray(v) if isinstance(v, np.ndarray) else v) for n, v in host.items()}
    for i in range(2):
        dev[f"TR{i}"] = dev["T:A"]
    ops = CupyOps(np.float64, graph=True, streams=2)
    hops = HostOps(np.float64, streams=2)
    for _ in range(2):
        ops.execute("two", prog, dev, (R, M))
        hops.execute("two", prog, host, (R, M))
    cupy.cuda.Device().synchronize()
    assert ops.mode == "graph" and ops.graph_error is None and len(ops.graphs) == 1, f"not captured ({ops.graph_error})"
    worst = max(_rel(dev[n].get(), host[n]) for n in ("X", "ACT"))
    return _within(worst, 1e-12, "fork/join captured, 2 replays: max rel diff")


def check_fast_vs_engine(arch: str, ensemble: bool) -> str:
    from .kernels import fast_trainer

    worst, modes = 0.0, set()
    for graph in (False, True):
        for streams in (1, 2):
            make = lambda m, gr=graph, s=streams: fast_trainer(m, graph=gr, streams=s, require=True)
            ref, got, tr = _train_pair(arch, ensemble, make, model_backend="cupy")
            modes.add(tr.mode)
            if graph:
                assert tr.ops.graph_error is None and len(tr.ops.graphs) == 1, f"no graph ({tr.ops.graph_error})"
            worst = max(worst, _max_diff(got, ref))
    assert modes == {"eager", "graph"}, modes
    return _within(worst, 1e-10, "eager/graph x 1/2 streams, max |diff|")


def check_precision() -> str:
    """float32 and TF32 fast trainers against the float64 engine (one step, 196 x 128, M 64, T 10)."""
    from .kernels import fast_trainer

    out = {}
    for tf32 in (False, True):
        ref, got, tr = _train_pair(
            "restricted",
            False,
            lambda m, tf=tf32: fast_trainer(m, tf32=tf, require=True),
            dtype="float32",
            steps=1,
            T=10.0,
            k=0.1,
            m=64,
            sizes=(196, 128),
            model_backend="cupy",
        )
        assert tr.ops.graph_error is None
        expected = 3 if tf32 else 0  # CUBLAS_TF32_TENSOR_OP_MATH / CUBLAS_DEFAULT_MATH
        modes = [h.math_mode() for h in tr.ops.handles]
        assert modes == [expected] * len(modes), f"math mode read back {modes}, expected {expected}"
        out[tf32] = _rel(got["A"], ref["A"])
    assert out[False] <= 1e-3, f"float32 update rel diff {out[False]:.2g} > 1e-3"
    assert out[True] <= 1e-1, f"TF32 update rel diff {out[True]:.2g} > 1e-1"
    assert out[True] > out[False], f"TF32 ({out[True]:.2g}) not less precise than float32 ({out[False]:.2g})"
    return f"update vs f64 engine: fp32 {out[False]:.1e} (<=1e-3), tf32 {out[True]:.1e} (<=1e-1), modes read back"


def check_tf32_rounding() -> str:
    """A GEMM of 1 + 2^-12 (which needs 13 mantissa bits) by ones: TF32 (10 bits) must lose the 2^-12."""
    import cupy

    from .kernels.cupy_fast import Handle, square_gemm

    if int(cupy.cuda.Device().compute_capability) < 80:
        return "no TF32 tensor cores on this device (compute capability < 8.0)"
    n = 1024
    a = cupy.full((n, n), 1.0 + 2.0**-12, dtype=cupy.float32)
    b = cupy.ones((n, n), dtype=cupy.float32)
    cupy.cuda.Device().synchronize()
    err = {}
    for tf32 in (False, True):
        stream = cupy.cuda.Stream(non_blocking=True)
        h = Handle(stream, tf32=tf32)
        c = cupy.zeros((n, n), dtype=cupy.float32)
        cupy.cuda.Device().synchronize()
        h.gemm(square_gemm(n), np.float32, {"A": a.data.ptr, "B": b.data.ptr, "C": c.data.ptr})
        stream.synchronize()
        err[tf32] = float(np.abs(c.get().astype(np.float64) - n * (1.0 + 2.0**-12)).max())
    assert err[False] < 1e-3, f"float32 GEMM error {err[False]:.3g} (expected exact)"
    assert err[True] > 0.5 * n * 2.0**-12, f"TF32 GEMM kept the 2^-12 (error {err[True]:.3g}): TF32 is off"
    return f"1024^3 GEMM of 1+2^-12: fp32 error {err[False]:.1e}, tf32 error {err[True]:.2f} (TF32 active)"


def check_generators() -> str:
    from .backend import RNG_STATES, get_backend

    bk = get_backend("cupy", "float32")
    gen = bk.rng(5)
    state = gen.bit_generator._state
    first = bk.normal(gen, (257, 33)).get()
    bk.reseed(gen, 5)
    assert gen.bit_generator._state.data.ptr == state.data.ptr, "re-keying allocated a new state"
    again = bk.normal(gen, (257, 33)).get()
    fresh = bk.normal(bk.rng(5), (257, 33)).get()
    assert np.array_equal(first, again) and np.array_equal(first, fresh), "re-keyed draws differ from a fresh generator"
    return f"Philox, {RNG_STATES} states = {state.nbytes // 1024} KiB; re-keyed in place = fresh generator"


def _time_steps(step, n: int) -> float:
    import cupy

    step()
    step()
    cupy.cuda.Device().synchronize()
    start, stop = cupy.cuda.Event(), cupy.cuda.Event()
    start.record()
    for _ in range(n):
        step()
    stop.record()
    stop.synchronize()
    return cupy.cuda.get_elapsed_time(start, stop) / n


def check_timing(kind: str) -> str:
    import cupy

    from .kernels import fast_trainer
    from .models import Restricted

    nv, nh, M, T = PAPER["nv"], PAPER["nh"], PAPER["M"], PAPER["T"]
    m = Restricted(nv, nh, seed=0, backend="cupy")
    batch = cupy.asarray(np.random.default_rng(0).uniform(-1.0, 1.0, size=(M, nv)).astype(np.float32))
    if kind == "engine":
        ms = _time_steps(lambda: m.train_step(batch, T=T, check=False), 5)
        return f"restricted {nv}x{nh}, M {M}, T {int(T)}: {ms:.2f} ms/step"
    tr = fast_trainer(m, tf32=kind == "tf32", require=True)
    ms = _time_steps(lambda: tr.train_step(batch, T=T, check=False), 20)
    tflops = tr.flops(int(T), M) / (ms * 1e-3) / 1e12
    assert tr.ops.graph_error is None, tr.ops.graph_error
    return f"{ms:.2f} ms/step, {tflops:.1f} TFLOP/s ({tr.mode}; target <= {TARGET_MS} ms fp32)"


def gpu_side(table: Table, archs: list[str]) -> None:
    table.check("backend probe", check_probe)
    if table.rows[-1].status == FAIL:
        return
    table.check("device", _device)
    table.check("libcublas", check_cublas_library)
    for dtype in (np.float32, np.float64):
        p = "S" if dtype == np.float32 else "D"
        table.check(f"cublas{p}gemm_v2 vs host emulation", check_cublas_entry, dtype, False)
        table.check(f"cublas{p}gemmStridedBatched vs host emulation", check_cublas_entry, dtype, True)
    for dtype in (np.float32, np.float64):
        for graph in (False, True):
            name = f"element-wise kernels {np.dtype(dtype).name} {'graphed' if graph else 'eager'}"
            table.check(name, check_elementwise, dtype, graph)
    table.check("two-stream capture (fork/join in a graph)", check_two_stream_capture)
    table.check("cuRAND generators", check_generators)
    for arch in archs:
        for ensemble in (False, True):
            kind = "ensemble" if ensemble else "single"
            table.check(f"fast trainer vs NumPy engine f64: {arch} {kind}", check_fast_vs_engine, arch, ensemble)
    table.check("float32 / TF32 closeness, math modes", check_precision)
    table.check("TF32 rounding measured", check_tf32_rounding)


def gpu_timing(table: Table) -> None:
    for kind, name in (
        ("engine", "ms/step engine (CuPy, fp32)"),
        ("fp32", "ms/step fast fp32"),
        ("tf32", "ms/step fast TF32"),
    ):
        table.check(name, check_timing, kind)


# ---------------------------------------------------------------------------------------------- command
def _versions() -> str:
    import scipy

    from . import __version__

    return (
        f"chaossim {__version__}, Python {platform.python_version()}, NumPy {np.__version__}, SciPy {scipy.__version__}"
    )


def run(*, require_gpu: bool = False, timing: bool = True, out=None, archs=()) -> int:
    """Run every check, print the table, return the exit status (1 if any line failed). ``archs``: more
    architectures to check (names or import paths, :func:`chaossim.archs.lookup`) beside the three built-in
    rate networks."""
    from .archs import lookup
    from .backend import gpu_status

    checked = list(dict.fromkeys([*rate_networks(), *archs]))
    for name in checked:
        if not lookup(name).dynamics:
            from .errors import ConfigError

            raise ConfigError(f"the doctor checks rate networks; {name} has no rate dynamics.")
    table = Table(out)
    table.header(f"chaossim doctor: {platform.node() or 'this machine'} ({platform.platform()})")
    table.add(INFO, "versions", _versions())
    cupy_found = False
    try:
        import cupy  # noqa: F401

        cupy_found = True
        table.add(INFO, "CuPy", _cupy_versions())
    except Exception as exc:
        table.add(INFO, "CuPy", f"not importable ({_short(exc, 60)})")
    ok, why = gpu_status()
    sees_device = False
    if cupy_found:
        try:
            sees_device = cupy.cuda.runtime.getDeviceCount() > 0
        except Exception:
            sees_device = False
    if not ok and not sees_device:
        table.add(FAIL if require_gpu else INFO, "GPU", f"none: {why}")
    numpy_side(table, checked)
    if ok or sees_device:
        gpu_side(table, checked)
        if timing and not table.failed:
            gpu_timing(table)
    failed = table.failed
    if failed:
        print(f"\n{len(failed)} check(s) FAILED: " + "; ".join(r.name for r in failed), file=table.out)
    else:
        where = "the GPU and the NumPy side" if ok else "the NumPy side (no GPU)"
        print(f"\nall checks passed on {where}.", file=table.out)
    return 1 if failed else 0


def cmd_doctor(args) -> int:
    return run(require_gpu=args.require_gpu, timing=not args.no_timing, archs=args.arch or ())


def add_parser(subparsers) -> None:
    """Register ``doctor`` on the ``chaossim`` command line."""
    import argparse

    p = subparsers.add_parser(
        "doctor",
        help="check this machine: versions, device, cuBLAS, GPU kernels and fast path vs NumPy",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="exit status: 0 when every line passes, 1 when any fails.\nexamples:\n  chaossim doctor\n"
        "  chaossim doctor --arch my_arch:Chain4     # also your own architecture (docs/extending.md)",
    )
    p.add_argument(
        "--arch",
        action="append",
        metavar="NAME",
        help="also check this architecture (a registered name or an import path such as my_arch:Chain4; repeatable)",
    )
    p.add_argument("--require-gpu", action="store_true", help="a missing or unusable GPU is a FAIL (for GPU machines)")
    p.add_argument("--no-timing", action="store_true", help="skip the ms/step measurements at the paper's size")
    p.set_defaults(func=cmd_doctor)
