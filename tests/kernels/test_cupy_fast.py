"""The fused training schedule and its CuPy executor against the plain engine.

CPU: the schedule run by HostOps (which emulates cuBLAS's column-major strided-batched GEMMs with
bounds checks) must reproduce the engine's training step in float64, for the three architectures, single
models and ensembles; the module imports without CuPy and falls back to the engine.
GPU (marked gpu): the CuPy fast path, eager and graphed, against the engine.
"""
import subprocess
import sys

import numpy as np
import pytest

from chaossim.backend import gpu_available
from chaossim.ensemble import Ensemble
from chaossim.errors import ConfigError
from chaossim.kernels import HostOps, PlainTrainer, ScheduledTrainer, build_program, fast_path_available, fast_trainer
from chaossim.kernels.schedule import OP_N, Gemm, Layout
from chaossim.models import Deep, Restricted, Unrestricted

ARCHS = [(Unrestricted, (10,)), (Restricted, (10, 7)), (Deep, (10, 7, 5))]


def _pair(cls, sizes, *, ensemble=False, dtype="float64", backend="numpy", seed=0):
    if ensemble:
        mk = lambda: Ensemble(cls.arch, sizes, [1.2, 1.5, 2.0], [seed, seed + 1, seed + 2], dtype=dtype,
                              backend=backend)
    else:
        mk = lambda: cls(*sizes, g=1.5, seed=seed, dtype=dtype, backend=backend)
    return mk(), mk()


def _batch(rng, shape, dtype="float64"):
    return np.tanh(rng.normal(size=shape)).astype(dtype)


def _maxdiff(a, b):
    from chaossim.backend import to_numpy

    return max(float(np.abs(to_numpy(a.params[k]) - to_numpy(b.params[k])).max()) for k in a.params)


@pytest.mark.parametrize("cls,sizes", ARCHS)
@pytest.mark.parametrize("ensemble", [False, True])
@pytest.mark.parametrize("streams", [1, 2])
def test_schedule_reproduces_engine_float64(cls, sizes, ensemble, streams):
    plain, fast = _pair(cls, sizes, ensemble=ensemble)
    tr = ScheduledTrainer(fast, HostOps(np.float64, streams=streams))
    rng = np.random.default_rng(5)
    for _ in range(3):
        shape = ((3,) if ensemble else ()) + (6, sizes[0])
        b = _batch(rng, shape)
        plain.train_step(b, T=5, k=0.3)
        tr.train_step(b, T=5, k=0.3)
    assert _maxdiff(plain, fast) < 1e-12
    assert float(np.abs(fast.params[fast.trained[0].name]).max()) > 1e-3


def test_schedule_float32_close_to_engine():
    plain, fast = _pair(Restricted, (40, 24), dtype="float32")
    tr = ScheduledTrainer(fast, HostOps(np.float32))
    rng = np.random.default_rng(6)
    for _ in range(3):
        b = _batch(rng, (16, 40), "float32")
        plain.train_step(b, T=10)
        tr.train_step(b, T=10)
    assert fast.params["A"].dtype == np.float32
    assert _maxdiff(plain, fast) < 1e-5


def test_schedule_uses_given_init_and_batch_size_change():
    plain, fast = _pair(Deep, (10, 7, 5))
    tr = ScheduledTrainer(fast, HostOps(np.float64))
    rng = np.random.default_rng(7)
    for m in (4, 9):  # buffers are re-laid out when the batch size changes
        init = {"free": {n: rng.normal(size=(m, s)) for n, s in plain.sizes.items()},
                "clamped": {n: rng.normal(size=(m, plain.sizes[n])) for n in ("h1", "h2")}}
        b = _batch(rng, (m, 10))
        plain.train_step(b, T=3, init=init)
        tr.train_step(b, T=3, init=init)
    assert _maxdiff(plain, fast) < 1e-12


def test_schedule_sees_parameters_assigned_between_steps():
    plain, fast = _pair(Restricted, (10, 7))
    tr = ScheduledTrainer(fast, HostOps(np.float64))
    rng = np.random.default_rng(8)
    b = _batch(rng, (5, 10))
    plain.train_step(b, T=2)
    tr.train_step(b, T=2)
    new = {"A": rng.normal(size=(10, 7)), "b": rng.normal(size=10)}
    plain.params = new
    fast.params = new
    b = _batch(rng, (5, 10))
    plain.train_step(b, T=2)
    tr.train_step(b, T=2)
    assert _maxdiff(plain, fast) < 1e-12


