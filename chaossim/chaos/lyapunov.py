"""Lyapunov exponents of the networks' free dynamics, measured from simulation.

Every exponent here is that of the **Euler map** x(t + dt) = F(x(t)) that chaossim integrates
(docs/model.md "Integration", x <- x + (dt/tau)(drive - x)), not of the ODE: lambda = lim (1/(n dt)) log |DF^n u|,
expressed **per unit of time t** (the units of dt and tau; multiply by tau for units of 1/tau). For
dt << tau it approaches the exponent of the ODE tau dx/dt = -x + drive; at the paper's dt/tau = 0.1 the
difference is O(dt/tau) (e.g. at the stable fixed point 0 the map gives log(1 - a + a sqrt(g))/dt, the ODE
(sqrt(g) - 1)/tau, a = dt/tau).

Works for any :class:`chaossim.models.network.Network` (unrestricted, restricted, deep) in any parameter
state and on either backend (``model.bk.xp``). The free dynamics of all layers is the phase space; the
norm of a perturbation is the Euclidean norm over all units of all layers. ``n_replicas`` trajectories of
the *same* network, started from independent N(0, 1) states, are integrated as one batch; the standard
error is the spread over these replicas (trajectory noise, not quenched disorder).

Methods (Benettin et al. 1980):
- ``"tangent"``: the linearised map u <- DF(x) u (``model.euler_tangent``), renormalised every
  ``renorm_every``; lambda = sum log(growth) / t_run.
- ``"twin"``: a second trajectory x + d of the (nonlinear) Euler map, d renormalised to its initial size
  every ``renorm_every``. d is integrated directly, with phi(x + d) - phi(x) in the form the model's
  nonlinearity gives (:meth:`chaossim.dynamics.Nonlinearity.difference`; for phi = tanh the exact identity
  sinh(d) / (cosh(x) cosh(x + d))), so that small separations are resolved to full relative precision even
  in float32 (forming x + d and subtracting would lose them to rounding).
- :func:`lyapunov_spectrum`: k tangent vectors re-orthonormalised by QR (the log |diag R| accumulate
  to the leading k exponents, in descending order as the run converges).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .. import dynamics, streams
from ..backend import derive_seed, to_numpy
from ..errors import ConfigError, DivergenceError
from ..validation import check_seed, check_size

METHODS = ("tangent", "twin")
_STREAM = streams.LYAPUNOV


@dataclass(frozen=True)
class LyapunovResult:
    """Largest Lyapunov exponent of the Euler map, per unit of time.

    ``value``: mean over replicas; ``stderr``: std over replicas / sqrt(n_replicas) (nan for one replica);
    ``per_replica``: each replica's estimate; ``trace_t``: measurement times (since the end of burn-in) at
    which the perturbation was renormalised; ``trace``: the running estimate (mean over replicas) there,
    to judge convergence.
    """

    value: float
    stderr: float
    per_replica: np.ndarray
    trace_t: np.ndarray
    trace: np.ndarray
    method: str
    dt: float
    tau: float
    t_run: float

    @property
    def in_tau(self) -> float:
        """The exponent in units of 1/tau."""
        return self.value * self.tau


@dataclass(frozen=True)
class LyapunovSpectrum:
    """Leading k Lyapunov exponents of the Euler map, per unit of time, in the order QR produces them.

    ``exponents`` (k,): mean over replicas; ``stderr`` (k,); ``per_replica`` (n_replicas, k);
    ``trace_t`` and ``trace`` (n_renorm, k): running estimates for convergence checks.
    """

    exponents: np.ndarray
    stderr: np.ndarray
    per_replica: np.ndarray
    trace_t: np.ndarray
    trace: np.ndarray
    dt: float
    tau: float
    t_run: float


# ------------------------------------------------------------------ input checks
def _check_model(model):
    from ..models.network import Network

    if not isinstance(model, Network):
        raise ConfigError(
            f"Lyapunov exponents need a single chaossim rate network (a Network: Unrestricted, Restricted, Deep "
            f"or your own architecture), got a {type(model).__name__}."
        )


def _steps(name: str, t, dt: float, *, allow_zero: bool = False) -> int:
    t = float(t)
    if not math.isfinite(t) or t < 0 or (t == 0 and not allow_zero):
        raise ConfigError(
            f"{name} must be a finite time {'>= 0' if allow_zero else '> 0'} (units of dt and tau), got {t!r}."
        )
    n = round(t / dt)
    if abs(n * dt - t) > 1e-6 * max(1.0, t) or (n == 0 and not allow_zero):
        raise ConfigError(f"{name} = {t} must be a positive multiple of dt = {dt}; choose {name} = n * dt.")
    return int(n)


def _schedule(model, t_burn, t_run, renorm_every):
    """(burn steps, blocks, steps per block, t_run) with defaults 50 tau, 100 tau and tau (rounded to dt)."""
    dt, tau = model.dt, model.tau
    if renorm_every is None:
        renorm_every = max(1, round(tau / dt)) * dt
    if t_burn is None:
        t_burn = max(1, round(50 * tau / dt)) * dt
    if t_run is None:
        t_run = max(1, round(100 * tau / renorm_every)) * renorm_every
    burn = _steps("t_burn", t_burn, dt, allow_zero=True)
    per = _steps("renorm_every", renorm_every, dt)
    run = _steps("t_run", t_run, dt)
    if run % per:
        raise ConfigError(f"t_run = {t_run} must be a multiple of renorm_every = {renorm_every}.")
    return burn, run // per, per, run * dt


# ------------------------------------------------------------------ vector helpers (dicts layer -> batch x units)
def _norm(xp, vec: dict):
    sq = None
    for v in vec.values():
        s = (v * v).sum(axis=-1)
        sq = s if sq is None else sq + s
    return xp.sqrt(sq)


def _scale(vec: dict, factor) -> dict:
    return {n: v * factor[..., None] for n, v in vec.items()}


def _twin_step(model, state: dict, d: dict, a: float, ops) -> dict:
    """Separation d' = F(x + d) - F(x) of the Euler map, with the differences of phi free of cancellation."""
    xp, phi = model.xp, model.phi
    dphi = {n: phi.difference(xp, x, d[n]) for n, x in state.items()}
    return {name: dynamics.euler(dx, model.coupled_input(dphi, name, ops), a) for name, dx in d.items()}


