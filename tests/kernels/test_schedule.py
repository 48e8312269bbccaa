"""The device-independent schedule: stream discipline (fork/join), race freedom, bounded caches, parameters
changed in place between steps. All on the CPU (HostOps emulates the GPU calls)."""
import numpy as np
import pytest

from chaossim.ensemble import Ensemble
from chaossim.errors import ConfigError
from chaossim.kernels import HostOps, ScheduledTrainer, build_program
from chaossim.kernels.schedule import (
    OP_N,
    OP_T,
    Fork,
    Gemm,
    Join,
    Layout,
    LRUCache,
    Pre,
    _gemm_block,
    check_program,
)
from chaossim.models import Deep, Restricted, Unrestricted

ARCHS = [(Unrestricted, (10,)), (Restricted, (10, 7)), (Deep, (10, 7, 5))]


def _gemm(stream, c=("C", 0), a=("A", 0)):
    return Gemm(OP_N, OP_N, 2, 2, 2, 1.0, a, 2, 4, ("B", 0), 2, 4, 1.0, c, 2, 4, 1, stream=stream)


def test_block_entirely_on_a_side_stream_is_forked_and_joined():
    """Defect: fork/join was added only when a block used more than one stream."""
    assert _gemm_block([_gemm(0), _gemm(0)], 2) == [_gemm(0)] * 2
    side_only = _gemm_block([_gemm(1)], 2)
    assert side_only == [Fork(), _gemm(1), Join()]
    check_program(side_only, 2)
    with pytest.raises(RuntimeError, match="outside a fork/join block"):
        check_program([_gemm(1)], 2)


def test_program_checker_finds_races_and_bad_structure():
    ok = [Fork(), _gemm(0, c=("C", 0)), _gemm(1, c=("C", 8)), Join()]
    check_program(ok, 2)
    write_write = [Fork(), _gemm(0, c=("C", 0)), _gemm(1, c=("C", 1)), Join()]
    with pytest.raises(RuntimeError, match="touch the same elements"):
        check_program(write_write, 2)
    read_write = [Fork(), _gemm(0, c=("C", 0)), _gemm(1, c=("D", 0), a=("C", 2)), Join()]
    with pytest.raises(RuntimeError, match="touch the same elements"):
        check_program(read_write, 2)
    same_stream = [Fork(), _gemm(1, c=("C", 0)), _gemm(1, c=("C", 1)), Join()]
    check_program(same_stream, 2)  # one stream runs its GEMMs in order: no race
    for bad, msg in (([Fork(), Pre("X", "ACT", 0, 1, 0.1), Join()], "Pre inside a fork block"),
                     ([Fork(), Fork()], "fork inside"), ([Join()], "without a fork"),
                     ([Fork(), _gemm(1)], "missing join"), ([_gemm(2)], "only 2 stream")):
        with pytest.raises(RuntimeError, match=msg):
            check_program(bad, 2)


@pytest.mark.parametrize("cls,sizes", ARCHS)
@pytest.mark.parametrize("R", [1, 3])
@pytest.mark.parametrize("streams", [1, 2, 3])
def test_every_program_is_race_free(cls, sizes, R, streams):
    m = cls(*sizes)
    prog = build_program(m, Layout.of(m), R, 4, 3, 0.1, 0.01, streams)
    check_program(prog, streams)
    side = [g for g in prog if isinstance(g, Gemm) and g.stream != 0]
    assert bool(side) == (streams > 1 and cls is not Unrestricted)


def test_side_stream_only_clamped_block_of_deep_with_three_streams():
    """Deep with 3 streams: the clamped phase's GEMMs all sit on side streams (h1 -> 1, h2 -> 2) and must
    still be inside fork/join."""
    m = Deep(10, 7, 5)
    prog = build_program(m, Layout.of(m), 1, 4, 2, 0.1, 0.01, 3)
    first_gemm = next(i for i, ins in enumerate(prog) if isinstance(ins, Gemm))
    assert prog[first_gemm - 1] == Fork() and prog[first_gemm].stream != 0
    check_program(prog, 3)


def test_lru_cache():
    dropped = []
    c = LRUCache(2, on_evict=lambda k, v: dropped.append(k))
    c["a"], c["b"] = 1, 2
    assert c["a"] == 1            # "a" is now the most recently used
    c["c"] = 3
    assert dropped == ["b"] and c.keys() == ["a", "c"] and len(c) == 2 and "b" not in c
    with pytest.raises(ConfigError):
        LRUCache(0)