def test_gemm_flops_formula():
    """FLOPs of the restricted step: steps x 2 couplings x 2 M Nv Nh (free) + 2 M Nv Nh (exact clamped) +
    2 phases x (2 M Nv Nh (A) + 2 M (Nv + Nh) (biases))."""
    m = Restricted(30, 20)
    M, steps = 8, 7
    prog = build_program(m, Layout.of(m), 1, M, steps, 0.1, 0.01)
    from chaossim.kernels import gemm_flops

    expect = steps * 2 * 2 * M * 30 * 20 + 2 * M * 30 * 20 + 2 * (2 * M * 30 * 20 + 2 * M * 50)
    assert gemm_flops(prog) == expect
    assert gemm_flops(build_program(m, Layout.of(m), 4, M, steps, 0.1, 0.01)) == 4 * expect


def test_host_gemm_bounds_checked():
    ops = HostOps(np.float64)
    bufs = {"A": np.zeros(6), "B": np.zeros(6), "C": np.zeros(4)}
    ok = Gemm(OP_N, OP_N, 2, 2, 3, 1.0, ("A", 0), 2, 0, ("B", 0), 3, 0, 0.0, ("C", 0), 2, 0, 1)
    bufs["A"][:] = np.arange(6)
    bufs["B"][:] = np.arange(6) + 1
    ops._gemm(ok, bufs)
    ref = np.arange(6.0).reshape(3, 2).T @ (np.arange(6.0) + 1).reshape(2, 3).T  # column-major views
    np.testing.assert_allclose(bufs["C"].reshape(2, 2).T, ref)
    bad = Gemm(OP_N, OP_N, 2, 2, 3, 1.0, ("A", 1), 2, 0, ("B", 0), 3, 0, 0.0, ("C", 0), 2, 0, 1)
    with pytest.raises(IndexError):
        ops._gemm(bad, bufs)


def test_fallback_on_numpy_returns_engine_results():
    plain, other = _pair(Restricted, (10, 7), dtype="float32")
    ok, why = fast_path_available(other)
    assert not ok and "numpy" in why
    tr = fast_trainer(other)
    assert isinstance(tr, PlainTrainer) and tr.mode == "plain" and tr.reason == why
    rng = np.random.default_rng(9)
    b = _batch(rng, (6, 10), "float32")
    ref = plain.train_step(b, T=4)
    got = tr.train_step(b, T=4)
    for k in ref:
        assert np.array_equal(got[k], ref[k])
    assert _maxdiff(plain, other) == 0.0
    with pytest.raises(ConfigError, match="not available"):
        fast_trainer(other, require=True)


def test_fallback_for_non_models():
    ok, why = fast_path_available(object())
    assert not ok and "not a chaossim rate network" in why