def _start(model, n_replicas: int, seed):
    """Initial states N(0, 1) and a random unit perturbation direction per replica, from the run's own generator."""
    gen = model.bk.rng(derive_seed(int(seed), _STREAM))
    state = model.random_state(n_replicas, rng=gen)
    direction = {n: model.bk.normal(gen, (n_replicas, size)) for n, size in model.sizes.items()}
    return state, _scale(direction, 1.0 / _norm(model.xp, direction))


def _seed(seed) -> int:
    return check_seed(seed)


def _finish_logs(logs, name: str, per_steps: int, dt: float):
    logs = np.asarray(to_numpy(logs), dtype=np.float64)
    if not np.all(np.isfinite(logs)):
        raise DivergenceError(
            f"the perturbation norm over- or underflowed during the {name} Lyapunov run (log growth not finite); "
            f"shorten renorm_every (now {per_steps} Euler steps of dt = {dt}) or use dtype='float64'."
        )
    return logs


def _estimates(logs: np.ndarray, per: int, dt: float):
    """Per-replica estimates, running trace and (mean, stderr) from log growths (blocks, replicas[, k])."""
    n_blocks, n_rep = logs.shape[:2]
    t_block = per * dt
    per_replica = logs.sum(axis=0) / (n_blocks * t_block)
    trace_t = t_block * np.arange(1, n_blocks + 1)
    trace = np.cumsum(logs.mean(axis=1), axis=0) / trace_t.reshape((-1,) + (1,) * (logs.ndim - 2))
    mean = per_replica.mean(axis=0)
    stderr = per_replica.std(axis=0, ddof=1) / math.sqrt(n_rep) if n_rep > 1 else np.full_like(mean, np.nan)
    return per_replica, trace_t, trace, mean, stderr


