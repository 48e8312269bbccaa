"""DMFT of the untrained unrestricted network (chaossim.chaos.dmft) against independent checks:
closed-form limits derived by series expansion, Gauss-Hermite / scipy.integrate.quad references,
the DMFT equation itself, and direct simulation of the network."""
import math

import numpy as np
import pytest
from numpy.polynomial.hermite_e import hermegauss
from scipy.integrate import quad
from scipy.optimize import brentq

import chaossim
from chaossim.chaos import (
    dmft_autocorrelation,
    dmft_phi_autocorrelation,
    dmft_phi_variance,
    dmft_potential,
    dmft_variance,
)
from chaossim.chaos.dmft import _schroedinger, dmft_lyapunov
from chaossim.errors import ConfigError, DataError

Z, W = hermegauss(80)
W = W / W.sum()


def lncosh(x):
    return np.logaddexp(x, -x) - math.log(2.0)


def gh_pair(f, delta, delta0):
    """Reference E[f(v) f(v')] (Var delta0, Cov delta >= 0) by 80 x 80 Gauss-Hermite quadrature."""
    d = np.atleast_1d(np.asarray(delta, dtype=float))[:, None, None]
    v1 = np.sqrt(delta0 - d) * Z[None, None, :] + np.sqrt(d) * Z[None, :, None]
    inner = f(v1) @ W
    return (inner ** 2) @ W


def quad_mean(f, var):
    dens = lambda v: math.exp(-v * v / (2 * var)) / math.sqrt(2 * math.pi * var)
    return 2 * quad(lambda v: f(v) * dens(v), 0, np.inf, limit=400, epsabs=0, epsrel=1e-12)[0]


def quad_variance(g):
    """Delta0 from Delta0^2/2 = g Var[ln cosh v] with adaptive quadrature (scipy) and brentq."""
    lc = lambda v: math.log(math.cosh(v)) if abs(v) < 20 else abs(v) - math.log(2)

    def res(d):
        m = quad_mean(lc, d)
        return g * (quad_mean(lambda v: lc(v) ** 2, d) - m * m) / d ** 2 - 0.5
    return brentq(res, 1e-3, 10 * g, xtol=1e-13)


# ------------------------------------------------------------------ variance
def test_no_chaos_at_or_below_g_1():
    for g in (0.0, 0.5, 1.0):
        assert dmft_variance(g) == 0.0
        assert dmft_phi_variance(g) == 0.0
        assert np.all(dmft_autocorrelation(g, [0.0, 1.0, 5.0]) == 0.0)
        assert np.all(dmft_phi_autocorrelation(g, [0.0, 1.0]) == 0.0)
    assert dmft_variance(1.0 + 1e-6) > 0.0


def test_variance_increases_with_g():
    gs = np.array([1.001, 1.01, 1.1, 1.5, 2, 3, 4, 8, 20, 100])
    d = np.array([dmft_variance(g) for g in gs])
    assert np.all(np.diff(d) > 0)


@pytest.mark.parametrize("g", [1.5, 2.0, 4.0, 10.0])
def test_variance_against_adaptive_quadrature(g):
    assert dmft_variance(g) == pytest.approx(quad_variance(g), rel=1e-8)


@pytest.mark.parametrize("g", [1.001, 1.01, 1.02, 1.05])
def test_near_threshold_series(g):
    """ln cosh x = x^2/2 - x^4/12 + x^6/45 + ... gives Var[ln cosh v] = D^2/2 - D^3 + (8/3) D^4, so
    Delta0 = (g-1)/2 + (g-1)^2/6 + O((g-1)^3) (module docstring)."""
    e = g - 1
    d0 = dmft_variance(g)
    assert d0 == pytest.approx(e / 2, rel=e)                       # leading order, relative error ~ e/3
    assert abs(d0 / (e / 2 + e * e / 6) - 1) < e * e               # next order, relative error O(e^2)


