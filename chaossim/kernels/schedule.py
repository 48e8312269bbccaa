"""One contrastive Hebbian training step (docs/model.md, "Training") as a fixed list of fused kernels and GEMMs.

The schedule is written once, independent of the device; an *ops* object executes it:
:class:`HostOps` (NumPy, here: emulates the cuBLAS column-major calls exactly, with bounds checks, so
the index arithmetic is tested on any machine) or ``chaossim.kernels.cupy_fast.CupyOps`` (CuPy
ElementwiseKernels + direct cuBLAS, captured once as a CUDA graph and replayed).

Packed layout. All layers of a state sit side by side in one row-major buffer of shape (R, M, Ntot),
Ntot = sum of the layer sizes, layer L in columns [off_L, off_L + N_L), the visible layer first. The
biases are packed the same way in (R, Ntot). An Euler step (docs/model.md, "Integration") is then

    ACT = phi(X);  X = (1 - a) X + a BIAS           one fused element-wise pass over all layers
    X[:, post] += a ACT[:, pre] @ P_c                one GEMM per coupling c, beta = 1

with a = dt/tau and P_c = K_c^T / sqrt(N_pre), which equals x + a (drive - x): the split form of the Euler
step of :mod:`chaossim.dynamics` (:func:`~chaossim.dynamics.leak`; the exact clamped solution likewise,
:func:`~chaossim.dynamics.relax`). The element-wise passes evaluate those functions and the model's phi:
:class:`HostOps` on arrays, the CUDA kernels on the source :mod:`chaossim.kernels.source` renders from them.
P_c is formed once per training step from the fixed and the trained matrix, stored in whichever orientation
makes that element-wise sum contiguous (the GEMM's transpose flag absorbs it).

The step: form the operators; clamped phase (visible clamped to the batch: the exact solution when every
input of the hidden layers is visible, paper eq. 7, else Euler steps of the hidden layers); free phase
(``steps`` Euler steps from the given initial states); Hebbian update as GEMMs accumulating into the
trained matrices (A += (k/M) ACTc_a^T ACTc_b - (k/M) ACT_a^T ACT_b) and into the biases (ones^T ACT).

cuBLAS is column-major: a row-major (r x c) block with leading dimension ld is the column-major
(c x r) matrix with the same ld, so the row-major C += A B is issued as C^T += B^T A^T.

A program is a list of small frozen records, one type per kind of work: :class:`Form` (an operator P_c),
:class:`Pre` (the element-wise half of an Euler step), :class:`Exact` (the clamped phase in closed form),
:class:`Activity` (final activities), :class:`Gemm` and the stream markers :class:`Fork` / :class:`Join`.
Executors dispatch on the record's type; the buffers are named in the records and resolved by the executor.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import DTypeLike

from .. import dynamics
from ..dynamics import Nonlinearity
from ..errors import ConfigError, DataError
from ..validation import check_rate, check_values, model_dynamics, steps_for

OP_N, OP_T = 0, 1


# ---------------------------------------------------------------------------------------------- instructions
# A program is a list of these frozen records; the executors (HostOps, cupy_fast.CupyOps) dispatch on their type.
# Element-wise instructions act on columns [c0, c0 + nc) of every row of the packed (R, M, Ntot) buffers and read
# the packed biases BIAS (R, Ntot).


@dataclass(frozen=True)
class Form:
    """OP_i = SCALE_i (F_i + TR_i): the operator of coupling ``coupling`` (fixed + trained matrix, times
    1/sqrt(N_pre)), formed once per training step."""

    coupling: int


@dataclass(frozen=True)
class Pre:
    """The element-wise half of an Euler step: ``act = phi(x); x = leak(x, BIAS, a)`` (a = dt/tau,
    :func:`chaossim.dynamics.leak`); the coupling GEMMs that follow add ``a act @ P_c``."""

    x: str
    act: str
    c0: int
    nc: int
    a: float
    phi: Nonlinearity = dynamics.DEFAULT_PHI


@dataclass(frozen=True)
class Exact:
    """``x = relax(x, BIAS, decay)`` with decay = exp(-steps a) (:func:`chaossim.dynamics.relax`): the clamped
    phase solved exactly for layers whose inputs are all clamped (the GEMMs that follow add
    ``(1 - decay) act @ P_c``)."""

    x: str
    c0: int
    nc: int
    decay: float


@dataclass(frozen=True)
class Activity:
    """``act = phi(x)``: the activities of the final state."""

    x: str
    act: str
    c0: int
    nc: int
    phi: Nonlinearity = dynamics.DEFAULT_PHI


@dataclass(frozen=True)
class Fork:
    """The side streams wait for everything issued before on the main stream (stream 0)."""


@dataclass(frozen=True)
class Join:
    """The main stream waits for everything issued before on the side streams."""


@dataclass(frozen=True)
class Gemm:
    """C = alpha op(A) op(B) + beta C, column-major, strided-batched over ``batch``; operands are
    (buffer name, element offset)."""

    transa: int
    transb: int
    m: int
    n: int
    k: int
    alpha: float
    A: tuple[str, int]
    lda: int
    stride_a: int
    B: tuple[str, int]
    ldb: int
    stride_b: int
    beta: float
    C: tuple[str, int]
    ldc: int
    stride_c: int
    batch: int
    stream: int = 0

    @property
    def buffers(self) -> tuple[str, str, str]:
        """The names of the buffers holding A, B and C."""
        return self.A[0], self.B[0], self.C[0]


Instruction = Form | Pre | Exact | Activity | Fork | Join | Gemm
"""One step of a program."""

Program = list[Instruction]
"""The instructions of one training step, in issue order."""


@dataclass(frozen=True)
class Layout:
    """Column offsets of the layers in the packed (R, M, Ntot) buffers."""

    names: tuple[str, ...]
    sizes: tuple[int, ...]
    offsets: tuple[int, ...]
    ntot: int

    @classmethod
    def of(cls, model: Any) -> Layout:
        names = tuple(layer.name for layer in model.layers)
        sizes = tuple(model.sizes[name] for name in names)
        offsets = tuple(int(x) for x in np.concatenate([[0], np.cumsum(sizes)[:-1]]))
        return cls(names, sizes, offsets, int(sum(sizes)))

    def off(self, name: str) -> int:
        return self.offsets[self.names.index(name)]

    def size(self, name: str) -> int:
        return self.sizes[self.names.index(name)]


def supports(model: Any) -> tuple[bool, str]:
    """Whether the schedule applies to ``model`` (its tables), with the reason when not."""
    from ..models.network import Engine

    if not isinstance(model, Engine):
        return False, f"{type(model).__name__} is not a chaossim rate network (a Network or an Ensemble)"
    return True, ""


def _coupling_gemm(
    c_index: int, c: Any, lay: Layout, m_rows: int, R: int, alpha: float, act: str, state: str, stream: int
) -> Gemm:
    n_pre, n_post = lay.size(c.pre), lay.size(c.post)
    pre_major = bool(c.transpose)  # operator stored (N_pre x N_post) row-major, else (N_post x N_pre)
    return Gemm(
        transa=OP_N if pre_major else OP_T,
        transb=OP_N,
        m=n_post,
        n=m_rows,
        k=n_pre,
        alpha=alpha,
        A=(f"OP{c_index}", 0),
        lda=n_post if pre_major else n_pre,
        stride_a=n_pre * n_post,
        B=(act, lay.off(c.pre)),
        ldb=lay.ntot,
        stride_b=m_rows * lay.ntot,
        beta=1.0,
        C=(state, lay.off(c.post)),
        ldc=lay.ntot,
        stride_c=m_rows * lay.ntot,
        batch=R,
        stream=stream,
    )


def _gemm_block(gemms: list[Gemm], n_streams: int) -> Program:
    """The GEMMs of one Euler step, inside a fork/join pair whenever any of them is off the main stream
    (stream 0): the side streams then start after the main stream's preceding kernels and the main stream
    continues after theirs, also inside a CUDA graph capture (a side stream that was never forked from
    the capturing stream would run eagerly, outside the graph, racing it)."""
    if all(g.stream == 0 for g in gemms):
        return list(gemms)
    return [Fork(), *gemms, Join()]


def build_program(
    model: Any, lay: Layout, R: int, M: int, steps: int, a: float, k: float, n_streams: int = 1
) -> Program:
    """The instruction list of one training step (see the module docstring); pure Python, no arrays."""
    couplings = list(model.couplings)
    posts = list(dict.fromkeys(c.post for c in couplings))
    stream_of = {p: i % max(1, n_streams) for i, p in enumerate(posts)}
    vis, phi = model.visible, model.phi
    prog: Program = [Form(i) for i in range(len(couplings))]

    nv = lay.size(vis)
    hidden_cols = (nv, lay.ntot - nv)
    into_hidden = [(i, c) for i, c in enumerate(couplings) if c.post != vis]
    if hidden_cols[1] > 0:
        if all(c.pre == vis for _, c in into_hidden):
            decay = math.exp(-steps * a)
            prog.append(Exact("XC", *hidden_cols, decay))
            prog += [_coupling_gemm(i, c, lay, M, R, 1.0 - decay, "ACTC", "XC", 0) for i, c in into_hidden]
        else:
            for _ in range(steps):
                prog.append(Pre("XC", "ACTC", *hidden_cols, a))
                prog += _gemm_block(
                    [_coupling_gemm(i, c, lay, M, R, a, "ACTC", "XC", stream_of[c.post]) for i, c in into_hidden],
                    n_streams,
                )
        prog.append(Activity("XC", "ACTC", *hidden_cols, phi))

    all_cols = (0, lay.ntot)
    for _ in range(steps):
        prog.append(Pre("X", "ACT", *all_cols, a, phi))
        prog += _gemm_block(
            [_coupling_gemm(i, c, lay, M, R, a, "ACT", "X", stream_of[c.post]) for i, c in enumerate(couplings)],
            n_streams,
        )
    prog.append(Activity("X", "ACT", *all_cols, phi))

    for act, sign in (("ACTC", 1.0), ("ACT", -1.0)):
        alpha = sign * k / M
        for t in model.trained:
            na, nb = lay.size(t.a), lay.size(t.b)
            prog.append(
                Gemm(
                    transa=OP_N,
                    transb=OP_T,
                    m=nb,
                    n=na,
                    k=M,
                    alpha=alpha,
                    A=(act, lay.off(t.b)),
                    lda=lay.ntot,
                    stride_a=M * lay.ntot,
                    B=(act, lay.off(t.a)),
                    ldb=lay.ntot,
                    stride_b=M * lay.ntot,
                    beta=1.0,
                    C=(f"T:{t.name}", 0),
                    ldc=nb,
                    stride_c=na * nb,
                    batch=R,
                )
            )
        prog.append(
            Gemm(
                transa=OP_N,
                transb=OP_N,
                m=lay.ntot,
                n=1,
                k=M,
                alpha=alpha,
                A=(act, 0),
                lda=lay.ntot,
                stride_a=M * lay.ntot,
                B=("ONES", 0),
                ldb=M,
                stride_b=M,
                beta=1.0,
                C=("BIAS", 0),
                ldc=lay.ntot,
                stride_c=lay.ntot,
                batch=R,
            )
        )
    return prog


def gemm_flops(program: Program) -> int:
    """2 m n k per GEMM per batch member, summed over the program."""
    return sum(2 * g.m * g.n * g.k * g.batch for g in program if isinstance(g, Gemm))


_Region = tuple[str, np.ndarray]


def _operand_elements(name_off: tuple[str, int], rows: int, cols: int, ld: int, stride: int, batch: int) -> _Region:
    """(buffer, sorted element indices) a column-major strided-batched operand touches."""
    name, off = name_off
    idx = (
        off
        + np.arange(batch)[:, None, None] * stride
        + np.arange(cols)[None, :, None] * ld
        + np.arange(rows)[None, None, :]
    )
    return name, np.unique(idx)


def _gemm_regions(g: Gemm) -> tuple[list[_Region], _Region]:
    a_shape = (g.m, g.k) if g.transa == OP_N else (g.k, g.m)
    b_shape = (g.k, g.n) if g.transb == OP_N else (g.n, g.k)
    reads = [
        _operand_elements(g.A, *a_shape, g.lda, g.stride_a, g.batch),
        _operand_elements(g.B, *b_shape, g.ldb, g.stride_b, g.batch),
    ]
    write = _operand_elements(g.C, g.m, g.n, g.ldc, g.stride_c, g.batch)
    return reads + [write], write


def _overlap(a: _Region, b: _Region) -> bool:
    return a[0] == b[0] and np.intersect1d(a[1], b[1], assume_unique=True).size > 0


def _check_block(gemms: list[Gemm], where: int) -> None:
    regions = [(g.stream, *_gemm_regions(g)) for g in gemms]
    for j, (sj, touched_j, write_j) in enumerate(regions):
        for sk, touched_k, write_k in regions[j + 1 :]:
            if sj != sk and (
                any(_overlap(write_j, t) for t in touched_k) or any(_overlap(write_k, t) for t in touched_j)
            ):
                raise RuntimeError(
                    f"instruction {where}: GEMMs on streams {sj} and {sk} of one fork block touch the "
                    f"same elements of {write_j[0]!r} or {write_k[0]!r}"
                )


def check_program(program: Program, n_streams: int) -> None:
    """Raise ``RuntimeError`` if ``program`` would race on a GPU with ``n_streams`` streams.

    Rules: a GEMM off the main stream (stream 0) only between ``fork`` and ``join``; no element-wise pass
    and no nested fork inside a fork block; every fork joined; and inside a fork block no GEMM may write
    an element that a GEMM on another stream reads or writes (checked element by element, so the index
    arithmetic of the operands is proved race-free, not assumed; identical blocks are checked once).
    """
    block: list[Gemm] | None = None
    seen: set[tuple[Gemm, ...]] = set()
    for i, ins in enumerate(program):
        match ins:
            case Fork():
                if block is not None:
                    raise RuntimeError(f"instruction {i}: fork inside a fork block")
                block = []
            case Join():
                if block is None:
                    raise RuntimeError(f"instruction {i}: join without a fork")
                if tuple(block) not in seen:
                    _check_block(block, i)
                    seen.add(tuple(block))
                block = None
            case Gemm():
                if not 0 <= ins.stream < max(1, n_streams):
                    raise RuntimeError(f"instruction {i}: GEMM on stream {ins.stream} but only {n_streams} stream(s)")
                if block is not None:
                    block.append(ins)
                elif ins.stream != 0:
                    raise RuntimeError(
                        f"instruction {i}: GEMM on side stream {ins.stream} outside a fork/join block; "
                        "it would run unordered with the main stream (and escape a graph capture)"
                    )
            case _ if block is not None:
                raise RuntimeError(
                    f"instruction {i}: {type(ins).__name__} inside a fork block (it runs on the main "
                    "stream, unordered with the side streams' GEMMs)"
                )
    if block is not None:
        raise RuntimeError("the program ends inside a fork block (missing join)")


class LRUCache:
    """A mapping that keeps its ``maxsize`` most recently used entries (the graph and program caches:
    one entry per (Euler steps, dt/tau, k) key, so a caller cycling through keys cannot grow memory)."""

    def __init__(self, maxsize: int, on_evict: Callable[[Any, Any], None] | None = None) -> None:
        if int(maxsize) < 1:
            raise ConfigError(f"the cache size must be >= 1, got {maxsize!r}.")
        self.maxsize = int(maxsize)
        self.on_evict = on_evict
        self._d: OrderedDict[Any, Any] = OrderedDict()

    def __contains__(self, key: Any) -> bool:
        return key in self._d

    def __len__(self) -> int:
        return len(self._d)

    def __getitem__(self, key: Any) -> Any:
        self._d.move_to_end(key)
        return self._d[key]

    def __setitem__(self, key: Any, value: Any) -> None:
        self._d[key] = value
        self._d.move_to_end(key)
        while len(self._d) > self.maxsize:
            old_key, old = self._d.popitem(last=False)
            if self.on_evict is not None:
                self.on_evict(old_key, old)

    def keys(self) -> list[Any]:
        return list(self._d)

    def clear(self) -> None:
        self._d.clear()


MAX_CACHED = 8
"""Programs (and, on CuPy, captured CUDA graphs) kept per trainer."""


# ---------------------------------------------------------------------------------------------- NumPy emulator
class HostOps:
    """Executes a program with NumPy: element-wise passes with the same index arithmetic as the CUDA
    kernels, GEMMs with cuBLAS's column-major semantics on views of the flat buffers (bounds-checked), and
    every program checked once for stream races (:func:`check_program`) before it runs.

    For tests and as the reference of the GPU code; not a fast path (the CPU uses the engine).
    ``xp``: the array namespace of the buffers (NumPy, or the strict namespace of :mod:`chaossim.strict`,
    which proves that the trainer around the ops never reads device memory back).
    """

    mode = "host"
    graph_error = None

    def __init__(self, dtype: DTypeLike, streams: int = 1, xp: Any = np) -> None:
        self.dtype: np.dtype[Any] = np.dtype(dtype)
        self.xp = xp
        self.n_streams = max(1, int(streams))  # shapes the program (fork/join markers); runs in order
        self.checked: set[Any] = set()

    def empty(self, n: int) -> Any:
        return self.xp.zeros(n, dtype=self.dtype)

    def reset(self) -> None:
        """Forget anything tied to the current buffers (the programs checked for races: new shapes)."""
        self.checked.clear()

    def execute(self, key: Any, program: Program, bufs: dict[str, Any], shape: tuple[int, int]) -> None:
        R, M = shape
        if key not in self.checked:
            check_program(program, self.n_streams)
            self.checked.add(key)
        ntot = bufs["BIAS"].size // R
        xp, t = self.xp, self.dtype.type
        for ins in program:
            match ins:
                case Gemm():
                    self._gemm(ins, bufs)
                case Fork() | Join():
                    continue  # one stream: the program runs in order
                case Form(i):
                    bufs[f"OP{i}"][...] = dynamics.operator(bufs[f"F{i}"], bufs[f"TR{i}"], bufs[f"SCALE{i}"])
                case Pre(x, act, c0, nc, a, phi):
                    idx, bidx = self._index(R, M, ntot, c0, nc)
                    X = bufs[x]
                    v = X[idx]
                    bufs[act][idx] = phi(xp, v)
                    X[idx] = dynamics.leak(v, bufs["BIAS"][bidx], t(a))
                case Exact(x, c0, nc, decay):
                    idx, bidx = self._index(R, M, ntot, c0, nc)
                    bufs[x][idx] = dynamics.relax(bufs[x][idx], bufs["BIAS"][bidx], t(decay))
                case Activity(x, act, c0, nc, phi):
                    idx, _ = self._index(R, M, ntot, c0, nc)
                    bufs[act][idx] = phi(xp, bufs[x][idx])
                case _:
                    raise TypeError(f"unknown instruction {ins!r}")

    def _index(self, R: int, M: int, ntot: int, c0: int, nc: int) -> tuple[Any, Any]:
        i = self.xp.arange(R * M * nc, dtype=np.int64)
        row = i // nc
        col = c0 + i % nc
        return row * ntot + col, (row // M) * ntot + col

    def _view(self, flat: Any, off: int, rows: int, cols: int, ld: int) -> Any:
        if ld < max(1, rows):
            raise ValueError(f"leading dimension {ld} < rows {rows}")
        last = off + (cols - 1) * ld + rows - 1
        if off < 0 or last >= flat.size:
            raise IndexError(f"GEMM operand [{off}, {last}] outside a buffer of {flat.size} elements")
        it = flat.itemsize
        return self.xp.lib.stride_tricks.as_strided(flat[off:], shape=(rows, cols), strides=(it, ld * it))

    def _gemm(self, g: Gemm, bufs: dict[str, Any]) -> None:
        a_rows, a_cols = (g.m, g.k) if g.transa == OP_N else (g.k, g.m)
        b_rows, b_cols = (g.k, g.n) if g.transb == OP_N else (g.n, g.k)
        alpha, beta = self.dtype.type(g.alpha), self.dtype.type(g.beta)
        for r in range(g.batch):
            A = self._view(bufs[g.A[0]], g.A[1] + r * g.stride_a, a_rows, a_cols, g.lda)
            B = self._view(bufs[g.B[0]], g.B[1] + r * g.stride_b, b_rows, b_cols, g.ldb)
            C = self._view(bufs[g.C[0]], g.C[1] + r * g.stride_c, g.m, g.n, g.ldc)
            opa = A if g.transa == OP_N else A.T
            opb = B if g.transb == OP_N else B.T
            C[...] = alpha * (opa @ opb) + beta * C


# ---------------------------------------------------------------------------------------------- the trainer
class ScheduledTrainer:
    """Trains a single model or an :class:`~chaossim.ensemble.Ensemble` with the packed schedule.

    Same contract as ``model.train_step``: the same initial-state draws from the model's generator(s) in
    the same order, the same update; the model's parameters are replaced after every step. Differences:
    nothing is returned (the engine returns the update arrays), and with ``check=False`` a step reads
    nothing back from the device (no host synchronisation; the values of ``batch`` and ``init`` are the
    caller's responsibility). Validation always happens before any kernel of the step is issued, so it is
    never inside a captured graph.

    Parameters are copied into the packed buffers at every step (device-to-device, O(parameters) against
    the step's O(steps x M x N^2) work), so assignments to ``model.params`` and in-place changes of its
    arrays between steps are both seen. Programs (and CUDA graphs) are cached per (Euler steps, dt/tau, k),
    at most :data:`MAX_CACHED` of them.
    """

    def __init__(self, model: Any, ops: Any, *, max_cached: int = MAX_CACHED) -> None:
        ok, why = supports(model)
        if not ok:
            raise ConfigError(f"the fused training schedule cannot train this model: {why}.")
        self.model, self.ops = model, ops
        self.reason = ""
        self.lay = Layout.of(model)
        self.R = model.n_members
        self.stacked = model.stacked
        self.n_streams = ops.n_streams
        self.bufs: dict[str, Any] = {}
        self.M: int | None = None
        self._programs = LRUCache(max_cached)

    @property
    def mode(self) -> str:
        return self.ops.mode

    @property
    def graph_error(self) -> str | None:
        """Why the executor's CUDA graph capture failed (None when it did not; always None on the host)."""
        return self.ops.graph_error

    def rebind(self, model: Any) -> ScheduledTrainer:
        """A trainer for ``model`` on the same executor (streams, cuBLAS handles, compiled kernels)."""
        return ScheduledTrainer(model, self.ops, max_cached=self._programs.maxsize)

    # buffers ---------------------------------------------------------------------------------------
    def _alloc(self, M: int) -> None:
        R, lay, ops, p = self.R, self.lay, self.ops, self.model.params
        b = {name: ops.empty(R * M * lay.ntot) for name in ("X", "ACT", "XC", "ACTC")}
        b["BIAS"] = ops.empty(R * lay.ntot)
        b["ONES"] = ops.empty(R * M)
        b["ONES"][...] = 1
        for t in self.model.trained:
            b[f"T:{t.name}"] = ops.empty(int(np.prod(p[t.name].shape)))
        for i, c in enumerate(self.model.couplings):
            n = lay.size(c.pre) * lay.size(c.post)
            b[f"F{i}"] = ops.empty(R * n)
            b[f"OP{i}"] = ops.empty(R * n)
            b[f"TR{i}"] = b[f"T:{c.trained}"]
            b[f"SCALE{i}"] = 1.0 / math.sqrt(lay.size(c.pre))
        self.ops.reset()  # captured graphs point into the old buffers
        self.bufs, self.M = b, M
        self._programs.clear()

    def _v(self, name: str, *shape: int) -> Any:
        return self.bufs[name].reshape((self.R,) + shape)

    def _copy_in_params(self) -> None:
        p, lay = self.model.params, self.lay
        for i, c in enumerate(self.model.couplings):
            f = p[c.fixed].swapaxes(-1, -2) if c.transpose else p[c.fixed]
            shape = (lay.size(c.pre), lay.size(c.post)) if c.transpose else (lay.size(c.post), lay.size(c.pre))
            self._v(f"F{i}", *shape)[...] = f
        for t in self.model.trained:
            self._v(f"T:{t.name}", lay.size(t.a), lay.size(t.b))[...] = p[t.name]
        bias = self._v("BIAS", lay.ntot)
        for layer in self.model.layers:
            bias[:, lay.off(layer.name) : lay.off(layer.name) + lay.size(layer.name)] = p[layer.bias]

    def _copy_out_params(self) -> None:
        params, lay = self.model.params, self.lay
        for t in self.model.trained:
            new = self._v(f"T:{t.name}", lay.size(t.a), lay.size(t.b)).copy()
            params.assign(t.name, new if self.stacked else new[0], check=False)
        bias = self._v("BIAS", lay.ntot)
        for layer in self.model.layers:
            new = bias[:, lay.off(layer.name) : lay.off(layer.name) + lay.size(layer.name)].copy()
            params.assign(layer.bias, new if self.stacked else new[0], check=False)

    # the step --------------------------------------------------------------------------------------
    def train_step(
        self,
        batch: Any,
        dt: float | None = None,
        tau: float | None = None,
        T: float = 100.0,
        k: float = 0.01,
        init: Mapping[str, Any] | None = None,
        *,
        force: bool = False,
        check: bool = True,
    ) -> None:
        """One contrastive Hebbian update (paper eqs. 3, 6, 11-15); arguments as ``model.train_step``.

        ``check=True`` validates the values of ``batch`` and of the given ``init`` (one host synchronisation
        each); ``check=False`` checks shapes only and the step issues no host synchronisation.
        """
        model = self.model
        dt, tau = model_dynamics(model, dt, tau, force)
        steps = steps_for(T, dt)
        k = check_rate(k)
        batch = model.bk.asarray(batch)
        nv = self.lay.size(model.visible)
        ok_shape = batch.ndim == 2 or (self.stacked and batch.ndim == 3 and batch.shape[0] == self.R)
        if not ok_shape or batch.shape[-1] != nv:
            want = f"(R={self.R}, M, {nv}) or (M, {nv})" if self.stacked else f"(M, {nv})"
            raise DataError(f"batch must have shape {want}, got {tuple(batch.shape)}.")
        if check:
            check_values(batch, "batch", unit_range=True)
        M = batch.shape[-2]
        free0, clamped0 = model.initial_states(M, init, check=check)
        for n, x in list(free0.items()) + list(clamped0.items()):
            if x.shape[-2:] != (M, self.lay.size(n)):
                raise DataError(
                    f"initial state of layer {n!r} has shape {tuple(x.shape)}; expected (..., {M}, {self.lay.size(n)})."
                )
        if self.M != M:
            self._alloc(M)
        self._copy_in_params()
        lay = self.lay
        act_c = self._v("ACTC", M, lay.ntot)
        act_c[:, :, :nv] = batch
        X, XC = self._v("X", M, lay.ntot), self._v("XC", M, lay.ntot)
        for n, x in free0.items():
            X[:, :, lay.off(n) : lay.off(n) + lay.size(n)] = x
        for n, x in clamped0.items():
            XC[:, :, lay.off(n) : lay.off(n) + lay.size(n)] = x
        a = dt / tau
        key = (steps, a, k)
        if key not in self._programs:
            self._programs[key] = build_program(model, lay, self.R, M, steps, a, k, self.n_streams)
        self.ops.execute(key, self._programs[key], self.bufs, (self.R, M))
        self._copy_out_params()

    def flops(self, steps: int, M: int | None = None) -> int:
        """GEMM FLOPs of one training step with ``steps`` Euler steps (2 m n k per GEMM)."""
        return gemm_flops(
            build_program(self.model, self.lay, self.R, M or self.M or 1, steps, 0.1, 0.01, self.n_streams)
        )