# ------------------------------------------------------------------ largest exponent
def _tangent_run(model, state, u, burn: int, n_blocks: int, per: int, on_block=None):
    """Benettin with the tangent map. Returns the device array of log growths (n_blocks, replicas)."""
    xp, a, ops = model.xp, model.dt / model.tau, model.operators()
    for i in range(burn):
        u = model.euler_tangent(state, u, a, ops)
        state = model.euler_step(state, a, ops)
        if (i + 1) % per == 0:
            u = _scale(u, 1.0 / _norm(xp, u))
    u = _scale(u, 1.0 / _norm(xp, u))
    logs = xp.empty((n_blocks, next(iter(state.values())).shape[0]), dtype=model.bk.dtype)
    for b in range(n_blocks):
        for _ in range(per):
            u = model.euler_tangent(state, u, a, ops)
            state = model.euler_step(state, a, ops)
        norm = _norm(xp, u)
        logs[b] = xp.log(norm)
        u = _scale(u, 1.0 / norm)
        if on_block is not None:
            on_block(state)
    return logs


def _twin_run(model, state, u, eps: float, burn: int, n_blocks: int, per: int):
    xp, a, ops = model.xp, model.dt / model.tau, model.operators()
    size = eps * math.sqrt(sum(model.sizes.values()))
    d = {n: v * size for n, v in u.items()}
    for i in range(burn):
        d = _twin_step(model, state, d, a, ops)
        state = model.euler_step(state, a, ops)
        if (i + 1) % per == 0:
            d = _scale(d, size / _norm(xp, d))
    d = _scale(d, size / _norm(xp, d))
    logs = xp.empty((n_blocks, next(iter(state.values())).shape[0]), dtype=model.bk.dtype)
    for b in range(n_blocks):
        for _ in range(per):
            d = _twin_step(model, state, d, a, ops)
            state = model.euler_step(state, a, ops)
        norm = _norm(xp, d)
        logs[b] = xp.log(norm * (1.0 / size))
        d = _scale(d, size / norm)
    return logs


def lyapunov_max(
    model,
    *,
    t_burn: float | None = None,
    t_run: float | None = None,
    renorm_every: float | None = None,
    eps: float = 1e-6,
    n_replicas: int = 8,
    seed: int = 0,
    method: str = "tangent",
) -> LyapunovResult:
    """Largest Lyapunov exponent of the model's free Euler map (module docstring), per unit of time.

    ``t_burn`` (default 50 tau), ``t_run`` (default 100 tau) and ``renorm_every`` (default tau) are times in
    the units of dt and tau, each a multiple of dt (``t_run`` a multiple of ``renorm_every``); the perturbation
    evolves (and is renormalised) during burn-in too, so it is aligned when the measurement starts.
    ``eps`` (twin method only): the initial and renormalised separation as an RMS per unit, i.e. an absolute
    Euclidean norm eps * sqrt(total number of units); the tangent method is linear and ignores it.
    ``seed``: the replicas' initial states and directions come from a generator of their own
    (``model.rng`` is not touched). Parameters are read once (``model.operators()``).
    """
    _check_model(model)
    if method not in METHODS:
        raise ConfigError(f"method must be one of {METHODS}, got {method!r}.")
    eps = float(eps)
    if not (math.isfinite(eps) and eps > 0):
        raise ConfigError(f"eps must be a finite number > 0 (the RMS separation per unit), got {eps!r}.")
    n_replicas = check_size("n_replicas", n_replicas)
    burn, n_blocks, per, t_meas = _schedule(model, t_burn, t_run, renorm_every)
    state, u = _start(model, n_replicas, _seed(seed))
    if method == "tangent":
        logs = _tangent_run(model, state, u, burn, n_blocks, per)
    else:
        logs = _twin_run(model, state, u, eps, burn, n_blocks, per)
    logs = _finish_logs(logs, method, per, model.dt)
    per_replica, trace_t, trace, mean, stderr = _estimates(logs, per, model.dt)
    return LyapunovResult(
        float(mean),
        float(stderr),
        per_replica,
        trace_t,
        trace,
        method,
        float(model.dt),
        float(model.tau),
        float(t_meas),
    )


