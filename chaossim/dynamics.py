"""The dynamics of the rate networks, written once (docs/model.md "Integration" and "Training").

For a layer L with state x_L (batch x N_L; an ensemble adds a leading members axis) the paper's
eqs. (2), (4)-(5) and (8)-(10) are

    tau dx_L/dt = -x_L + u_L,    u_L = sum_{couplings c: pre -> L} phi(x_pre) P_c + bias_L,

with P_c = (fixed_c + trained_c)^T / sqrt(N_pre) (the coupling's operator, formed once per run). Everything
that integrates, linearises or averages this dynamics takes its pieces from here:

- phi and phi' (:class:`Nonlinearity`; :data:`TANH` by default, :data:`DEFAULT_PHI`; :func:`register_nonlinearity`
  adds others);
- the coupling operator :func:`operator`, the recurrent input :func:`coupled` and the drive :func:`drive`;
- the Euler step x <- x + a (u - x), a = dt/tau (:func:`euler`), and its split form for GEMMs that accumulate
  into the state, x <- :func:`leak` (x) + a sum_c phi(x_pre) P_c;
- the exact solution of a layer whose inputs are all clamped, x(T) = decay x(0) + (1 - decay) u,
  decay = exp(-T/tau) (paper eq. 7; :func:`exact`, split form :func:`relax`);
- the variations: phi'(x) dx for the tangent map (:func:`tangent_activity`) and phi(x + d) - phi(x) for a
  twin trajectory (:meth:`Nonlinearity.difference`).

The functions are written once for any array namespace ``xp`` and with plain arithmetic operators, so the
same expressions run on NumPy and CuPy arrays (the engine, :mod:`chaossim.ensemble`, the fused schedule's
host executor) and are rendered to CUDA source by :mod:`chaossim.kernels.source` (the GPU kernels): what the
CPU tests verify is what the GPU compiles. The updates work in place in their last array argument (``u``),
so an integration loop allocates nothing; given symbolic values (the kernel renderer) they return
expressions.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import ConfigError

__all__ = [
    "DEFAULT_PHI",
    "TANH",
    "Nonlinearity",
    "coupled",
    "drive",
    "euler",
    "exact",
    "leak",
    "nonlinearity",
    "nonlinearities",
    "operator",
    "register_nonlinearity",
    "relax",
    "tangent_activity",
]


# ---------------------------------------------------------------------------------------------- phi
@dataclass(frozen=True)
class Nonlinearity:
    """The activation phi of the units and what the code needs of it (docs/model.md "Notation").

    ``phi(xp, x)`` and ``dphi(xp, x)`` (phi') are written with the functions of the array namespace ``xp``
    and arithmetic operators only, so that they run on NumPy and CuPy and render to CUDA source.
    ``integral(x)``: Phi with Phi' = phi, Phi(0) = 0, on float64 NumPy arrays (the DMFT's potential,
    :mod:`chaossim.chaos.dmft`); None when unknown. ``diff(xp, x, d)``: phi(x + d) - phi(x) written
    without cancellation (the twin Lyapunov method resolves separations far below the rounding of x); None
    to subtract. ``phi_into(xp, x, out)``: phi written into ``out`` (the engine's allocation-free loop);
    None to assign. Data clamped to the visible layer are checked to lie in [-1, 1], the range of tanh.
    """

    name: str
    phi: Callable[[Any, Any], Any]
    dphi: Callable[[Any, Any], Any]
    integral: Callable[[Any], Any] | None = None
    diff: Callable[[Any, Any, Any], Any] | None = None
    phi_into: Callable[[Any, Any, Any], Any] | None = None

    def __call__(self, xp: Any, x: Any, out: Any = None) -> Any:
        """phi(x); into ``out`` when given."""
        if out is None:
            return self.phi(xp, x)
        if self.phi_into is not None:
            return self.phi_into(xp, x, out)
        out[...] = self.phi(xp, x)
        return out

    def difference(self, xp: Any, x: Any, d: Any) -> Any:
        """phi(x + d) - phi(x)."""
        if self.diff is not None:
            return self.diff(xp, x, d)
        return self.phi(xp, x + d) - self.phi(xp, x)


def _lncosh(x: Any) -> np.ndarray:
    """ln cosh x, accurate for small |x| (log1p(2 sinh^2(x/2))) and without overflow for large |x|."""
    x = np.abs(np.asarray(x, dtype=np.float64))
    small = x < 1.0
    xs = np.where(small, x, 0.0)
    out = np.where(small, np.log1p(2.0 * np.sinh(0.5 * xs) ** 2), 0.0)
    xl = np.where(small, 1.0, x)
    return np.where(small, out, xl - math.log(2.0) + np.log1p(np.exp(-2.0 * xl)))


TANH = Nonlinearity(
    name="tanh",
    phi=lambda xp, x: xp.tanh(x),
    dphi=lambda xp, x: 1 - xp.tanh(x) ** 2,
    integral=_lncosh,
    # tanh(x + d) - tanh(x) = sinh(d) / (cosh(x) cosh(x + d)): exact, free of cancellation for small d
    diff=lambda xp, x, d: xp.sinh(d) / (xp.cosh(x) * xp.cosh(x + d)),
    phi_into=lambda xp, x, out: xp.tanh(x, out=out),
)
"""phi = tanh, the paper's choice (eq. 2)."""

DEFAULT_PHI = TANH
"""The nonlinearity of every model unless told otherwise (the paper's)."""

_NONLINEARITIES: dict[str, Nonlinearity] = {TANH.name: TANH}


def register_nonlinearity(nl: Nonlinearity) -> Nonlinearity:
    """Make ``nl`` known by its name (``Network(..., phi=nl.name)``); returns it. A name already taken by
    another nonlinearity is refused."""
    if not isinstance(nl, Nonlinearity):
        raise ConfigError(f"register_nonlinearity takes a chaossim.dynamics.Nonlinearity, got {type(nl).__name__}.")
    if not nl.name.isidentifier():
        raise ConfigError(f"a nonlinearity's name must be an identifier (it names GPU kernels), got {nl.name!r}.")
    old = _NONLINEARITIES.get(nl.name)
    if old is not None and old is not nl:
        raise ConfigError(f"a nonlinearity named {nl.name!r} is already registered; choose another name.")
    _NONLINEARITIES[nl.name] = nl
    return nl


def nonlinearities() -> tuple[str, ...]:
    """The names of the registered nonlinearities."""
    return tuple(_NONLINEARITIES)


def nonlinearity(phi: str | Nonlinearity) -> Nonlinearity:
    """The :class:`Nonlinearity` named ``phi`` (or ``phi`` itself), or a ConfigError naming the known ones."""
    if isinstance(phi, Nonlinearity):
        return phi
    if isinstance(phi, str) and phi in _NONLINEARITIES:
        return _NONLINEARITIES[phi]
    raise ConfigError(
        f"unknown nonlinearity {phi!r}; choose one of {sorted(_NONLINEARITIES)} or register one with "
        "chaossim.dynamics.register_nonlinearity."
    )


# ---------------------------------------------------------------------------------------------- the drive
def operator(fixed: Any, trained: Any, scale: Any) -> Any:
    """The coupling's matrix K = fixed + trained times 1/sqrt(N_pre) (``scale``); its transpose is P_c."""
    return (fixed + trained) * scale


def coupled(inputs: Sequence[tuple[Any, Any]], xp: Any = None, out: Any = None, scratch: Any = None) -> Any:
    """sum over ``inputs`` = [(phi(x_pre), P_c), ...] of phi(x_pre) @ P_c: the recurrent input of a layer (with
    the variations of phi in place of phi, its linearisation). ``out``/``scratch``: arrays of the result's
    shape to write into (``xp`` then names their namespace), else new arrays."""
    (first, op), rest = inputs[0], inputs[1:]
    acc = first @ op if out is None else xp.matmul(first, op, out=out)
    for act, op in rest:
        acc += act @ op if scratch is None else xp.matmul(act, op, out=scratch)
    return acc


def drive(inputs: Sequence[tuple[Any, Any]], bias: Any, xp: Any = None, out: Any = None, scratch: Any = None) -> Any:
    """u = sum_c phi(x_pre) P_c + bias, the drive of a layer (``bias`` broadcast over the batch)."""
    u = coupled(inputs, xp, out, scratch)
    u += bias
    return u


# ---------------------------------------------------------------------------------------------- updates
def euler(x: Any, u: Any, a: Any) -> Any:
    """One Euler step x + a (u - x), a = dt/tau, computed in place in ``u`` (returned)."""
    u -= x
    u *= a
    u += x
    return u


def exact(x0: Any, u: Any, decay: Any) -> Any:
    """x(T) = u (1 - decay) + decay x(0), decay = exp(-T/tau): the exact solution for a constant drive u
    (paper eq. 7), computed in place in ``u`` (returned)."""
    u *= 1.0 - decay
    u += decay * x0
    return u


def leak(x: Any, bias: Any, a: Any) -> Any:
    """(1 - a) x + a bias: the Euler step without its coupling terms, which GEMMs then add as a phi P."""
    return (1 - a) * x + a * bias


def relax(x0: Any, bias: Any, decay: Any) -> Any:
    """decay x(0) + (1 - decay) bias: :func:`exact` without its coupling terms (GEMMs add (1 - decay) phi P)."""
    return decay * x0 + (1 - decay) * bias


def tangent_activity(phi: Nonlinearity, xp: Any, x: Any, dx: Any) -> Any:
    """phi'(x) dx: the variation of phi(x) along dx, which the couplings carry in the tangent map."""
    return phi.dphi(xp, x) * dx
