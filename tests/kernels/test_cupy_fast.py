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
    assert not ok and "not a chaossim layered model" in why


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


@gpu
@pytest.mark.parametrize("cls,sizes", [(Unrestricted, (40,)), (Restricted, (40, 24)), (Deep, (40, 24, 12))])
@pytest.mark.parametrize("ensemble", [False, True])
@pytest.mark.parametrize("graph", [False, True])
def test_cupy_fast_float64_matches_engine(cls, sizes, ensemble, graph):
    _need_gpu()
    plain, fast = _pair(cls, sizes, ensemble=ensemble, backend="cupy")
    tr = fast_trainer(fast, graph=graph, require=True)
    rng = np.random.default_rng(10)
    for _ in range(3):
        b = _batch(rng, ((3,) if ensemble else ()) + (16, sizes[0]))
        plain.train_step(b, T=5, k=0.3)
        tr.train_step(b, T=5, k=0.3)
    assert tr.mode == ("graph" if graph else "eager")
    assert _maxdiff(plain, fast) < 1e-10


@gpu
@pytest.mark.parametrize("ensemble", [False, True])
def test_cupy_fast_float32_close(ensemble):
    _need_gpu()
    plain, fast = _pair(Restricted, (196, 128), ensemble=ensemble, dtype="float32", backend="cupy")
    tr = fast_trainer(fast, require=True)
    rng = np.random.default_rng(11)
    for _ in range(2):
        b = _batch(rng, ((3,) if ensemble else ()) + (64, 196), "float32")
        plain.train_step(b, T=5)
        tr.train_step(b, T=5)
    assert _maxdiff(plain, fast) < 1e-4


@gpu
def test_cupy_tf32_within_seed_spread():
    """TF32 changes the trajectories (chaos amplifies rounding); after training, its distance to the float32
    result must be of the order of the distance between two float32 runs with different initial states."""
    _need_gpu()
    from chaossim.backend import derive_seed

    rng = np.random.default_rng(12)
    data = _batch(rng, (6, 256, 196), "float32")

    def train(tf32, stream_seed):
        m = Restricted(196, 128, seed=0, backend="cupy")
        tr = fast_trainer(m, tf32=tf32, require=True)
        for s, b in enumerate(data):
            m.rng = m.bk.rng(derive_seed(stream_seed, s))
            tr.train_step(b, T=100, k=0.05)
        from chaossim.backend import to_numpy

        return to_numpy(m.params["A"])

    a32, a32_other, a_tf32 = train(False, 1), train(False, 2), train(True, 1)
    spread = np.linalg.norm(a32 - a32_other)
    assert spread > 0
    assert np.linalg.norm(a_tf32 - a32) < 2.0 * spread
    assert 0.5 < np.linalg.norm(a_tf32) / np.linalg.norm(a32) < 2.0