# ------------------------------------------------------------------ spectrum
def _qr(xp, m):
    """Batched reduced QR of (replicas, n, k); falls back to a loop where the backend has no batched QR."""
    try:
        return xp.linalg.qr(m)
    except (ValueError, TypeError, NotImplementedError):
        pairs = [xp.linalg.qr(m[r]) for r in range(m.shape[0])]
        return xp.stack([q for q, _ in pairs]), xp.stack([r for _, r in pairs])


def lyapunov_spectrum(
    model,
    k: int,
    *,
    t_burn: float | None = None,
    t_run: float | None = None,
    renorm_every: float | None = None,
    n_replicas: int = 4,
    seed: int = 0,
) -> LyapunovSpectrum:
    """Leading ``k`` Lyapunov exponents of the free Euler map by tangent dynamics with QR re-orthonormalisation.

    Per replica, k tangent vectors (a batch replicas x k x units per layer) evolve with ``model.euler_tangent``;
    every ``renorm_every`` they are re-orthonormalised by a (batched) QR and log |R_ii| accumulate to the
    i-th exponent. The exponents come out in QR order, which is descending once the run has converged; they
    are not sorted afterwards. Times and seed as in :func:`lyapunov_max`.
    """
    _check_model(model)
    k = check_size("k", k)
    total = sum(model.sizes.values())
    if k > total:
        raise ConfigError(f"k = {k} exceeds the {total} units (dimension of the phase space); choose k <= {total}.")
    n_replicas = check_size("n_replicas", n_replicas)
    burn, n_blocks, per, t_meas = _schedule(model, t_burn, t_run, renorm_every)
    xp, a, ops, bk = model.xp, model.dt / model.tau, model.operators(), model.bk
    gen = bk.rng(derive_seed(_seed(seed), _STREAM))
    state = model.random_state(n_replicas, rng=gen)
    names = list(model.sizes)
    bounds = np.cumsum([0] + [model.sizes[n] for n in names])
    q0 = bk.normal(gen, (n_replicas, total, k))

    def orthonormalise(u):
        m = xp.concatenate([u[n] for n in names], axis=-1)  # replicas x k x total
        q, r = _qr(xp, xp.swapaxes(m, -1, -2))
        q = xp.swapaxes(q, -1, -2)
        diag = xp.abs(xp.diagonal(r, axis1=-2, axis2=-1))
        return {n: xp.ascontiguousarray(q[..., bounds[i] : bounds[i + 1]]) for i, n in enumerate(names)}, diag

    u, _ = orthonormalise({n: xp.swapaxes(q0, -1, -2)[..., bounds[i] : bounds[i + 1]] for i, n in enumerate(names)})

    def tangent(state, u):
        return model.euler_tangent({n: x[:, None, :] for n, x in state.items()}, u, a, ops)

    for i in range(burn):
        u = tangent(state, u)
        state = model.euler_step(state, a, ops)
        if (i + 1) % per == 0:
            u, _ = orthonormalise(u)
    u, _ = orthonormalise(u)
    logs = xp.empty((n_blocks, n_replicas, k), dtype=bk.dtype)
    for b in range(n_blocks):
        for _ in range(per):
            u = tangent(state, u)
            state = model.euler_step(state, a, ops)
        u, diag = orthonormalise(u)
        logs[b] = xp.log(diag)
    logs = _finish_logs(logs, "spectrum", per, model.dt)
    per_replica, trace_t, trace, mean, stderr = _estimates(logs, per, model.dt)
    return LyapunovSpectrum(mean, stderr, per_replica, trace_t, trace, float(model.dt), float(model.tau), float(t_meas))