@pytest.mark.parametrize("g", [100.0, 1000.0])
def test_large_gain_asymptotics(g):
    """ln cosh x = |x| - ln 2 + ln(1 + e^{-2|x|}) gives Var[ln cosh v] = D (1 - 2/pi) - pi/6 + O(D^-1/2), so
    Delta0 = 2 g (1 - 2/pi) - pi / (6 (1 - 2/pi)) + O(g^-1/2)."""
    c = 1 - 2 / math.pi
    d0 = dmft_variance(g)
    assert d0 / g == pytest.approx(2 * c, rel=0.02)
    assert abs(d0 / (2 * g * c - math.pi / (6 * c)) - 1) < 3 * g ** -1.5


@pytest.mark.parametrize("g", [1.5, 4.0, 30.0])
def test_phi_variance_against_adaptive_quadrature(g):
    assert dmft_phi_variance(g) == pytest.approx(quad_mean(lambda v: math.tanh(v) ** 2, dmft_variance(g)), rel=1e-9)


# ------------------------------------------------------------------ autocorrelation
@pytest.mark.parametrize("g", [2.0, 4.0])
def test_autocorrelation_solves_the_dmft_equation(g):
    """Delta'' = Delta - g C(Delta; Delta0) with C from an independent Gauss-Hermite rule, and
    (1/2) Delta'^2 + V(Delta) conserved with V(Delta0) = V(0)."""
    d0 = dmft_variance(g)
    h = 0.01
    s = np.arange(0, 30, h)
    d = dmft_autocorrelation(g, s)
    d2 = (d[2:] - 2 * d[1:-1] + d[:-2]) / h ** 2
    resid = d2 - (d[1:-1] - g * gh_pair(np.tanh, d[1:-1], d0))
    assert np.max(np.abs(resid)) < 1e-5 * d0
    d1 = (d[2:] - d[:-2]) / (2 * h)
    v_ref = lambda x: -0.5 * x ** 2 + g * gh_pair(lncosh, x, d0)
    energy = 0.5 * d1 ** 2 + v_ref(d[1:-1])
    assert np.max(np.abs(energy - v_ref(np.array([d0])))) < 1e-7 * d0 ** 2
    # the 80-node reference is good to ~1e-8
    assert v_ref(np.array([d0]))[0] == pytest.approx(v_ref(np.array([0.0]))[0], abs=5e-8 * d0 ** 2)
    np.testing.assert_allclose(dmft_potential(g, [0.0, d0 / 2, d0]), v_ref(np.array([0.0, d0 / 2, d0])),
                               rtol=5e-8, atol=1e-12)
    np.testing.assert_allclose(dmft_phi_autocorrelation(g, s[::100]), gh_pair(np.tanh, d[::100], d0), rtol=1e-6,
                               atol=1e-12)   # Gauss-Hermite (80 nodes) is good to ~3e-7 for tanh at Delta0 ~ 2


@pytest.mark.parametrize("g", [1.2, 2.0, 4.0, 10.0])
def test_autocorrelation_shape(g):
    d0 = dmft_variance(g)
    s = np.linspace(0, 400, 4001)
    d = dmft_autocorrelation(g, s)
    assert d[0] == pytest.approx(d0, rel=1e-12)
    assert np.all(np.diff(d) < 0) and np.all(d > 0)
    assert d[-1] < 1e-6 * d0
    # Delta''(0) = Delta0 - g C(0) < 0: the particle starts rolling down from rest.
    assert d0 - g * dmft_phi_variance(g) < 0
    # Even in s and scaled by tau.
    np.testing.assert_allclose(dmft_autocorrelation(g, -s[:50]), d[:50], rtol=0, atol=0)
    np.testing.assert_allclose(dmft_autocorrelation(g, 10.0 * s[:50], tau=10.0), d[:50], rtol=1e-14)
    # Exponential tail, rate sqrt(1 - g <phi'>^2) from linearising at Delta = 0.
    rate = math.sqrt(1 - g * quad_mean(lambda v: 1 / math.cosh(v) ** 2 if abs(v) < 300 else 0.0, d0) ** 2)
    far = s[(d < 1e-3 * d0) & (d > 1e-12 * d0)]
    slope = np.polyfit(far, np.log(dmft_autocorrelation(g, far)), 1)[0]
    assert slope == pytest.approx(-rate, rel=1e-3)


