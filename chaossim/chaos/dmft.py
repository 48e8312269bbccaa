"""Dynamical mean-field theory (DMFT) of the untrained unrestricted network.

Model: the unrestricted network (paper eq. 2; docs/model.md) with A = 0 and b = 0,

    tau dv_i/dt = -v_i + (1/sqrt(N)) sum_j J_ij tanh(v_j),   J_ij iid N(0, g)   (variance g),

in the limit N -> infinity (Sompolinsky, Crisanti & Sommers 1988, "SCS", whose gain is
g_SCS = sqrt(g); chaos sets in at g = 1). The local field eta_i = (1/sqrt N) sum_j J_ij phi(v_j)
is a Gaussian process with autocorrelation g C(s), C(s) = <phi(v(t)) phi(v(t+s))>, and the
stationary autocorrelation Delta(s) = <v(t) v(t+s)> obeys, with time u = s/tau,

    (1 - d^2/du^2) Delta = g C(Delta; Delta0),
    C(Delta; Delta0) = E[tanh(v) tanh(v')],  (v, v') Gaussian, Var = Delta0, Cov = Delta.

This is a particle in the potential V(Delta) = -Delta^2/2 + g Phi(Delta; Delta0),
Phi = E[ln cosh(v) ln cosh(v')] (Price's theorem: dPhi/dDelta = C), so Delta'' = -dV/dDelta and
(1/2) Delta'^2 + V(Delta) is conserved. The chaotic solution starts at rest at Delta0 and takes
infinite time to reach 0, hence V(Delta0) = V(0):

    Delta0^2 / 2 = g Var[ln cosh(v)],   v ~ N(0, Delta0).

phi is tanh unless told otherwise: every function takes ``phi`` (a :class:`chaossim.dynamics.Nonlinearity`,
whose values, slope phi' and integral Phi the Gaussian averages below use; the closed-form limits at the end are
those of tanh). Gaussian averages use the trapezoidal rule on a uniform grid of standard-normal nodes, whose step in v
is at most ``_STEP_V``: the integrands are analytic in a strip of half-width pi/2 around the real v
axis, so the error is ~exp(-pi^2 / step) (< 1e-11 relative, measured against scipy.integrate.quad),
for every variance. Gauss-Hermite quadrature, tried first, loses accuracy at large variance
(0.4% at Delta0 = 50 with 161 nodes) because ln cosh and tanh have their kink at v = 0 on a scale
1/sqrt(Delta0) of the standard-normal variable.

Closed-form limits derived here (used by the tests as independent checks):
  * g -> 1+: expanding ln cosh x = x^2/2 - x^4/12 + x^6/45 gives
    Var[ln cosh v] = Delta0^2/2 - Delta0^3 + (8/3) Delta0^4 + ..., hence
    Delta0 = (g-1)/2 + (g-1)^2/6 + O((g-1)^3) and Delta(s) ~ Delta0 sech(Delta0 s / (sqrt(3) tau)).
  * g -> infinity: ln cosh x = |x| - ln 2 + ln(1 + e^{-2|x|}) gives
    Var[ln cosh v] = Delta0 (1 - 2/pi) - pi/6 + O(Delta0^{-1/2}), hence
    Delta0 = 2 g (1 - 2/pi) - pi / (6 (1 - 2/pi)) + O(g^{-1/2}).
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from numpy.polynomial.hermite_e import hermeval
from scipy.integrate import solve_ivp
from scipy.linalg import eigh_tridiagonal
from scipy.optimize import brentq

from ..dynamics import DEFAULT_PHI, Nonlinearity
from ..errors import ConfigError, DataError
from ..validation import check_gain, check_positive

_STEP_V = 0.3  # largest quadrature step in units of v (error ~ exp(-pi^2 / 0.3) ~ 5e-15 x prefactor)
_STEP_Z_MAX = 0.3  # largest step in units of the standard-normal variable
_Z_MAX = 10.0  # the grid covers |z| <= 10 (Gaussian mass outside: 1.5e-23)
_SWITCH = 0.5  # second-order integration down to Delta = _SWITCH * Delta0, then energy form
_TAIL = 1e-9  # below _TAIL * Delta0, the linearised exponential tail
_SERIES_MAX = 0.1  # Hermite series for the kinetic energy below _SERIES_MAX * Delta0 (or all) ...
_SERIES_TERMS = 12  # ... with the even orders 2..24 (truncation < 0.1^26 Var[ln cosh v])


# ------------------------------------------------------------------ Gaussian quadrature
@lru_cache(maxsize=256)
def _terminal_event(fun) -> None:
    """Mark ``fun`` as a terminal event of ``solve_ivp``, triggered when it crosses zero downwards."""
    fun.terminal = True
    fun.direction = -1


def _grid(var: float) -> tuple[np.ndarray, np.ndarray]:
    """Standard-normal nodes z and weights w (sum 1) for averages of functions of sqrt(var) z."""
    step = min(_STEP_Z_MAX, _STEP_V / math.sqrt(var)) if var > 0 else _STEP_Z_MAX
    k = math.ceil(_Z_MAX / step)
    z = np.arange(-k, k + 1) * step
    w = np.exp(-0.5 * z * z)
    w /= w.sum()
    z.setflags(write=False)
    w.setflags(write=False)
    return z, w


def _integral(phi: Nonlinearity):
    """Phi with Phi' = phi (the potential's integrand), or a ConfigError when the nonlinearity has none."""
    if phi.integral is None:
        raise ConfigError(
            f"the DMFT needs the integral Phi of phi (Phi' = phi); the nonlinearity {phi.name!r} does not give one "
            "(chaossim.dynamics.Nonlinearity.integral)."
        )
    return phi.integral


def _gain(g: float, phi: Nonlinearity) -> float:
    """g phi'(0)^2: the fixed point v = 0 is stable, and there is no chaos, while it is <= 1 (g <= 1 for tanh)."""
    return g * float(phi.dphi(np, np.float64(0.0))) ** 2


