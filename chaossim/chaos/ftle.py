"""Chaos where the samples are made: finite-time exponents over the generation window, the asymptotic exponent
with a convergence check, the growth of perturbations of the starts, and a model's untrained twin
(docs/chaos_study.md "What is measured").

Every exponent is that of the **Euler map** the models integrate (as in :mod:`chaossim.chaos.lyapunov`),
per unit of time t:

- :func:`finite_time_exponent`: the finite-time Lyapunov exponent (FTLE) over the generation window [0, T],

      lambda_T(x0, u0) = (1/T) ln(|DF^n(x0) u0| / |u0|),    n = T/dt,

  from the N(0, 1) starts x0 that generation draws (:meth:`~chaossim.models.network.Engine.random_state`) and
  a random direction u0 (isotropic over all units of all layers) per start: the rate at which a small random
  perturbation of a start grows up to the time the sample is read. No burn-in: the window is the one
  generation uses. Its mean and spread over starts describe the starts, not a stationary state; for a
  linear map with a dominant eigenvalue it tends to log|1 + (dt/tau) mu_max|/dt as T grows (mu: eigenvalues
  of the ODE's matrix times tau), with a start-dependent correction O(1/T).
- :func:`asymptotic_exponent`: the largest exponent of the stationary dynamics, Benettin's tangent method
  after a burn-in ``t_burn`` over a window ``t_window``, with the convergence check of the estimate over the
  first half of the window against the whole window.
- :func:`perturbation_growth`: d(t)/d(0) of runs from one shared start plus perturbations of size eps
  (:func:`chaossim.chaos.diversity.state_spread`): the nonlinear counterpart, which saturates when d is O(1).
  ``ln(1/eps)`` against ``lambda T`` is the detectability line of the shared-start control.
- :func:`untrained_twin`: the model with its fixed couplings and the trained parameters at their initial
  values (the untrained baseline of every trained model).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .. import streams
from ..backend import derive_seed, to_numpy
from ..errors import ConfigError, DivergenceError
from ..validation import check_size, steps_for
from .lyapunov import _check_model, _finish_logs, _norm, _scale, _schedule, _seed, _start, _tangent_run

__all__ = [
    "AsymptoticResult",
    "FiniteTimeResult",
    "asymptotic_exponent",
    "finite_time_exponent",
    "perturbation_growth",
    "untrained_twin",
]


@dataclass(frozen=True)
class FiniteTimeResult:
    """The FTLE over [0, T] (per unit of time) of ``n_starts`` starts.

    ``value``: mean over starts; ``sd``: their standard deviation (the spread over starts, ddof = 1);
    ``stderr``: sd / sqrt(n_starts); ``per_start`` (n_starts,); ``t`` and ``log_growth`` (len(t), n_starts):
    ln(|u(t)| / |u(0)|) of each start's perturbation at the recorded times (T last).
    """

    T: float
    value: float
    sd: float
    stderr: float
    per_start: np.ndarray
    t: np.ndarray
    log_growth: np.ndarray
    dt: float
    tau: float


@dataclass(frozen=True)
class AsymptoticResult:
    """The asymptotic largest exponent (per unit of time) after ``t_burn`` over ``t_window``.

    ``value``, ``stderr``: over the whole window (mean over replicas, std / sqrt(n)); ``half``, ``half_stderr``:
    over its first half; ``converged``: |value - half| <= max(tol, 3 standard errors of the per-replica
    differences), i.e. the two window lengths agree; ``per_replica`` (n_replicas,).
    """

    value: float
    stderr: float
    half: float
    half_stderr: float
    converged: bool
    tol: float
    t_burn: float
    t_window: float
    per_replica: np.ndarray
    dt: float
    tau: float


def _spread(x: np.ndarray) -> tuple[float, float, float]:
    """(mean, sd with ddof = 1, stderr) of a 1-d sample (sd and stderr nan for one value)."""
    n = x.size
    mean = float(x.mean())
    sd = float(x.std(ddof=1)) if n > 1 else math.nan
    return mean, sd, sd / math.sqrt(n) if n > 1 else math.nan


def finite_time_exponent(
    model, T: float, *, n_starts: int = 32, seed: int = 0, times: Sequence[float] | None = None
) -> FiniteTimeResult:
    """The finite-time exponent of ``model``'s free Euler map over [0, ``T``] (module docstring).

    ``n_starts`` N(0, 1) starts and random unit directions come from a generator of their own
    (``derive_seed(seed, streams.FTLE_STARTS)``; ``model.rng`` is untouched). ``times``: more times in (0, T],
    multiples of dt, at which ln |u(t)| / |u(0)| is recorded too (T always is). The tangent vector is
    renormalised every tau (and at the recorded times), its log growths summed.
    """
    _check_model(model)
    n_starts = check_size("n_starts", n_starts)
    dt, tau = model.dt, model.tau
    n = steps_for(T, dt)
    if n == 0:
        raise ConfigError(f"T must be a positive multiple of dt = {dt} (the generation window), got {T!r}.")
    rec = sorted({steps_for(t, dt) for t in (times or ())} | {n})
    if rec[0] == 0 or rec[-1] > n:
        raise ConfigError(f"times must lie in (0, T] = (0, {T}], got {list(times or ())}.")
    per = max(1, round(tau / dt))
    xp, a, ops = model.xp, dt / tau, model.operators()
    gen = model.bk.rng(derive_seed(_seed(seed), streams.FTLE_STARTS))
    state = model.random_state(n_starts, rng=gen)
    u = {name: model.bk.normal(gen, (n_starts, size)) for name, size in model.sizes.items()}
    u = _scale(u, 1.0 / _norm(xp, u))
    total = xp.zeros((n_starts,), dtype=xp.float64)
    out = xp.empty((len(rec), n_starts), dtype=xp.float64)
    at = {s: i for i, s in enumerate(rec)}
    for i in range(1, n + 1):
        u = model.euler_tangent(state, u, a, ops)
        state = model.euler_step(state, a, ops)
        if i % per == 0 or i in at:
            norm = _norm(xp, u)
            total += xp.log(norm.astype(xp.float64))
            u = _scale(u, 1.0 / norm)
            if i in at:
                out[at[i]] = total
    logs = np.asarray(to_numpy(out), dtype=np.float64)
    if not np.all(np.isfinite(logs)):
        raise DivergenceError(
            f"the perturbation norm over- or underflowed in the finite-time exponent over [0, {T}] (log growth not "
            "finite); use dtype='float64' or check the model's parameters."
        )
    per_start = logs[-1] / (n * dt)
    mean, sd, se = _spread(per_start)
    return FiniteTimeResult(
        float(n * dt), mean, sd, se, per_start, np.asarray(rec, dtype=np.float64) * dt, logs, float(dt), float(tau)
    )


def asymptotic_exponent(
    model,
    *,
    t_burn: float | None = None,
    t_window: float | None = None,
    n_replicas: int = 8,
    seed: int = 0,
    tol: float | None = None,
) -> AsymptoticResult:
    """The largest Lyapunov exponent of the stationary dynamics with a convergence check (module docstring).

    ``t_burn`` (default 50 tau) is integrated first, the perturbation aligning meanwhile; the exponent is then
    measured over ``t_window`` (default 400 tau, a multiple of 2 tau: renormalised every tau) and over the
    first half of it. ``tol`` (default 0.01 / tau, per unit of time): the agreement asked of the two. Replicas
    and directions as in :func:`chaossim.chaos.lyapunov.lyapunov_max` (stream ``streams.LYAPUNOV``, from
    ``seed``).
    """
    _check_model(model)
    n_replicas = check_size("n_replicas", n_replicas)
    tau, dt = model.tau, model.dt
    per_t = max(1, round(tau / dt)) * dt
    if t_window is None:
        t_window = 400 * per_t
    burn, n_blocks, per, t_meas = _schedule(model, t_burn, t_window, per_t)
    if n_blocks % 2:
        raise ConfigError(
            f"t_window = {t_window} must be an even number of renormalisation intervals ({per_t}) so that its "
            f"first half is one too; choose t_window = {(n_blocks + 1) * per_t}."
        )
    tol = 0.01 / tau if tol is None else float(tol)
    if not (math.isfinite(tol) and tol >= 0):
        raise ConfigError(f"tol must be a finite number >= 0 (per unit of time), got {tol!r}.")
    state, u = _start(model, n_replicas, _seed(seed))
    logs = _finish_logs(_tangent_run(model, state, u, burn, n_blocks, per), "asymptotic", per, dt)
    t_block = per * dt
    full = logs.sum(axis=0) / (n_blocks * t_block)
    half = logs[: n_blocks // 2].sum(axis=0) / (n_blocks // 2 * t_block)
    value, _, se = _spread(full)
    h, _, hse = _spread(half)
    _, _, dse = _spread(full - half)
    converged = bool(abs(value - h) <= max(tol, 3 * dse if math.isfinite(dse) else 0.0))
    return AsymptoticResult(
        value, se, h, hse, converged, tol, float(burn * dt), float(t_meas), full, float(dt), float(tau)
    )


def perturbation_growth(model, times: Sequence[float], eps: float, *, n: int = 16, seed: int = 0) -> dict:
    """d(t)/d(0) along ``times`` for ``n`` runs from one shared random start plus perturbations of size ``eps``
    (:func:`chaossim.models.starts.spread_starts`): d is the RMS deviation of the full states from their mean
    (:func:`chaossim.chaos.diversity.state_spread`). Returns NumPy ``{"t", "ratio", "d0"}``."""
    from .diversity import state_spread

    times = [float(t) for t in times]
    if not times:
        raise ConfigError("times must list at least one time.")
    res = state_spread(model, n, [0.0, *times], eps, seed=seed)
    d0 = float(res["spread"][0])
    return {"t": np.asarray(times), "ratio": res["spread"][1:] / d0, "d0": d0}


def untrained_twin(model):
    """The untrained twin of ``model``: the same architecture, sizes, dynamics, backend and fixed couplings, its
    trained parameters (matrices and biases) at their initial values (a fresh model of the same seed's)."""
    _check_model(model)
    if model.stacked:
        raise ConfigError("untrained_twin takes one model, not an ensemble; use the members one by one.")
    twin = type(model)(**model.describe(), force=model.force)
    twin.set_params(**{c.fixed: model.params[c.fixed] for c in model.couplings})
    return twin
