"""CUDA source of the fused schedule's element-wise kernels, rendered from :mod:`chaossim.dynamics`.

The kernels are not written by hand beside the physics: each body is the output of the very functions the
NumPy side runs (:func:`chaossim.dynamics.leak`, :func:`~chaossim.dynamics.relax`,
:func:`~chaossim.dynamics.operator` and the model's :class:`~chaossim.dynamics.Nonlinearity`), called on
symbolic values (:class:`Expr`) and a namespace whose functions print C (:class:`CMath`). So the host
executor of the schedule (:class:`chaossim.kernels.schedule.HostOps`), which the CPU tests compare with the
engine, and the GPU kernels evaluate the same expressions. Pure Python: :func:`kernel_sources` can be read and
tested without CuPy; :mod:`chaossim.kernels.cupy_fast` compiles its output with ``cupy.ElementwiseKernel``.

Index arithmetic (the packed layout of :mod:`chaossim.kernels.schedule`): element i of a pass over columns
[c0, c0 + nc) of every row of an (R, M, Ntot) buffer is at row = i / nc, column c0 + i % nc; its bias at
(row / M) * Ntot + column.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import DTypeLike

from .. import dynamics
from ..dynamics import Nonlinearity
from ..errors import ConfigError

INDEX = """\
const long long row = i / nc;
const long long col = c0 + i % nc;
const long long idx = row * ntot + col;
const long long bidx = (row / m) * ntot + col;
"""
"""The index arithmetic every column pass starts with (same as HostOps._index)."""


class Expr:
    """A symbolic value: arithmetic on it builds C source (fully parenthesised)."""

    __array_ufunc__ = None  # NumPy scalars on the left defer to the reflected operators below

    def __init__(self, text: str, dtype: np.dtype):
        self.text, self.dtype = text, np.dtype(dtype)

    def _wrap(self, other: Any) -> str:
        return other.text if isinstance(other, Expr) else literal(other, self.dtype)

    def _op(self, op: str, other: Any, reflected: bool = False) -> Expr:
        a, b = self.text, self._wrap(other)
        return Expr(f"({b} {op} {a})" if reflected else f"({a} {op} {b})", self.dtype)

    def __add__(self, o: Any) -> Expr:
        return self._op("+", o)

    def __radd__(self, o: Any) -> Expr:
        return self._op("+", o, True)

    def __sub__(self, o: Any) -> Expr:
        return self._op("-", o)

    def __rsub__(self, o: Any) -> Expr:
        return self._op("-", o, True)

    def __mul__(self, o: Any) -> Expr:
        return self._op("*", o)

    def __rmul__(self, o: Any) -> Expr:
        return self._op("*", o, True)

    def __truediv__(self, o: Any) -> Expr:
        return self._op("/", o)

    def __rtruediv__(self, o: Any) -> Expr:
        return self._op("/", o, True)

    def __neg__(self) -> Expr:
        return Expr(f"(-{self.text})", self.dtype)

    def __pos__(self) -> Expr:
        return self

    def __abs__(self) -> Expr:
        return CMath(self.dtype).abs(self)

    def __pow__(self, o: Any) -> Expr:
        if isinstance(o, int) and not isinstance(o, bool) and 1 <= o <= 4:
            return Expr("(" + " * ".join([self.text] * o) + ")", self.dtype)
        return CMath(self.dtype)._call("pow", self, o)

    def __repr__(self) -> str:
        return f"Expr({self.text!r})"


def literal(value: Any, dtype: DTypeLike) -> str:
    """A Python number as a C literal of the kernel's type (``0.5f`` in float32 kernels)."""
    if isinstance(value, (bool, np.bool_)):
        raise ConfigError("a boolean cannot appear in a kernel expression.")
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        text = repr(float(value))
        if text in ("inf", "-inf", "nan"):
            raise ConfigError(f"the constant {text} cannot be rendered in a kernel expression.")
        return text + ("f" if np.dtype(dtype) == np.float32 else "")
    raise ConfigError(f"cannot render {value!r} ({type(value).__name__}) in a kernel expression.")


