"""Finite-time exponents, the asymptotic exponent's convergence check, perturbation growth and untrained twins
(chaossim.chaos.ftle) against closed forms: a linear system with known eigenvalues, contracting maps, and the
asymptotic exponent of an untrained chaotic network."""

from __future__ import annotations

import math

import numpy as np
import pytest

import chaossim as cs
from chaossim.backend import to_numpy
from chaossim.chaos.ftle import (
    asymptotic_exponent,
    finite_time_exponent,
    perturbation_growth,
    untrained_twin,
)
from chaossim.dynamics import Nonlinearity, register_nonlinearity
from chaossim.errors import ConfigError
from chaossim.models import Network

# phi(x) = x: the network is the linear system tau dx/dt = (M - 1) x with M = J / sqrt(N)
LINEAR = register_nonlinearity(
    Nonlinearity("identity_ftle_test", phi=lambda xp, x: x * 1, dphi=lambda xp, x: x * 0 + 1)
)


def linear_network(blocks, dt, tau, seed=0):
    """An unrestricted network with phi = identity whose ODE matrix times tau is M - 1 = S B S^-1: B block-diagonal
    (a real eigenvalue per entry of ``blocks``, a 2x2 block [[a, b], [-b, a]] per complex a + ib) and S a random,
    non-orthogonal change of basis. Returns the model and the eigenvalues of M - 1."""
    rng = np.random.default_rng(seed)
    n = sum(1 if np.isreal(z) else 2 for z in blocks)
    b = np.zeros((n, n))
    eig, i = [], 0
    for z in blocks:
        if np.isreal(z):
            b[i, i] = z.real
            eig.append(complex(z))
            i += 1
        else:
            b[i : i + 2, i : i + 2] = [[z.real, z.imag], [-z.imag, z.real]]
            eig += [z, z.conjugate()]
            i += 2
    s = np.eye(n) + 0.3 * rng.normal(size=(n, n))
    m = cs.Unrestricted(n, g=0.0, dt=dt, tau=tau, dtype="float64", phi=LINEAR.name)
    m.params["J"] = (s @ b @ np.linalg.inv(s) + np.eye(n)) * math.sqrt(n)
    return m, np.asarray(eig)


@pytest.mark.parametrize("blocks", [(0.3, -0.5, -1.2, -0.8 + 0.6j), (0.3 + 0.5j, 0.1, -1.0, -2.0)],
                         ids=["real-dominant", "complex-dominant"])
def test_linear_system_tends_to_the_euler_maps_largest_growth(blocks):
    dt, tau = 1.0, 10.0
    m, eig = linear_network(blocks, dt, tau)
    want = np.max(np.log(np.abs(1 + dt / tau * eig))) / dt  # the Euler map's largest exponent
    errors = []
    for T in (500.0, 4000.0):
        r = finite_time_exponent(m, T, n_starts=12)
        # |u(T)| = |S B^n S^-1 u0|: the start-dependent correction is bounded by (ln cond(S) + ln 1/|c_1|) / T
        assert abs(r.value - want) < 6.0 / T
        errors.append(abs(r.value - want))
        assert np.all(np.abs(r.per_start - want) < 12.0 / T)
    assert errors[1] < errors[0]  # converging as T grows


def test_linear_system_small_dt_gives_the_odes_largest_real_part():
    dt, tau = 0.1, 10.0  # dt/tau = 0.01: log|1 + a mu| / dt = Re(mu)/tau + O(a)
    m, eig = linear_network((0.2, -0.4, -1.0 + 0.7j), dt, tau, seed=1)
    r = finite_time_exponent(m, 3000.0, n_starts=8)
    assert r.value == pytest.approx(max(eig.real) / tau, abs=6.0 / 3000 + 0.01 * 0.2**2 / tau)


def test_recorded_log_growth_is_the_running_sum():
    m, eig = linear_network((0.3, -1.0), 1.0, 10.0)
    r = finite_time_exponent(m, 200.0, n_starts=4, times=[50.0, 100.0, 150.0])
    assert list(r.t) == [50.0, 100.0, 150.0, 200.0] and r.log_growth.shape == (4, 4)
    np.testing.assert_allclose(r.log_growth[-1] / 200.0, r.per_start, rtol=1e-12)
    slope = np.diff(r.log_growth.mean(axis=1)) / 50.0  # once aligned, the growth per unit time is the exponent
    assert slope[-1] == pytest.approx(np.max(np.log(np.abs(1 + 0.1 * eig))), abs=1e-3)


@pytest.mark.parametrize("arch, sizes", [("unrestricted", (30,)), ("restricted", (30, 20))])
def test_without_couplings_the_map_contracts_by_one_minus_a(arch, sizes):
    """g = 0 and no trained part: the Jacobian of the Euler map is (1 - a) times the identity at every state,
    so every start's exponent is log(1 - a) / dt at every T."""
    m = Network(*sizes, arch=arch, g=0.0, dt=1.0, tau=10.0)
    for T in (10.0, 100.0):
        r = finite_time_exponent(m, T, n_starts=5)
        np.testing.assert_allclose(r.per_start, math.log(0.9), rtol=1e-5)
    grow = perturbation_growth(m, [5.0, 50.0], 1e-2, n=6)
    np.testing.assert_allclose(grow["ratio"], [0.9**5, 0.9**50], rtol=1e-4)