def test_program_cache_is_bounded():
    """Defect: the cache keyed by (steps, dt/tau, k) grew without bound."""
    m = Restricted(10, 7, dtype="float64")
    tr = ScheduledTrainer(m, HostOps(np.float64), max_cached=3)
    rng = np.random.default_rng(0)
    for i in range(7):
        tr.train_step(np.tanh(rng.normal(size=(4, 10))), T=2, k=0.01 * (i + 1))
    assert len(tr._programs) == 3
    assert [key[2] for key in tr._programs.keys()] == pytest.approx([0.05, 0.06, 0.07])


@pytest.mark.parametrize("ensemble", [False, True])
def test_in_place_parameter_changes_are_seen(ensemble):
    """Defect: an identity cache skipped copying parameters whose arrays were changed in place."""
    def make():
        if ensemble:
            return Ensemble("deep", (10, 7, 5), [1.2, 1.8], [0, 1], dtype="float64")
        return Deep(10, 7, 5, dtype="float64")

    plain, fast = make(), make()
    tr = ScheduledTrainer(fast, HostOps(np.float64, streams=2))
    rng = np.random.default_rng(1)
    shape = ((2,) if ensemble else ()) + (5, 10)
    for _ in range(4):
        b = np.tanh(rng.normal(size=shape))
        plain.train_step(b, T=3, k=0.2)
        tr.train_step(b, T=3, k=0.2)
        kick = {name: rng.normal(scale=0.1, size=plain.params[name].shape) for name in ("A1", "W2", "c", "Wt1")}
        for name, d in kick.items():  # in place, the same array objects
            plain.params[name][...] += d
            fast.params[name][...] += d
    b = np.tanh(rng.normal(size=shape))
    plain.train_step(b, T=3, k=0.2)
    tr.train_step(b, T=3, k=0.2)
    for name in plain.params:
        np.testing.assert_allclose(fast.params[name], plain.params[name], rtol=0, atol=1e-12, err_msg=name)


def test_host_gemm_emulation_all_transposes_padded_ld_batched():
    """HostOps's GEMM (the reference of the cuBLAS calls) against NumPy on explicit column-major views:
    every transpose pair, leading dimensions larger than the rows, batch strides larger than a matrix."""
    rng = np.random.default_rng(2)
    m, n, k, batch, pad = 3, 4, 5, 3, 2
    ops = HostOps(np.float64)
    for ta in (OP_N, OP_T):
        for tb in (OP_N, OP_T):
            ar, ac = (m, k) if ta == OP_N else (k, m)
            br, bc = (k, n) if tb == OP_N else (n, k)
            lda, ldb, ldc = ar + pad, br + pad, m + pad
            sa, sb, sc = lda * ac + 3, ldb * bc + 1, ldc * n + 2
            bufs = {"A": rng.normal(size=sa * batch + 5), "B": rng.normal(size=sb * batch + 5),
                    "C": rng.normal(size=sc * batch + 5)}
            before = bufs["C"].copy()
            g = Gemm(ta, tb, m, n, k, 0.7, ("A", 5), lda, sa, ("B", 5), ldb, sb, -0.3, ("C", 5), ldc, sc, batch)
            ops._gemm(g, bufs)
            touched = np.zeros(bufs["C"].size, bool)

            def col(buf, off, rows, cols, ld):
                return np.array([[buf[off + j * ld + i] for j in range(cols)] for i in range(rows)])

            for r in range(batch):
                A = col(bufs["A"], 5 + r * sa, ar, ac, lda)
                B = col(bufs["B"], 5 + r * sb, br, bc, ldb)
                C0 = col(before, 5 + r * sc, m, n, ldc)
                want = 0.7 * (A if ta == OP_N else A.T) @ (B if tb == OP_N else B.T) - 0.3 * C0
                np.testing.assert_allclose(col(bufs["C"], 5 + r * sc, m, n, ldc), want, rtol=1e-13, atol=1e-13)
                for j in range(n):
                    touched[5 + r * sc + j * ldc:5 + r * sc + j * ldc + m] = True
            np.testing.assert_array_equal(bufs["C"][~touched], before[~touched])  # padding untouched


def test_executor_refuses_an_unknown_instruction():
    """The executors dispatch on the instruction's type; anything else is named in the error."""
    bufs = {"BIAS": np.zeros(2)}
    with pytest.raises(TypeError, match="unknown instruction"):
        HostOps(np.float64).execute("k", [("pre", "X", "ACT", (0, 1), 0.1)], bufs, (1, 1))