class CMath:
    """The array-namespace functions phi may use, printing CUDA math calls (``tanhf`` in float32 kernels)."""

    _C_NAMES = {"arctan": "atan", "arcsinh": "asinh", "abs": "fabs", "maximum": "fmax", "minimum": "fmin"}
    """xp functions whose C name differs; any other xp.f(x) renders as the CUDA math function f (fp32: fF)."""

    def __init__(self, dtype: DTypeLike):
        self.dtype = np.dtype(dtype)

    def _call(self, name: str, *args: Any) -> Expr:
        c = self._C_NAMES.get(name, name) + ("f" if self.dtype == np.float32 else "")
        texts = [a.text if isinstance(a, Expr) else literal(a, self.dtype) for a in args]
        return Expr(f"{c}({', '.join(texts)})", self.dtype)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or not name.isidentifier():
            raise AttributeError(name)
        return lambda *args, out=None: self._call(name, *args)

    def abs(self, x: Any) -> Expr:
        return self._call("abs", x)

    def maximum(self, x: Any, y: Any) -> Expr:
        return self._call("maximum", x, y)

    def minimum(self, x: Any, y: Any) -> Expr:
        return self._call("minimum", x, y)

    def where(self, cond: Any, x: Any, y: Any) -> Expr:
        raise ConfigError("xp.where has no CUDA rendering here; write phi with arithmetic and xp's math functions.")


@dataclass(frozen=True)
class KernelSource:
    """The four arguments of ``cupy.ElementwiseKernel``."""

    in_params: str
    out_params: str
    operation: str
    name: str


class Sources(NamedTuple):
    """The kernels of the element-wise instructions of the schedule (:mod:`chaossim.kernels.schedule`)."""

    pre: KernelSource  # Pre: ACT = phi(X); X = leak(X, BIAS, a)
    exact: KernelSource  # Exact: X = relax(X, BIAS, decay)
    activity: KernelSource  # Activity: ACT = phi(X)
    form: KernelSource  # Form: OP = operator(F, TR, SCALE)


def render(fn: Any, dtype: DTypeLike, *names: str) -> str:
    """The C expression of ``fn`` applied to the variables ``names`` (each an :class:`Expr`)."""
    return fn(*(Expr(n, np.dtype(dtype)) for n in names)).text


def render_phi(phi: Nonlinearity, dtype: DTypeLike, x: str = "x") -> str:
    """The C expression of phi(``x``)."""
    return phi.phi(CMath(dtype), Expr(x, np.dtype(dtype))).text


def kernel_sources(dtype: DTypeLike, phi: Nonlinearity = dynamics.DEFAULT_PHI) -> Sources:
    """The source of every element-wise kernel of the schedule for ``dtype`` and the nonlinearity ``phi``."""
    dt = np.dtype(dtype)
    if dt not in (np.float32, np.float64):
        raise ConfigError(f"the fused kernels are float32 or float64, got {dt.name}.")
    t, ct = dt.name, ("float" if dt == np.float32 else "double")
    tag = re.sub(r"\W", "_", phi.name)
    geom = "int64 m, int64 ntot, int64 c0, int64 nc"
    act = render_phi(phi, dt, "x")
    pre = KernelSource(
        f"raw {t} B, {t} a, {geom}",
        f"raw {t} X, raw {t} ACT",
        INDEX
        + f"const {ct} x = X[idx];\nACT[idx] = {act};\nX[idx] = {render(dynamics.leak, dt, 'x', 'B[bidx]', 'a')};",
        f"chaossim_euler_pre_{tag}_{t}",
    )
    exact = KernelSource(
        f"raw {t} B, {t} d, {geom}",
        f"raw {t} X",
        INDEX + f"X[idx] = {render(dynamics.relax, dt, 'X[idx]', 'B[bidx]', 'd')};",
        f"chaossim_exact_pre_{t}",
    )
    activity = KernelSource(
        f"raw {t} X, {geom}",
        f"raw {t} ACT",
        INDEX + f"const {ct} x = X[idx];\nACT[idx] = {act};",
        f"chaossim_activity_{tag}_{t}",
    )
    form = KernelSource(
        f"{t} f, {t} tr, {t} s",
        f"{t} o",
        f"o = {render(dynamics.operator, dt, 'f', 'tr', 's')}",
        f"chaossim_form_op_{t}",
    )
    return Sources(pre=pre, exact=exact, activity=activity, form=form)


__all__ = ["CMath", "Expr", "KernelSource", "Sources", "kernel_sources", "literal", "render", "render_phi"]