def _values(phi: Nonlinearity):
    return lambda v: phi(np, v)


def _slopes(phi: Nonlinearity):
    return lambda v: phi.dphi(np, v)


def _mean(f, var: float) -> float:
    """E[f(v)], v ~ N(0, var)."""
    z, w = _grid(var)
    return float(w @ f(math.sqrt(var) * z))


def _pair_average(f, delta, delta0: float) -> np.ndarray:
    """E[f(v) f(v')] for (v, v') Gaussian with variances delta0 and covariance ``delta`` (array).

    v = sqrt(delta0 - delta) x + sqrt(delta) z, v' = sqrt(delta0 - delta) x' + sqrt(delta) z, so the average
    is E_z[(E_x f)^2]. ``delta`` is clipped to [0, delta0], the range the chaotic solution visits.
    The same nodes serve x and z, so delta = delta0 and delta = 0 reduce exactly to the 1-D rule.
    """
    d = np.clip(np.atleast_1d(np.asarray(delta, dtype=np.float64)), 0.0, delta0)
    z, w = _grid(delta0)
    block = max(1, 4_000_000 // z.size**2)  # <= 32 MB of float64 per block
    out = np.empty(d.shape)
    flat, res = d.ravel(), out.reshape(-1)
    for i in range(0, flat.size, block):
        dd = flat[i : i + block]
        a = np.sqrt(delta0 - dd)[:, None, None]
        b = np.sqrt(dd)[:, None, None]
        inner = f(a * z[None, None, :] + b * z[None, :, None]) @ w  # (block, nz): E_x f at each z
        res[i : i + block] = (inner * inner) @ w
    return out


# ------------------------------------------------------------------ stationary variance
def _energy_residual(delta0: float, g: float, phi: Nonlinearity) -> float:
    """g Var[Phi(v)] / Delta0^2 - 1/2 (zero at the self-consistent Delta0; dividing removes the root 0)."""
    z, w = _grid(delta0)
    f = _integral(phi)(math.sqrt(delta0) * z)
    m = w @ f
    return g * float(w @ (f - m) ** 2) / delta0**2 - 0.5


def dmft_variance(g: float, phi: Nonlinearity = DEFAULT_PHI) -> float:
    """Delta0 = <v^2>, the stationary variance of v predicted by the DMFT (module docstring).

    0 for g <= 1 (g phi'(0)^2 <= 1: the fixed point v = 0 is stable); above, the root of the energy-conservation
    condition Delta0^2 / 2 = g Var[ln cosh v], v ~ N(0, Delta0), found with brentq.
    """
    return _variance(check_gain(g), phi)


@lru_cache(maxsize=256)
def _variance(g: float, phi: Nonlinearity) -> float:
    geff = _gain(g, phi)
    if geff <= 1.0:
        return 0.0
    lo = (geff - 1.0) / (4.0 * geff)
    while _energy_residual(lo, g, phi) <= 0.0:  # not expected (series: residual ~ (g-1)/4 > 0)
        lo *= 0.5
    hi = 2.0 * g + 2.0
    while _energy_residual(hi, g, phi) >= 0.0:
        hi *= 2.0
    return float(
        brentq(_energy_residual, lo, hi, args=(g, phi), xtol=1e-15 * hi, rtol=4 * np.finfo(float).eps, maxiter=500)
    )


def dmft_phi_variance(g: float, phi: Nonlinearity = DEFAULT_PHI) -> float:
    """C(0) = <phi(v)^2>, v ~ N(0, Delta0): the stationary mean squared activity (0 for g <= 1)."""
    d0 = dmft_variance(g, phi)
    values = _values(phi)
    return _mean(lambda v: values(v) ** 2, d0) if d0 > 0 else 0.0


def dmft_potential(g: float, delta, phi: Nonlinearity = DEFAULT_PHI) -> np.ndarray:
    """V(Delta) = -Delta^2/2 + g Phi(Delta; Delta0), the potential of the particle picture (module docstring)."""
    d0 = dmft_variance(g, phi)
    d = np.asarray(delta, dtype=np.float64)
    if d0 == 0.0:
        return -0.5 * d**2
    return -0.5 * d**2 + g * _pair_average(_integral(phi), d, d0).reshape(d.shape)


# ------------------------------------------------------------------ autocorrelation
class _DeltaPath:
    """Delta(u), u = s/tau >= 0, for one g > 1: solve_ivp pieces plus the exponential tail."""

    def __init__(self, g: float, phi: Nonlinearity):
        self.g = g
        d0 = self.d0 = dmft_variance(g, phi)
        lncosh, values = _integral(phi), _values(phi)
        C = lambda d: float(_pair_average(values, d, d0)[0])
        phi0 = float(_pair_average(lncosh, 0.0, d0)[0])
        # Tail rate: linearising Delta'' = Delta - g C(Delta) at 0, dC/dDelta(0) = <phi'>^2.
        mean_dphi = _mean(_slopes(phi), d0)
        self.rate = math.sqrt(max(1.0 - g * mean_dphi**2, 0.0))
        if self.rate == 0.0:
            raise DataError(
                f"the DMFT solution at g = {g} has no decaying tail (1 - g <phi'>^2 <= 0); "
                f"this should not happen for phi = {phi.name}, an odd bounded nonlinearity; report it."
            )
        u_max = 200.0 + 200.0 / d0 + 50.0 / self.rate

        def rhs2(u, y):
            return [y[1], y[0] - g * C(y[0])]

        def reach_switch(u, y):
            return y[0] - _SWITCH * d0

        _terminal_event(reach_switch)

        s1 = solve_ivp(
            rhs2,
            (0.0, u_max),
            [d0, 0.0],
            method="DOP853",
            rtol=1e-11,
            atol=1e-14 * d0,
            events=reach_switch,
            dense_output=True,
        )
        if s1.status != 1:
            raise DataError(
                f"the DMFT autocorrelation at g = {g} did not decay to {_SWITCH} Delta0 "
                f"within u = {u_max}; solve_ivp says: {s1.message}"
            )
        u1 = float(s1.t_events[0][0])

        # Energy form below the switch: Delta' = -sqrt(2 K), K = V(0) - V(Delta) (V(Delta0) = V(0)).
        # For small Delta, Phi(Delta) - Phi(0) is a difference of nearly equal numbers; there the
        # Hermite (Mehler) series Phi(Delta) - Phi(0) = sum_{n even >= 2} (Delta/Delta0)^n c_n^2 / n!,
        # c_n = E[ln cosh(sqrt(Delta0) z) He_n(z)], has only positive terms.
        z, w = _grid(d0)
        f = lncosh(math.sqrt(d0) * z)
        orders = np.arange(2, 2 * _SERIES_TERMS + 1, 2)
        coef = np.array([(w @ (f * hermeval(z, np.eye(n + 1)[n]))) ** 2 / math.factorial(n) for n in orders])

        # The order-2 term is g <phi'>^2 Delta^2 / 2, so K = rate^2 Delta^2 / 2 - (orders >= 4): no cancellation.
        # Near the transition the coefficients fall off fast and the series serves the whole second stage.
        series_max = _SWITCH if coef[-1] * _SWITCH ** orders[-1] <= 1e-17 * coef[0] * _SWITCH**2 else _SERIES_MAX

        def kinetic(d):
            if d <= series_max * d0:
                return 0.5 * d * d * self.rate**2 - g * float(coef[1:] @ (d / d0) ** orders[1:])
            return 0.5 * d * d - g * (float(_pair_average(lncosh, d, d0)[0]) - phi0)

        def rhs1(u, y):
            return [-math.sqrt(2.0 * max(kinetic(y[0]), 0.0))] if y[0] > 0.0 else [0.0]

        def reach_tail(u, y):
            return y[0] - _TAIL * d0

        _terminal_event(reach_tail)

        s2 = solve_ivp(
            rhs1,
            (u1, u1 + u_max),
            [float(s1.sol(u1)[0])],
            method="DOP853",
            rtol=1e-10,
            atol=1e-3 * _TAIL * d0,
            events=reach_tail,
            dense_output=True,
        )
        if s2.status != 1:
            raise DataError(
                f"the DMFT autocorrelation at g = {g} did not reach {_TAIL} Delta0; solve_ivp says: {s2.message}"
            )
        self.u1, self.u2 = u1, float(s2.t_events[0][0])
        self.d2 = _TAIL * d0
        self.s1, self.s2 = s1, s2

    def __call__(self, u: np.ndarray) -> np.ndarray:
        u = np.abs(np.asarray(u, dtype=np.float64))
        out = np.empty(u.shape)
        a = u <= self.u1
        b = (u > self.u1) & (u <= self.u2)
        c = u > self.u2
        if a.any():
            out[a] = self.s1.sol(u[a])[0]
        if b.any():
            out[b] = self.s2.sol(u[b])[0]
        out[c] = self.d2 * np.exp(-self.rate * (u[c] - self.u2))
        return np.clip(out, 0.0, self.d0)


@lru_cache(maxsize=64)
def _path(g: float, phi: Nonlinearity) -> _DeltaPath:
    return _DeltaPath(g, phi)


def _lags(s, tau) -> np.ndarray:
    tau = check_positive("tau", tau)
    s = np.asarray(s, dtype=np.float64)
    if not np.all(np.isfinite(s)):
        raise DataError("the lags s contain NaN or inf values; pass finite lags.")
    return s / tau


def dmft_autocorrelation(g: float, s, tau: float = 1.0, phi: Nonlinearity = DEFAULT_PHI) -> np.ndarray:
    """Delta(s) = <v(t) v(t+s)> in the stationary chaotic state (module docstring), at lags ``s``
    (any shape, same time unit as ``tau``; Delta is even in s). Zeros for g <= 1.

    Integrates Delta'' = Delta - g C(Delta; Delta0) (in u = s/tau) from Delta(0) = Delta0, Delta'(0) = 0
    with solve_ivp (DOP853, rtol 1e-11) down to Delta0/2, then the first integral
    Delta' = -sqrt(2 (V(0) - V(Delta))) (which cannot overshoot the separatrix) down to 1e-9 Delta0,
    then the linearised tail Delta ~ exp(-sqrt(1 - g <phi'>^2) u).
    """
    g = check_gain(g)
    u = _lags(s, tau)
    if _gain(g, phi) <= 1.0:
        return np.zeros(u.shape)
    return _path(g, phi)(u)


def dmft_phi_autocorrelation(g: float, s, tau: float = 1.0, phi: Nonlinearity = DEFAULT_PHI) -> np.ndarray:
    """C(s) = <phi(v(t)) phi(v(t+s))> from Delta(s) (module docstring). Zeros for g <= 1."""
    g = check_gain(g)
    u = _lags(s, tau)
    if _gain(g, phi) <= 1.0:
        return np.zeros(u.shape)
    d = _path(g, phi)(u)
    return _pair_average(_values(phi), d, dmft_variance(g, phi)).reshape(d.shape)


# ------------------------------------------------------------------ largest Lyapunov exponent
def dmft_lyapunov(g: float, tau: float = 1.0, *, step: float | None = None, phi: Nonlinearity = DEFAULT_PHI) -> float:
    """Largest Lyapunov exponent (per unit time, in 1/tau) predicted by the DMFT (SCS 1988). UNVERIFIED.

    Not exported from :mod:`chaossim.chaos`: direct simulations (Euler dt = 0.1 tau, tangent vector
    renormalised every 10 steps, 200-300 tau) give lower values that do not close the gap with N:
    at g = 4 (prediction 0.1125) N = 1000: 0.095 +- 0.004, N = 4000: 0.107 +- 0.002, N = 8000: 0.105 +- 0.001;
    at g = 2 (prediction 0.036) N = 1000: 0.017 +- 0.003. Use it as the SCS reference, not as ground truth.
    Its analytic properties below are tested (circular law for g < 1, Poschl-Teller limit, zero mode).

    A perturbation's correlation d(t, t') = <dv(t) dv(t')> obeys (1 + d_t)(1 + d_t') d = g <phi'(v) phi'(v')> d.
    With d = exp(2 lambda T) psi(s), T = (t + t')/2, s = t - t' (units of tau), this is the Schroedinger problem

        -psi'' + U(s) psi = E psi,   U(s) = 1 - g <sech^2(v) sech^2(v')>_{Delta(s)},   E = 1 - (1 + lambda)^2,

    so lambda_max = sqrt(1 - E0) - 1 with E0 the ground-state energy. Delta'(s) is an exact zero-energy
    state with one node, hence E0 < 0 and lambda_max > 0 for g > 1. For g <= 1 (Delta = 0, U = 1 - g)
    it gives sqrt(g) - 1, the circular-law edge of the stable fixed point.

    Solved with second-order finite differences on s in [-L, L] (psi(+-L) = 0); ``step`` is the grid step
    in units of tau (default: the width of Delta(s) / 50); the discretisation error is O(step^2).
    """
    g, tau = check_gain(g), check_positive("tau", tau)
    if _gain(g, phi) <= 1.0:
        return (math.sqrt(_gain(g, phi)) - 1.0) / tau
    e0, _ = _schroedinger(g, step, phi=phi)
    return (math.sqrt(1.0 - e0[0]) - 1.0) / tau


def _schroedinger(g: float, step: float | None, n_states: int = 2, phi: Nonlinearity = DEFAULT_PHI):
    """Lowest eigenvalues of -d^2/ds^2 + U(s) on a symmetric grid, and the grid (for checks)."""
    path = _path(g, phi)
    slopes = _slopes(phi)
    d0 = path.d0
    t_corr = path.u1 / math.acosh(1.0 / _SWITCH) if path.u1 > 0 else 1.0  # ~ width of Delta(s)
    h = float(step) if step is not None else t_corr / 50.0
    if not (math.isfinite(h) and h > 0):
        raise ConfigError(f"step must be a finite number > 0, got {step!r}.")
    u_inf = 1.0 - g * _mean(slopes, d0) ** 2  # U(s -> infinity)
    length = path.u2 + 25.0 / math.sqrt(u_inf)
    n = int(math.ceil(length / h))
    s = np.arange(-n, n + 1) * h
    half = np.arange(0, n + 1) * h
    u_half = 1.0 - g * _pair_average(slopes, path(half), d0)
    pot = np.concatenate([u_half[:0:-1], u_half])
    diag = pot + 2.0 / h**2
    off = np.full(s.size - 1, -1.0 / h**2)
    evals, evecs = eigh_tridiagonal(diag, off, select="i", select_range=(0, n_states - 1))
    return evals, (s, evecs, pot)
