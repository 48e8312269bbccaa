"""The energy function of a rate network with symmetric couplings (docs/model.md "Symmetric couplings: the
non-chaotic control").

When every coupling pre -> post with matrix K (N_post x N_pre, fixed + trained, :mod:`chaossim.archs`) has a
reverse coupling post -> pre with matrix K^T (a self-coupling: K = K^T), as in
:data:`chaossim.archs.RESTRICTED_SYMMETRIC`, the dynamics tau dx_L/dt = -x_L + sum_pre K phi(x_pre) / sqrt(N_pre)
+ bias_L descends

    E(x) = -1/2 sum_{couplings pre -> post} phi(x_post) . K phi(x_pre) / sqrt(N_post N_pre)
           + sum_L (1/sqrt(N_L)) sum_i [G(x_Li) - bias_Li phi(x_Li)],      G(x) = x phi(x) - Phi(x),

with Phi' = phi, Phi(0) = 0 (G(x) = x tanh x - ln cosh x for phi = tanh; G(x) is the integral of phi^{-1} from 0 to
phi(x)). Along the ODE, dE/dt = -tau sum_L (1/sqrt(N_L)) sum_i phi'(x_Li) (dx_Li/dt)^2 <= 0 (:func:`energy_rate`),
so the flow ends on fixed points and has no chaos; the Euler map inherits the descent for small dt/tau.
"""

from __future__ import annotations

import math

import numpy as np

from ..backend import to_numpy
from ..errors import ConfigError

__all__ = ["check_symmetric", "energy", "energy_rate"]


def _couplings(model) -> list[tuple[str, str, np.ndarray]]:
    """(post, pre, K) of every coupling as float64 host arrays (K = fixed + trained, N_post x N_pre)."""
    p = model.params
    out = []
    for c in model.couplings:
        trained = np.asarray(to_numpy(p[c.trained]), dtype=np.float64)
        if c.transpose:
            trained = trained.T
        out.append((c.post, c.pre, np.asarray(to_numpy(p[c.fixed]), dtype=np.float64) + trained))
    return out


def check_symmetric(model, rtol: float = 1e-6) -> list[tuple[str, str, np.ndarray]]:
    """The couplings (post, pre, K) of ``model`` after checking that each has its transpose as the reverse
    coupling; a ConfigError saying which one does not, otherwise."""
    from .lyapunov import _check_model

    _check_model(model)
    if model.stacked:
        raise ConfigError("the energy function takes one model, not an ensemble; use the members one by one.")
    cs = _couplings(model)
    found = {(post, pre): k for post, pre, k in cs}
    for post, pre, k in cs:
        rev = found.get((pre, post))
        scale = max(float(np.abs(k).max(initial=0.0)), 1e-300)
        if rev is None or float(np.abs(rev.T - k).max(initial=0.0)) > rtol * scale:
            raise ConfigError(
                f"the energy function exists for symmetric couplings only, and the {model.arch} model's coupling "
                f"{pre} -> {post} is not the transpose of {post} -> {pre}; use model.arch = 'restricted-symmetric' "
                "(docs/model.md)."
            )
    return cs


def energy(model, state) -> np.ndarray:
    """E(x) of each row of ``state`` (layer -> (batch, units) arrays), float64 NumPy (module docstring)."""
    cs = check_symmetric(model)
    if model.phi.integral is None:
        raise ConfigError(f"the energy needs the integral of phi; the nonlinearity {model.phi.name!r} gives none.")
    p = model.params
    x = {n: np.asarray(to_numpy(state[n]), dtype=np.float64) for n in model.sizes}
    act = {n: model.phi(np, v) for n, v in x.items()}
    e = np.zeros(next(iter(x.values())).shape[0])
    for post, pre, k in cs:
        e -= 0.5 * np.einsum("bi,ij,bj->b", act[post], k, act[pre]) / math.sqrt(model.sizes[post] * model.sizes[pre])
    for layer in model.layers:
        v = x[layer.name]
        bias = np.asarray(to_numpy(p[layer.bias]), dtype=np.float64)
        g = v * act[layer.name] - model.phi.integral(v)
        e += (g - bias * act[layer.name]).sum(axis=1) / math.sqrt(model.sizes[layer.name])
    return e


def energy_rate(model, state) -> np.ndarray:
    """dE/dt of the ODE at each row of ``state``: -tau sum_L (1/sqrt(N_L)) sum_i phi'(x_Li) (dx_Li/dt)^2 (<= 0),
    float64 NumPy (module docstring)."""
    cs = check_symmetric(model)
    p = model.params
    x = {n: np.asarray(to_numpy(state[n]), dtype=np.float64) for n in model.sizes}
    act = {n: model.phi(np, v) for n, v in x.items()}
    rate = np.zeros(next(iter(x.values())).shape[0])
    for layer in model.layers:
        n = layer.name
        u = np.asarray(to_numpy(p[layer.bias]), dtype=np.float64) + sum(
            (act[pre] @ k.T / math.sqrt(model.sizes[pre]) for post, pre, k in cs if post == n),
            start=np.zeros_like(x[n]),
        )
        dxdt = (u - x[n]) / model.tau
        rate -= model.tau * (model.phi.dphi(np, x[n]) * dxdt**2).sum(axis=1) / math.sqrt(model.sizes[n])
    return rate
