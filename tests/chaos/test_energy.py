"""The symmetric control (model.arch = "restricted-symmetric"): its energy function written out by hand for the
restricted network (docs/model.md), its descent along Euler runs for small dt/tau, before and after training,
and its exponents at g = 4, where the random couplings are chaotic."""

from __future__ import annotations

import math

import numpy as np
import pytest

import chaossim as cs
from chaossim.backend import to_numpy
from chaossim.chaos.energy import energy, energy_rate
from chaossim.chaos.ftle import asymptotic_exponent, finite_time_exponent
from chaossim.errors import ConfigError


def hand_energy(m, v, h):
    """E(v, h) of the symmetric restricted network, written from docs/model.md:
    -phi(v) K phi(h) / sqrt(Nv Nh) + sum_i [G(v_i) - b_i phi(v_i)] / sqrt(Nv)
    + sum_a [G(h_a) - c_a phi(h_a)] / sqrt(Nh),   K = W + A, G(x) = x tanh x - ln cosh x."""
    p = {k: np.asarray(to_numpy(x), dtype=np.float64) for k, x in m.params.items()}
    nv, nh = m.sizes["v"], m.sizes["h"]

    def g(x):
        return x * np.tanh(x) - np.log(np.cosh(x))

    pv, ph = np.tanh(v), np.tanh(h)
    k = p["W"] + p["A"]
    return (-np.einsum("bi,ia,ba->b", pv, k, ph) / math.sqrt(nv * nh)
            + (g(v) - p["b"] * pv).sum(1) / math.sqrt(nv) + (g(h) - p["c"] * ph).sum(1) / math.sqrt(nh))


def trained_like(seed=0, g=4.0, dt=0.1, tau=10.0, steps=0):
    """A symmetric network at g = 4, with random trained parts and, when ``steps``, a few training steps on digits."""
    m = cs.RestrictedSymmetric(64, 24, g=g, seed=seed, dt=dt, tau=tau, dtype="float64")
    rng = np.random.default_rng(seed)
    m.params["A"] = rng.normal(0, 0.5, (64, 24))
    m.params["b"], m.params["c"] = rng.normal(0, 0.3, 64), rng.normal(0, 0.3, 24)
    data = cs.load_dataset("digits")
    for s in range(steps):
        m.train_step(data.train[20 * s : 20 * s + 20], T=20.0, k=0.1)
    return m


def test_couplings_are_symmetric_and_share_the_random_networks_w():
    m, r = cs.RestrictedSymmetric(7, 5, g=4.0, seed=3), cs.Restricted(7, 5, g=4.0, seed=3)
    np.testing.assert_array_equal(to_numpy(m.params["Wt"]), to_numpy(m.params["W"]).T)
    np.testing.assert_array_equal(to_numpy(m.params["W"]), to_numpy(r.params["W"]))
    assert m.describe()["arch"] == "restricted-symmetric"


def test_the_energy_is_the_hand_written_one():
    m = trained_like()
    s = m.random_state(5)
    np.testing.assert_allclose(energy(m, s), hand_energy(m, s["v"], s["h"]), rtol=1e-12)


@pytest.mark.parametrize("dt, steps", [(0.1, 0), (0.5, 0), (0.1, 5)], ids=["a=0.01", "a=0.05", "trained"])
def test_energy_decreases_along_euler_runs(dt, steps):
    m = trained_like(dt=dt, steps=steps)
    np.testing.assert_array_equal(to_numpy(m.params["Wt"]), to_numpy(m.params["W"]).T)  # training keeps it
    n = round(300.0 / dt)
    _, traj = m.run(m.random_state(6), n, record=list(range(n + 1)))
    e = np.stack([hand_energy(m, traj["v"][i], traj["h"][i]) for i in range(n + 1)])
    assert np.all(np.diff(e, axis=0) <= 1e-12 * np.abs(e[:-1]).max())
    assert np.all(e[-1] < e[0] - 0.1)  # it does descend


def test_the_rate_of_descent_is_the_closed_form():
    """dE/dt = -tau sum_L sum_i phi'(x_i) (dx_i/dt)^2 / sqrt(N_L) against a centred difference along a fine run."""
    m = trained_like(dt=0.01)
    s0 = m.random_state(4)
    s1 = m.run(s0, 1)
    s2 = m.run(s1, 1)
    fd = (hand_energy(m, s2["v"], s2["h"]) - hand_energy(m, s0["v"], s0["h"])) / 0.02
    np.testing.assert_allclose(energy_rate(m, s1), fd, rtol=2e-3)
    assert np.all(energy_rate(m, s1) < 0)


def test_the_random_couplings_have_no_energy_function():
    with pytest.raises(ConfigError, match="symmetric couplings only.*restricted-symmetric") as err:
        energy(cs.Restricted(6, 4), cs.Restricted(6, 4).random_state(2))
    assert "\n" not in str(err.value)


def test_exponents_at_g4_symmetric_not_positive_random_positive():
    """Same seed and size, g = 4: the random couplings are chaotic (asymptotic exponent > 0), the symmetric ones are
    not (<= 0 within error), and so is the symmetric network's finite-time exponent over [0, 1000]."""
    sym = cs.RestrictedSymmetric(200, 100, g=4.0, seed=0, dtype="float64")
    rnd = cs.Restricted(200, 100, g=4.0, seed=0, dtype="float64")
    a_sym = asymptotic_exponent(sym, t_burn=500.0, t_window=1000.0, n_replicas=6)
    a_rnd = asymptotic_exponent(rnd, t_burn=500.0, t_window=1000.0, n_replicas=6)
    assert a_sym.value <= 3 * a_sym.stderr
    assert a_rnd.value > 3 * a_rnd.stderr
    f = finite_time_exponent(sym, 1000.0, n_starts=8)
    assert f.value <= 3 * f.stderr