def test_a_contracting_tanh_network_tends_to_its_fixed_points_stability():
    """g = 0.25 < 1: every run decays to the fixed point 0, where tanh' = 1; the exponent tends to the log of the
    largest |eigenvalue| of the Euler map's Jacobian there, (1 - a) + a J / sqrt(N), computed here in float64."""
    m = cs.Unrestricted(60, g=0.25, seed=4, dtype="float64")
    jac = 0.9 * np.eye(60) + 0.1 * to_numpy(m.params["J"]) / math.sqrt(60)
    want = math.log(np.max(np.abs(np.linalg.eigvals(jac))))
    r = finite_time_exponent(m, 3000.0, n_starts=6)
    assert r.value < 0
    assert r.value == pytest.approx(want, abs=6.0 / 3000)


@pytest.mark.slow
def test_ftle_over_a_long_window_agrees_with_the_asymptotic_exponent_at_g4():
    """The untrained restricted network at g = 4 is chaotic; where both estimates converge (a long window, the
    asymptotic exponent's two windows agreeing) they agree within their standard errors."""
    m = cs.Restricted(200, 100, g=4.0, seed=0, dtype="float64")
    a = asymptotic_exponent(m, t_burn=500.0, t_window=4000.0, n_replicas=8)
    assert a.converged and a.value > 5 * a.stderr  # chaotic
    r = finite_time_exponent(m, 4000.0, n_starts=8)
    assert abs(r.value - a.value) < 3 * math.hypot(r.stderr, a.stderr) + 2.0 / 4000


def test_the_convergence_check_flags_a_window_in_transit():
    """A network that is still relaxing during the window (the contracting linear system with one slow mode and
    no burn-in) gives different exponents over the two windows: not converged; a long burn-in fixes it."""
    m, eig = linear_network((-0.05, -3.0 + 2.0j, -2.0), 1.0, 10.0)
    early = asymptotic_exponent(m, t_burn=0.0, t_window=40.0, n_replicas=6, tol=1e-4)
    assert not early.converged
    late = asymptotic_exponent(m, t_burn=2000.0, t_window=400.0, n_replicas=6, tol=1e-4)
    assert late.converged
    assert late.value == pytest.approx(np.max(np.log(np.abs(1 + 0.1 * eig))), abs=1e-4)


def test_untrained_twin_keeps_the_fixed_couplings_and_resets_the_trained_ones():
    data = cs.load_dataset("digits")
    m = cs.RestrictedSymmetric(64, 16, g=2.0, seed=5)
    m.params["W"] = to_numpy(m.params["W"]) * 1.5  # fixed couplings not those of the seed: the twin keeps them
    for _ in range(3):
        m.train_step(data.train[:20], T=10.0, k=0.1)
    twin = untrained_twin(m)
    assert type(twin) is type(m) and twin.describe() == m.describe()
    for c in m.couplings:
        np.testing.assert_array_equal(to_numpy(twin.params[c.fixed]), to_numpy(m.params[c.fixed]))
    fresh = cs.RestrictedSymmetric(64, 16, g=2.0, seed=5)
    for name in ("A", "b", "c"):
        assert np.abs(to_numpy(m.params[name])).max() > 0
        np.testing.assert_array_equal(to_numpy(twin.params[name]), to_numpy(fresh.params[name]))
    twin.params["A"] = np.ones(twin.params["A"].shape)
    assert not np.array_equal(to_numpy(m.params["A"]), np.ones(m.params["A"].shape))  # no shared arrays


@pytest.mark.parametrize("call, match", [
    (lambda m: finite_time_exponent(m, 0.0), "positive multiple"),
    (lambda m: finite_time_exponent(m, 10.5), "multiple of dt"),
    (lambda m: finite_time_exponent(m, 10.0, times=[20.0]), r"\(0, T\]"),
    (lambda m: finite_time_exponent(m, 10.0, n_starts=0), "n_starts"),
    (lambda m: asymptotic_exponent(m, t_burn=0.0, t_window=30.0), "even number"),
    (lambda m: asymptotic_exponent(m, t_burn=0.0, t_window=20.0, tol=-1.0), "tol"),
    (lambda m: finite_time_exponent(cs.RBM(4, 3), 10.0), "single chaossim rate network"),
    (lambda m: perturbation_growth(m, [], 0.1), "at least one time"),
    (lambda m: perturbation_growth(m, [10.0], 0.0), "spread"),
])
def test_bad_input_is_refused_in_one_line(call, match):
    with pytest.raises(ConfigError, match=match) as err:
        call(cs.Restricted(5, 3))
    assert "\n" not in str(err.value)