def test_near_threshold_shape_is_sech():
    """Close to g = 1, C(Delta) = (1 - 2 Delta0) Delta + (2/3) Delta^3 + ... and the particle equation is
    solved by Delta(s) = Delta0 sech(Delta0 s / sqrt(3)) (relative corrections O(Delta0))."""
    g = 1.02
    d0 = dmft_variance(g)
    s = np.linspace(0, 2000, 201)
    ref = d0 / np.cosh(d0 * s / math.sqrt(3))
    np.testing.assert_allclose(dmft_autocorrelation(g, s), ref, atol=0.02 * d0)
    assert np.max(np.abs(dmft_autocorrelation(g, s) - ref)) > 1e-5 * d0   # the correction is really there


# ------------------------------------------------------------------ Lyapunov (SCS stability problem)
def test_lyapunov_below_threshold_is_the_circular_law_edge():
    """For g < 1 the fixed point 0 is stable with Jacobian -1 + J/sqrt(N): largest real part sqrt(g) - 1."""
    g, n = 0.5, 400
    j = np.random.default_rng(3).normal(0, math.sqrt(g), (n, n)) / math.sqrt(n)
    edge = np.max(np.linalg.eigvals(j).real) - 1
    assert dmft_lyapunov(g) == pytest.approx(math.sqrt(g) - 1)
    assert dmft_lyapunov(g) == pytest.approx(edge, abs=0.03)
    assert dmft_lyapunov(g, tau=10.0) == pytest.approx((math.sqrt(g) - 1) / 10)


@pytest.mark.parametrize("g", [1.002, 1.01])
def test_lyapunov_near_threshold_poschl_teller(g):
    """With Delta = Delta0 sech(k s), k = Delta0/sqrt(3), the potential is U = k^2 - 6 k^2 sech^2(k s)
    (Poschl-Teller, l = 2): E0 = -3 k^2 = -Delta0^2, E1 = 0, so lambda = sqrt(1 + Delta0^2) - 1."""
    d0 = dmft_variance(g)
    lam = dmft_lyapunov(g)
    assert lam == pytest.approx(math.sqrt(1 + d0 ** 2) - 1, rel=4 * (g - 1))   # measured 2.9 (g-1)
    evals, _ = _schroedinger(g, None)
    assert abs(evals[1]) < 1e-3 * abs(evals[0])


@pytest.mark.parametrize("g", [2.0, 4.0])
def test_lyapunov_zero_mode(g):
    """Delta'(s) solves the stability problem with E = 0 (differentiate the DMFT equation): the first
    excited state, so the ground state is below 0 and lambda > 0."""
    evals, (s, vecs, _) = _schroedinger(g, None)
    assert evals[0] < 0 and abs(evals[1]) < 1e-3 * abs(evals[0])
    dprime = np.gradient(dmft_autocorrelation(g, s), s)
    overlap = abs(vecs[:, 1] @ dprime) / np.linalg.norm(dprime)
    assert overlap == pytest.approx(1.0, abs=1e-6)
    assert dmft_lyapunov(g) > 0


# ------------------------------------------------------------------ errors
def test_bad_input():
    with pytest.raises(ConfigError, match="g"):
        dmft_variance(-1.0)
    with pytest.raises(ConfigError, match="g"):
        dmft_variance("two")
    with pytest.raises(ConfigError, match="tau"):
        dmft_autocorrelation(2.0, [1.0], tau=0.0)
    with pytest.raises(DataError, match="lags"):
        dmft_autocorrelation(2.0, [np.nan])


# ------------------------------------------------------------------ simulation of the network
def simulate(g, n, dt, nets, batch, burn, span, every, lags, dtype="float64"):
    """Euler runs of chaossim.Unrestricted (A = 0, b = 0, tau = 1) from N(0, 1) states:
    per network, <v(t) v(t+s)> averaged over units, batch and recorded times after the burn-in."""
    steps, b, k = round((burn + span) / dt), round(burn / dt), round(every / dt)
    out = []
    for seed in range(nets):
        model = chaossim.Unrestricted(n, g=g, seed=seed, dtype=dtype)
        _, traj = model.run(model.random_state(batch), steps, dt, 1.0, record=list(range(b, steps + 1, k)))
        v = np.asarray(traj["v"], dtype=np.float64)
        out.append([np.mean(v[: v.shape[0] - round(s / every)] * v[round(s / every):]) for s in lags])
    return np.array(out)