def test_imports_without_cupy():
    code = ("import sys; sys.modules['cupy'] = None\n"
            "import chaossim.kernels as k\n"
            "from chaossim.models import Restricted\n"
            "t = k.fast_trainer(Restricted(4, 3))\n"
            "assert t.mode == 'plain', t.mode\n"
            "print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "ok" in out.stdout


# ---------------------------------------------------------------------------------------------- GPU
gpu = pytest.mark.gpu


def _need_gpu():
    if not gpu_available():
        pytest.skip("needs CuPy and a CUDA device")


def _given_init(rng, sizes_by_layer, visible, shape_prefix, m):
    free = {n: rng.normal(size=shape_prefix + (m, s)) for n, s in sizes_by_layer.items()}
    clamped = {n: rng.normal(size=shape_prefix + (m, s)) for n, s in sizes_by_layer.items() if n != visible}
    return {"free": free, "clamped": clamped}


@gpu
@pytest.mark.parametrize("cls,sizes", [(Unrestricted, (40,)), (Restricted, (40, 24)), (Deep, (40, 24, 12))])
@pytest.mark.parametrize("ensemble", [False, True])
@pytest.mark.parametrize("graph", [False, True])
@pytest.mark.parametrize("streams", [1, 2])
def test_cupy_fast_float64_matches_numpy_engine(cls, sizes, ensemble, graph, streams):
    """The CuPy fast path against the NumPy engine from the same given initial states, float64, three steps;
    with a batch-size change (new buffers, graphs dropped) and parameters assigned between steps."""
    _need_gpu()
    ref, _ = _pair(cls, sizes, ensemble=ensemble)                     # NumPy engine
    _, fast = _pair(cls, sizes, ensemble=ensemble, backend="cupy")    # CuPy fast path
    tr = fast_trainer(fast, graph=graph, streams=streams, require=True)
    assert tr.mode == ("graph" if graph else "eager")
    rng = np.random.default_rng(10)
    prefix = (3,) if ensemble else ()
    for step, m in enumerate((16, 16, 9)):
        init = _given_init(rng, ref.sizes, ref.visible, prefix, m)
        b = _batch(rng, prefix + (m, sizes[0]))
        ref.train_step(b, T=5, k=0.3, init=init)
        tr.train_step(b, T=5, k=0.3, init=init)
        if step == 0:
            new = {ref.trained[0].name: rng.normal(scale=0.2, size=ref.params[ref.trained[0].name].shape)}
            ref.params = new
            fast.params = new
    assert _maxdiff(ref, fast) < 1e-10
    if graph:
        assert tr.ops.graph_error is None and tr.mode == "graph"
        assert len(tr.ops.graphs) == 1  # the batch-size change dropped the first graph


@gpu
def test_cupy_graph_cache_second_key_and_bound():
    _need_gpu()
    ref, _ = _pair(Restricted, (40, 24))
    _, fast = _pair(Restricted, (40, 24), backend="cupy")
    tr = fast_trainer(fast, require=True, max_cached=2)
    rng = np.random.default_rng(13)
    for T, k in ((5, 0.3), (7, 0.3), (5, 0.3), (5, 0.1)):   # keys: (5, .3), (7, .3), (5, .3) again, (5, .1)
        init = _given_init(rng, ref.sizes, ref.visible, (), 12)
        b = _batch(rng, (12, 40))
        ref.train_step(b, T=T, k=k, init=init)
        tr.train_step(b, T=T, k=k, init=init)
    assert tr.mode == "graph" and tr.ops.graph_error is None
    assert len(tr.ops.graphs) == 2 and len(tr._programs) == 2
    assert sorted(tr.ops.graphs.keys()) == sorted([(5, 0.1, 0.1), (5, 0.1, 0.3)])
    assert _maxdiff(ref, fast) < 1e-10


@gpu
def test_cupy_fast_sees_in_place_parameter_changes():
    _need_gpu()
    ref, _ = _pair(Deep, (40, 24, 12))
    _, fast = _pair(Deep, (40, 24, 12), backend="cupy")
    tr = fast_trainer(fast, require=True)
    rng = np.random.default_rng(14)
    import cupy

    for _ in range(3):
        init = _given_init(rng, ref.sizes, ref.visible, (), 8)
        b = _batch(rng, (8, 40))
        ref.train_step(b, T=4, k=0.2, init=init)
        tr.train_step(b, T=4, k=0.2, init=init)
        d = rng.normal(scale=0.1, size=ref.params["W2"].shape)
        ref.params["W2"][...] += d
        fast.params["W2"][...] += cupy.asarray(d)
    assert _maxdiff(ref, fast) < 1e-10


@gpu
@pytest.mark.parametrize("ensemble", [False, True])
def test_cupy_fast_float32_close(ensemble):
    _need_gpu()
    ref, _ = _pair(Restricted, (196, 128), ensemble=ensemble, dtype="float32")
    _, fast = _pair(Restricted, (196, 128), ensemble=ensemble, dtype="float32", backend="cupy")
    tr = fast_trainer(fast, require=True)
    rng = np.random.default_rng(11)
    prefix = (3,) if ensemble else ()
    for _ in range(2):
        init = {k: {n: x.astype(np.float32) for n, x in v.items()}
                for k, v in _given_init(rng, ref.sizes, ref.visible, prefix, 64).items()}
        b = _batch(rng, prefix + (64, 196), "float32")
        ref.train_step(b, T=5, init=init)
        tr.train_step(b, T=5, init=init)
    assert tr.mode == "graph" and tr.ops.graph_error is None and len(tr.ops.graphs) == 1
    assert [h.math_mode() for h in tr.ops.handles] == [0] * len(tr.ops.handles)  # CUBLAS_DEFAULT_MATH
    assert _maxdiff(ref, fast) < 1e-4


@gpu
def test_cupy_tf32_math_mode_and_measurable_difference():
    """TF32 is really on: the math mode reads back as CUBLAS_TF32_TENSOR_OP_MATH, and a GEMM whose inputs
    need more than TF32's 10 mantissa bits (1 + 2^-12) loses them, while the float32 handle does not."""
    _need_gpu()
    import cupy

    from chaossim.kernels.cupy_fast import CUBLAS_TF32_TENSOR_OP_MATH, Handle, square_gemm

    if int(cupy.cuda.Device().compute_capability) < 80:
        pytest.skip("TF32 tensor cores need compute capability 8.0 (Ampere) or newer")
    n = 1024
    a = cupy.full((n, n), 1.0 + 2.0 ** -12, dtype=cupy.float32)
    b = cupy.ones((n, n), dtype=cupy.float32)
    cupy.cuda.Device().synchronize()  # the handles' streams are non-blocking: no implicit order with this one
    out = {}
    for tf32 in (False, True):
        stream = cupy.cuda.Stream(non_blocking=True)
        h = Handle(stream, tf32=tf32)
        assert h.math_mode() == (CUBLAS_TF32_TENSOR_OP_MATH if tf32 else 0)
        c = cupy.zeros((n, n), dtype=cupy.float32)
        h.gemm(square_gemm(n), np.float32, {"A": a.data.ptr, "B": b.data.ptr, "C": c.data.ptr})
        stream.synchronize()
        out[tf32] = c.get()
    exact = n * (1.0 + 2.0 ** -12)
    assert np.abs(out[False] - exact).max() < 1e-3              # float32 keeps the 2^-12
    assert np.abs(out[True] - exact).min() > 0.5 * n * 2.0 ** -12  # TF32 drops it


@gpu
def test_cupy_tf32_within_seed_spread():
    """TF32 changes the trajectories (chaos amplifies rounding); after training, its distance to the float32
    result must be of the order of the distance between two float32 runs with different initial states,
    and not zero (TF32 silently off would give the float32 result exactly)."""
    _need_gpu()
    from chaossim.backend import derive_seed, to_numpy

    rng = np.random.default_rng(12)
    data = _batch(rng, (6, 256, 196), "float32")

    def train(tf32, stream_seed):
        m = Restricted(196, 128, seed=0, backend="cupy")
        tr = fast_trainer(m, tf32=tf32, require=True)
        assert tr.mode == "graph"
        for s, b in enumerate(data):
            m.bk.reseed(m.rng, derive_seed(stream_seed, s))
            tr.train_step(b, T=100, k=0.05)
        assert tr.ops.graph_error is None
        return to_numpy(m.params["A"])

    a32, a32_other, a_tf32, a32_again = train(False, 1), train(False, 2), train(True, 1), train(False, 1)
    np.testing.assert_array_equal(a32, a32_again)  # the same seed: the same float32 result
    spread = np.linalg.norm(a32 - a32_other)
    assert spread > 0
    assert not np.array_equal(a_tf32, a32)
    assert np.linalg.norm(a_tf32 - a32) < 2.0 * spread
    assert 0.5 < np.linalg.norm(a_tf32) / np.linalg.norm(a32) < 2.0


@gpu
def test_cupy_fast_step_has_no_host_synchronisation_inside():
    """With check=False a step only queues work. Ten queued paper-size steps (100 Euler steps each) take the
    host a fraction of the GPU's time; one synchronisation per step would make the host wait for the GPU
    (host time >= 9/10 of the GPU time)."""
    _need_gpu()
    import time

    import cupy

    m = Restricted(784, 500, backend="cupy")
    tr = fast_trainer(m, require=True)
    b = cupy.asarray(_batch(np.random.default_rng(15), (500, 784), "float32"))
    tr.train_step(b, T=100, check=False)  # capture
    cupy.cuda.Device().synchronize()
    start, done = cupy.cuda.Event(), cupy.cuda.Event()
    start.record()
    t0 = time.perf_counter()
    for _ in range(10):
        tr.train_step(b, T=100, check=False)
    host = time.perf_counter() - t0
    done.record()
    done.synchronize()
    device = cupy.cuda.get_elapsed_time(start, done) / 1e3
    assert host < 0.5 * device, (host, device)
