"""One contrastive Hebbian training step (SPEC "Training") as a fixed list of fused kernels and GEMMs.

The schedule is written once, independent of the device; an *ops* object executes it:
:class:`HostOps` (NumPy, here: emulates the cuBLAS column-major calls exactly, with bounds checks, so
the index arithmetic is tested on any machine) or ``chaossim.kernels.cupy_fast.CupyOps`` (CuPy
ElementwiseKernels + direct cuBLAS, captured once as a CUDA graph and replayed).

Packed layout. All layers of a state sit side by side in one row-major buffer of shape (R, M, Ntot),
Ntot = sum of the layer sizes, layer L in columns [off_L, off_L + N_L), the visible layer first. The
biases are packed the same way in (R, Ntot). An Euler step (SPEC "Integration") is then

    ACT = tanh(X);  X = (1 - a) X + a BIAS          one fused element-wise pass over all layers
    X[:, post] += a ACT[:, pre] @ P_c                one GEMM per coupling c, beta = 1

with a = dt/tau and P_c = K_c^T / sqrt(N_pre), which equals x + a (drive - x). P_c is formed once
per training step from the fixed and the trained matrix, stored in whichever orientation makes that
element-wise sum contiguous (the GEMM's transpose flag absorbs it).

The step: form the operators; clamped phase (visible clamped to the batch: the exact solution when every
input of the hidden layers is visible, SPEC "Training", else Euler steps of the hidden layers); free phase
(``steps`` Euler steps from the given initial states); Hebbian update as GEMMs accumulating into the
trained matrices (A += (k/M) ACTc_a^T ACTc_b - (k/M) ACT_a^T ACT_b) and into the biases (ones^T ACT).

cuBLAS is column-major: a row-major (r x c) block with leading dimension ld is the column-major
(c x r) matrix with the same ld, so the row-major C += A B is issued as C^T += B^T A^T.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError, DataError
from ..validation import check_dynamics, steps_for

OP_N, OP_T = 0, 1


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


@dataclass(frozen=True)
class Layout:
    """Column offsets of the layers in the packed (R, M, Ntot) buffers."""

    names: tuple[str, ...]
    sizes: tuple[int, ...]
    offsets: tuple[int, ...]
    ntot: int

    @classmethod
    def of(cls, model) -> "Layout":
        names = tuple(layer.name for layer in model.layers)
        sizes = tuple(layer.size for layer in model.layers)
        offsets = tuple(int(x) for x in np.concatenate([[0], np.cumsum(sizes)[:-1]]))
        return cls(names, sizes, offsets, int(sum(sizes)))

    def off(self, name: str) -> int:
        return self.offsets[self.names.index(name)]

    def size(self, name: str) -> int:
        return self.sizes[self.names.index(name)]


def supports(model) -> tuple[bool, str]:
    """Whether the schedule applies to ``model`` (its tables), with the reason when not."""
    layers = getattr(model, "layers", None)
    if not layers or not hasattr(model, "couplings") or not hasattr(model, "trained"):
        return False, f"{type(model).__name__} is not a chaossim layered model (Unrestricted, Restricted, Deep or an Ensemble)"
    if layers[0].name != model.visible:
        return False, "the visible layer must be the first layer of the model's table"
    return True, ""


def _coupling_gemm(c_index: int, c, lay: Layout, m_rows: int, R: int, alpha: float, act: str, state: str, stream: int):
    n_pre, n_post = lay.size(c.pre), lay.size(c.post)
    pre_major = bool(c.transpose)  # operator stored (N_pre x N_post) row-major, else (N_post x N_pre)
    return Gemm(transa=OP_N if pre_major else OP_T, transb=OP_N, m=n_post, n=m_rows, k=n_pre, alpha=alpha,
                A=(f"OP{c_index}", 0), lda=n_post if pre_major else n_pre, stride_a=n_pre * n_post,
                B=(act, lay.off(c.pre)), ldb=lay.ntot, stride_b=m_rows * lay.ntot, beta=1.0,
                C=(state, lay.off(c.post)), ldc=lay.ntot, stride_c=m_rows * lay.ntot, batch=R, stream=stream)


def _gemm_block(gemms: list, n_streams: int) -> list:
    """The GEMMs of one step, forked over streams when they use more than one (a join closes the fork)."""
    if len({g.stream for g in gemms}) <= 1:
        return [("gemm", g) for g in gemms]
    return [("fork",)] + [("gemm", g) for g in gemms] + [("join",)]


def build_program(model, lay: Layout, R: int, M: int, steps: int, a: float, k: float, n_streams: int = 1) -> list:
    """The instruction list of one training step (see the module docstring); pure Python, no arrays."""
    couplings = list(model.couplings)
    posts = list(dict.fromkeys(c.post for c in couplings))
    stream_of = {p: i % max(1, n_streams) for i, p in enumerate(posts)}
    vis = model.visible
    prog: list = [("form", i) for i in range(len(couplings))]

    nv = lay.size(vis)
    hidden_cols = (nv, lay.ntot - nv)
    into_hidden = [(i, c) for i, c in enumerate(couplings) if c.post != vis]
    if hidden_cols[1] > 0:
        if all(c.pre == vis for _, c in into_hidden):
            decay = math.exp(-steps * a)
            prog.append(("exact", "XC", hidden_cols, decay))
            prog += [("gemm", _coupling_gemm(i, c, lay, M, R, 1.0 - decay, "ACTC", "XC", 0)) for i, c in into_hidden]
        else:
            for _ in range(steps):
                prog.append(("pre", "XC", "ACTC", hidden_cols, a))
                prog += _gemm_block([_coupling_gemm(i, c, lay, M, R, a, "ACTC", "XC", stream_of[c.post])
                                     for i, c in into_hidden], n_streams)
        prog.append(("tanh", "XC", "ACTC", hidden_cols))

    all_cols = (0, lay.ntot)
    for _ in range(steps):
        prog.append(("pre", "X", "ACT", all_cols, a))
        prog += _gemm_block([_coupling_gemm(i, c, lay, M, R, a, "ACT", "X", stream_of[c.post])
                             for i, c in enumerate(couplings)], n_streams)
    prog.append(("tanh", "X", "ACT", all_cols))

    for act, sign in (("ACTC", 1.0), ("ACT", -1.0)):
        alpha = sign * k / M
        for t in model.trained:
            na, nb = lay.size(t.a), lay.size(t.b)
            prog.append(("gemm", Gemm(transa=OP_N, transb=OP_T, m=nb, n=na, k=M, alpha=alpha,
                                      A=(act, lay.off(t.b)), lda=lay.ntot, stride_a=M * lay.ntot,
                                      B=(act, lay.off(t.a)), ldb=lay.ntot, stride_b=M * lay.ntot, beta=1.0,
                                      C=(f"T:{t.name}", 0), ldc=nb, stride_c=na * nb, batch=R)))
        prog.append(("gemm", Gemm(transa=OP_N, transb=OP_N, m=lay.ntot, n=1, k=M, alpha=alpha,
                                  A=(act, 0), lda=lay.ntot, stride_a=M * lay.ntot, B=("ONES", 0), ldb=M, stride_b=M,
                                  beta=1.0, C=("BIAS", 0), ldc=lay.ntot, stride_c=lay.ntot, batch=R)))
    return prog


def gemm_flops(program: list) -> int:
    """2 m n k per GEMM per batch member, summed over the program."""
    return sum(2 * g.m * g.n * g.k * g.batch for op, *rest in program if op == "gemm" for g in rest)


# ---------------------------------------------------------------------------------------------- NumPy emulator
class HostOps:
    """Executes a program with NumPy: element-wise passes with the same index arithmetic as the CUDA
    kernels, GEMMs with cuBLAS's column-major semantics on views of the flat buffers (bounds-checked).

    For tests and as the reference of the GPU code; not a fast path (the CPU uses the engine).
    """

    mode = "host"

    def __init__(self, dtype, streams: int = 1):
        self.dtype = np.dtype(dtype)
        self.xp = np
        self.n_streams = max(1, int(streams))  # only shapes the program (fork/join markers); runs in order

    def empty(self, n: int):
        return np.zeros(n, dtype=self.dtype)

    def reset(self):
        """Forget anything tied to the current buffers (nothing on the host)."""

    def execute(self, key, program: list, bufs: dict, shape: tuple[int, int]):
        R, M = shape
        for ins in program:
            op = ins[0]
            if op == "gemm":
                self._gemm(ins[1], bufs)
            elif op in ("fork", "join"):
                continue
            elif op == "form":
                i = ins[1]
                np.multiply(bufs[f"SCALE{i}"], bufs[f"F{i}"] + bufs[f"TR{i}"], out=bufs[f"OP{i}"])
            else:
                self._elementwise(ins, bufs, R, M)

    @staticmethod
    def _index(R: int, M: int, ntot: int, c0: int, nc: int):
        i = np.arange(R * M * nc, dtype=np.int64)
        row = i // nc
        col = c0 + i % nc
        return row * ntot + col, (row // M) * ntot + col

    def _elementwise(self, ins, bufs, R, M):
        op, xname = ins[0], ins[1]
        X = bufs[xname]
        ntot = bufs["BIAS"].size // R
        if op == "pre":
            _, _, actname, (c0, nc), a = ins
            idx, bidx = self._index(R, M, ntot, c0, nc)
            x = X[idx]
            bufs[actname][idx] = np.tanh(x)
            X[idx] = (1 - self.dtype.type(a)) * x + self.dtype.type(a) * bufs["BIAS"][bidx]
        elif op == "exact":
            _, _, (c0, nc), d = ins
            idx, bidx = self._index(R, M, ntot, c0, nc)
            d = self.dtype.type(d)
            X[idx] = d * X[idx] + (1 - d) * bufs["BIAS"][bidx]
        elif op == "tanh":
            _, _, actname, (c0, nc) = ins
            idx, _ = self._index(R, M, ntot, c0, nc)
            bufs[actname][idx] = np.tanh(X[idx])
        else:
            raise ValueError(f"unknown instruction {op!r}")

    @staticmethod
    def _view(flat, off: int, rows: int, cols: int, ld: int):
        if ld < max(1, rows):
            raise ValueError(f"leading dimension {ld} < rows {rows}")
        last = off + (cols - 1) * ld + rows - 1
        if off < 0 or last >= flat.size:
            raise IndexError(f"GEMM operand [{off}, {last}] outside a buffer of {flat.size} elements")
        it = flat.itemsize
        return np.lib.stride_tricks.as_strided(flat[off:], shape=(rows, cols), strides=(it, ld * it))

    def _gemm(self, g: Gemm, bufs):
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
    only shapes are checked (values are not read back: no host synchronisation in a step), and nothing is
    returned (the engine returns the update arrays).
    """

    def __init__(self, model, ops):
        ok, why = supports(model)
        if not ok:
            raise ConfigError(f"the fused training schedule cannot train this model: {why}.")
        self.model, self.ops = model, ops
        self.lay = Layout.of(model)
        self.R = getattr(model, "n_members", 1)
        self.stacked = hasattr(model, "n_members")
        self.n_streams = getattr(ops, "n_streams", 1)
        self.bufs: dict = {}
        self.M = None
        self._programs: dict = {}
        self._synced: dict = {}

    @property
    def mode(self) -> str:
        return self.ops.mode

    # buffers ---------------------------------------------------------------------------------------
    def _alloc(self, M: int):
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
        self.bufs, self.M, self._synced, self._programs = b, M, {}, {}

    def _v(self, name: str, *shape):
        return self.bufs[name].reshape((self.R,) + shape)

    def _copy_in_params(self):
        p, lay = self.model.params, self.lay
        for i, c in enumerate(self.model.couplings):
            arr = p[c.fixed]
            if self._synced.get(("F", i)) is not arr:
                f = arr.swapaxes(-1, -2) if c.transpose else arr
                shape = (lay.size(c.pre), lay.size(c.post)) if c.transpose else (lay.size(c.post), lay.size(c.pre))
                self._v(f"F{i}", *shape)[...] = f
                self._synced[("F", i)] = arr
        for t in self.model.trained:
            arr = p[t.name]
            if self._synced.get(t.name) is not arr:
                self._v(f"T:{t.name}", lay.size(t.a), lay.size(t.b))[...] = arr
                self._synced[t.name] = arr
        bias = self._v("BIAS", lay.ntot)
        for layer in self.model.layers:
            arr = p[layer.bias]
            if self._synced.get(layer.bias) is not arr:
                bias[:, lay.off(layer.name):lay.off(layer.name) + layer.size] = arr
                self._synced[layer.bias] = arr

    def _copy_out_params(self):
        d, lay = self.model.params._d, self.lay
        for t in self.model.trained:
            new = self._v(f"T:{t.name}", lay.size(t.a), lay.size(t.b)).copy()
            d[t.name] = new if self.stacked else new[0]
            self._synced[t.name] = d[t.name]
        bias = self._v("BIAS", lay.ntot)
        for layer in self.model.layers:
            new = bias[:, lay.off(layer.name):lay.off(layer.name) + layer.size].copy()
            d[layer.bias] = new if self.stacked else new[0]
            self._synced[layer.bias] = d[layer.bias]

    # the step --------------------------------------------------------------------------------------
    def train_step(self, batch, dt: float | None = None, tau: float | None = None, T: float = 100.0,
                   k: float = 0.01, init: Mapping | None = None, *, force: bool = False) -> None:
        """One contrastive Hebbian update (SPEC "Training"); arguments as ``model.train_step``."""
        from ..ensemble import initial_states

        model = self.model
        dt, tau = check_dynamics(model.dt if dt is None else dt, model.tau if tau is None else tau,
                                 force=force or model.force)
        steps = steps_for(T, dt)
        k = float(k)
        if not math.isfinite(k) or k < 0:
            raise ConfigError(f"the learning rate k must be finite and >= 0, got {k!r}.")
        batch = model.bk.asarray(batch)
        nv = self.lay.size(model.visible)
        ok_shape = batch.ndim == 2 or (self.stacked and batch.ndim == 3 and batch.shape[0] == self.R)
        if not ok_shape or batch.shape[-1] != nv:
            want = f"(R={self.R}, M, {nv}) or (M, {nv})" if self.stacked else f"(M, {nv})"
            raise DataError(f"batch must have shape {want}, got {tuple(batch.shape)}.")
        M = batch.shape[-2]
        free0, clamped0 = initial_states(model, M, init)
        for n, x in list(free0.items()) + list(clamped0.items()):
            if x.shape[-2:] != (M, self.lay.size(n)):
                raise DataError(f"initial state of layer {n!r} has shape {tuple(x.shape)}; expected (..., {M}, "
                                f"{self.lay.size(n)}).")
        if self.M != M:
            self._alloc(M)
        self._copy_in_params()
        lay = self.lay
        act_c = self._v("ACTC", M, lay.ntot)
        act_c[:, :, :nv] = batch
        X, XC = self._v("X", M, lay.ntot), self._v("XC", M, lay.ntot)
        for n, x in free0.items():
            X[:, :, lay.off(n):lay.off(n) + lay.size(n)] = x
        for n, x in clamped0.items():
            XC[:, :, lay.off(n):lay.off(n) + lay.size(n)] = x
        a = dt / tau
        key = (steps, a, k)
        if key not in self._programs:
            self._programs[key] = build_program(model, lay, self.R, M, steps, a, k, self.n_streams)
        self.ops.execute(key, self._programs[key], self.bufs, (self.R, M))
        self._copy_out_params()

    def flops(self, steps: int, M: int | None = None) -> int:
        """GEMM FLOPs of one training step with ``steps`` Euler steps (2 m n k per GEMM)."""
        return gemm_flops(build_program(self.model, self.lay, self.R, M or self.M or 1, steps, 0.1, 0.01,
                                        self.n_streams))