@pytest.mark.slow
@pytest.mark.parametrize("g, burn", [(2.0, 40.0), (4.0, 20.0)])
def test_simulation_matches_dmft(g, burn):
    """N = 1000, dt = 0.1 tau, 24 networks x 4 initial states in float32, burn-in 40 tau (g = 2) or 20 tau
    (g = 4), then 20 tau measured (~3-5 s each on one core).

    Measured (lags 0, 0.5, 1, 2, 4 tau; (sim - DMFT)/Delta0, +- standard error over networks), seeds 0-23:
      g = 2: this setting +0.000, +0.000, -0.001, -0.003, -0.007 (se 0.018..0.028);
             float64, burn-in 30 tau, 40 tau measured: -0.001, -0.001, -0.002, -0.005, -0.012 (se 0.017..0.028);
             dt = 0.05: -0.001 .. -0.004; N = 2000 (16 nets): -0.002 .. -0.028 (se 0.010..0.021).
      g = 4: this setting -0.002, -0.003, -0.005, -0.010, -0.017 (se 0.009..0.019);
             float64, burn-in 30 tau, 40 tau measured: +0.003, +0.002, +0.001, -0.001, +0.002 (se 0.010..0.020);
             dt = 0.05: +0.012 .. +0.031 (se 0.012..0.024); N = 2000: -0.007 .. -0.029 (se 0.004..0.010).
    The spread is dominated by quenched disorder (network-to-network s.d. of the variance 8% at g = 2,
    5% at g = 4 for N = 1000; the two halves of one run correlate at 0.96), so many short runs beat few
    long ones: measuring 20 tau instead of 40 tau changes the standard errors by less than 10%. float32 (the
    package's default precision) instead of float64 halves the cost of the memory-bound products; on the same
    networks the two precisions differ by at most 0.9 standard errors, with no systematic sign (chaos makes
    the two runs independent after a few tau, so this is the thermal part of the noise). The burn-in is set
    by the transient from the N(0, 1) start, measured on these 24 networks as the mean v^2 against its value
    at 50-80 tau: at g = 2, -6.1% (+-1.8%) at 10-20 tau, -1.5% (+-1.6%) at 20-30 tau, -0.5% (+-1.1%) at
    30-40 tau; at g = 4, -2.0% (+-0.8%) at 10-20 tau, -0.4% (+-0.6%) at 20-30 tau.
    Other seed sets sit closer to the caps at g = 2, lag 4 tau: seeds 100-123 give -0.032 (old setting -0.051),
    seeds 200-223 -0.088 (old setting -0.094, above the 8% cap in both): a negative deviation at long lags
    near the threshold (finite N, presumably) that 24 networks resolve only partly.
    Tolerance: 4 standard errors of the network average plus 1% of Delta0 (finite-N / finite-dt bias),
    capped at 5% of Delta0 for lags <= 1 tau, 6% at 2 tau and 8% at 4 tau; the standard error must be small.
    """
    lags = np.array([0.0, 0.5, 1.0, 2.0, 4.0])
    d0 = dmft_variance(g)
    sim = simulate(g, 1000, 0.1, 24, 4, burn, 20.0, 0.5, lags, dtype="float32") / d0
    mean, se = sim.mean(0), sim.std(0, ddof=1) / math.sqrt(sim.shape[0])
    theory = dmft_autocorrelation(g, lags) / d0
    assert np.all(se < 0.035)
    err = np.abs(mean - theory)
    assert np.all(err < 0.01 + 4 * se), (mean, theory, se)
    assert np.all(err < [0.05, 0.05, 0.05, 0.06, 0.08]), (mean, theory, se)


def test_simulation_decays_below_threshold():
    sim = simulate(0.5, 500, 0.1, 2, 4, 60.0, 10.0, 1.0, [0.0])
    assert np.all(sim < 1e-8)
