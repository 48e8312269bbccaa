"""The shared-start control dynamics.init_spread (chaossim.models.starts; docs/chaos_study.md).

References built here, independently of the package: today's independent starts re-drawn by hand in
the engine's documented order (free layers, then the clamped hidden layers, from the generator keyed by
(seed, step)); the shared start x_i = sqrt(1 - eps^2) z0 + eps xi_i written out; sampling bounds of the
perturbation's variance (chi-square); the linearised Euler map's mean square growth for a random
coupling matrix; the mean-field lambda_max (chaossim.chaos.dmft) for a chaotic net.
"""
import math

import numpy as np
import pytest

import chaossim as cs
from chaossim import streams
from chaossim.backend import derive_seed, to_numpy
from chaossim.chaos.diversity import state_spread
from chaossim.chaos.dmft import dmft_lyapunov
from chaossim.config import RunConfig
from chaossim.ensemble import Ensemble
from chaossim.errors import ConfigError, DataError
from chaossim.runs.build import build_model
from chaossim.runs.training import STEP_STREAM
from chaossim.validation import check_spread

NV, NH, M = 12, 7, 9


def _batch(rng):
    return rng.uniform(-1, 1, (M, NV))


def _by_hand(seed: int, step: int, eps: float) -> dict:
    """Initial states of training step ``step`` drawn as documented: free v, free h, clamped h; then z0 per
    free layer when eps < 1."""
    gen = np.random.default_rng(derive_seed(seed, STEP_STREAM, step))
    free = {"v": gen.standard_normal((M, NV), dtype=np.float64), "h": gen.standard_normal((M, NH), dtype=np.float64)}
    clamped = {"h": gen.standard_normal((M, NH), dtype=np.float64)}
    if eps < 1:
        keep = math.sqrt(1 - eps * eps)
        for n in ("v", "h"):
            z0 = gen.standard_normal((1, free[n].shape[1]), dtype=np.float64)
            free[n] = free[n] * eps + z0 * keep
    return {"free": free, "clamped": clamped}


@pytest.mark.parametrize("eps", [1.0, 0.3, 1e-3])
def test_training_starts_equal_the_documented_draws_to_the_bit(eps, rng):
    batch = _batch(rng)
    auto = cs.Restricted(NV, NH, g=1.5, seed=4, dtype="float64")
    auto.init_spread = eps
    given = cs.Restricted(NV, NH, g=1.5, seed=4, dtype="float64")
    for step in range(3):
        auto.bk.reseed(auto.rng, derive_seed(4, STEP_STREAM, step))
        auto.train_step(batch, T=5.0, k=0.05)
        given.train_step(batch, T=5.0, k=0.05, init=_by_hand(4, step, eps))
    for name in auto.params:
        np.testing.assert_array_equal(to_numpy(auto.params[name]), to_numpy(given.params[name]))


def test_spread_one_is_todays_training_to_the_bit(rng):
    """eps = 1 draws nothing more: the generator is left where independent starts leave it."""
    m = cs.Restricted(NV, NH, g=1.5, seed=2, dtype="float64")
    m.init_spread = 1.0
    ref = cs.Restricted(NV, NH, g=1.5, seed=2, dtype="float64")
    free, clamped = m.initial_states(M)
    gen = np.random.default_rng(derive_seed(2, streams.MODEL_RNG))
    for x in (free["v"], free["h"], clamped["h"]):
        np.testing.assert_array_equal(to_numpy(x), gen.standard_normal(x.shape))
    np.testing.assert_array_equal(to_numpy(m.rng.standard_normal(5)), gen.standard_normal(5))
    del ref


def test_tiny_spread_gives_identical_starts():
    m = cs.Restricted(NV, NH, seed=1, dtype="float64")
    eps = 1e-12
    state = m.random_state(50, spread=eps)
    for x in state.values():
        x = to_numpy(x)
        assert np.max(np.abs(x - x[0])) < 20 * eps  # |eps (xi_i - xi_0)| <= eps * 2 * max|xi|, max|xi| < 10


def test_perturbation_std_and_marginal():
    """Across n runs, the per-unit sample variance of the starts is eps^2 chi2_{n-1}/(n-1); pooled over N units
    its mean has relative std sqrt(2 / ((n - 1) N)). Each start keeps variance 1 (z0 and xi independent)."""
    n, nv = 40, 3000
    m = cs.Unrestricted(nv, seed=5, dtype="float64")
    for eps in (0.5, 1e-2, 1e-4):
        x = to_numpy(m.random_state(n, spread=eps)["v"])
        var = x.var(axis=0, ddof=1).mean()
        assert abs(var / eps ** 2 - 1) < 5 * math.sqrt(2 / ((n - 1) * nv))
        # marginal: mean of x^2 over runs and units; dominated by z0 (N values): rel. std ~ sqrt(2 / N)
        assert abs((x ** 2).mean() - 1) < 5 * math.sqrt(2 / nv)
        # correlation of two starts: 1 - eps^2 up to the z0/xi sampling (std ~ 1/sqrt(N))
        assert abs((x[0] * x[1]).mean() - (1 - eps ** 2)) < 5 / math.sqrt(nv)


@pytest.mark.parametrize("bad", [0.0, -0.1, 1.5, float("nan"), float("inf"), True, "a"])
def test_bad_spreads_are_refused(bad):
    with pytest.raises(ConfigError, match="init_spread|spread"):
        check_spread(bad)
    m = cs.Restricted(NV, NH)
    with pytest.raises(ConfigError):
        m.init_spread = bad
    if isinstance(bad, float):
        with pytest.raises(ConfigError, match="dynamics.init_spread"):
            RunConfig().replace(**{"dynamics.init_spread": bad})
    with pytest.raises(ConfigError):
        m.generate(3, 1.0, spread=bad)


def test_config_reaches_the_model_and_rbm_refuses():
    cfg = RunConfig().replace(**{"dynamics.init_spread": 0.01, "model.n_hidden": 5})
    assert build_model(cfg, 8).init_spread == 0.01
    assert RunConfig.from_toml(cfg.to_toml()).dynamics.init_spread == 0.01
    with pytest.raises(ConfigError, match="RBM"):
        build_model(cfg.replace(**{"model.arch": "rbm"}), 8)


def test_ensemble_with_spread_equals_the_models_alone(rng):
    batch = _batch(rng)
    alone = [cs.Restricted(NV, NH, g=g, seed=s, dtype="float64") for g, s in ((1.0, 0), (2.0, 3))]
    members = [cs.Restricted(NV, NH, g=g, seed=s, dtype="float64") for g, s in ((1.0, 0), (2.0, 3))]
    for m in alone + members:
        m.init_spread = 0.05
    ens = Ensemble.from_models(members)
    assert ens.init_spread == 0.05
    for step in range(2):
        for m in alone:
            m.bk.reseed(m.rng, derive_seed(m.seed, STEP_STREAM, step))
            m.train_step(batch, T=4.0, k=0.05)
        for r, m in zip(ens.rngs, members):
            ens.bk.reseed(r, derive_seed(m.seed, STEP_STREAM, step))
        ens.train_step(batch, T=4.0, k=0.05)
    for name in alone[0].params:
        for r, m in enumerate(alone):
            np.testing.assert_array_equal(to_numpy(ens.params[name][r]), to_numpy(m.params[name]))
    other = cs.Restricted(NV, NH, seed=9, dtype="float64")
    with pytest.raises(DataError, match="init_spread"):
        Ensemble.from_models([members[0], other])


def test_fused_host_schedule_uses_the_spread(rng):
    from chaossim.config import BackendConfig
    from chaossim.runs.train_path import choose_trainer

    batch = _batch(rng).astype(np.float32)
    a = cs.Restricted(NV, NH, g=1.5, seed=6)
    b = cs.Restricted(NV, NH, g=1.5, seed=6)
    for m in (a, b):
        m.init_spread = 1e-3
    fused = choose_trainer(b, BackendConfig(trainer="fused"))
    for step in range(2):
        for m in (a, b):
            m.bk.reseed(m.rng, derive_seed(6, STEP_STREAM, step))
        a.train_step(batch, T=5.0, k=0.05)
        fused.train_step(batch, 1.0, 10.0, 5.0, 0.05)
    for name in a.params:
        np.testing.assert_allclose(to_numpy(b.params[name]), to_numpy(a.params[name]), rtol=0, atol=1e-5)


def _linear_rms_ratio(k: int, a: float, g: float) -> float:
    """sqrt(E||M^k d||^2 / ||d||^2) for the linearised Euler map M = (1 - a) I + a J at x = 0, J_ij ~ N(0, g/N),
    at large N: the cross terms of different powers of J average out and E||J^j d||^2 = g^j ||d||^2, so
    E||M^k d||^2 = sum_j C(k, j)^2 (1 - a)^(2(k - j)) a^(2j) g^j ||d||^2."""
    logs = [2 * (math.lgamma(k + 1) - math.lgamma(j + 1) - math.lgamma(k - j + 1)) + 2 * (k - j) * math.log(1 - a)
            + 2 * j * math.log(a) + j * math.log(g) for j in range(k + 1)]
    top = max(logs)
    return math.exp(0.5 * (top + math.log(sum(math.exp(x - top) for x in logs))))


def test_contracting_net_forgets_the_perturbation():
    """g = 0.5: phi' <= 1 only shrinks the linear map's action, so the spread stays below eps times the
    linearised ratio (up to finite-N sampling), and once the common run has decayed to 0 it decays at the
    mean-field rate sqrt(g) - 1 (dmft_lyapunov for g < 1)."""
    g, eps, n_units = 0.5, 1e-6, 800
    m = cs.Unrestricted(n_units, g=g, seed=3, dtype="float64")
    times = [0.0, 50.0, 100.0, 200.0, 400.0, 600.0]
    s = state_spread(m, 12, times, eps, seed=1)["spread"]
    assert s[0] == pytest.approx(eps, rel=0.1)
    a = m.dt / m.tau
    for t, got in zip(times, s):
        assert got <= 1.15 * eps * _linear_rms_ratio(int(t), a, g)
    rate = math.log(s[-1] / s[-2]) / ((times[-1] - times[-2]) / m.tau)
    assert rate == pytest.approx(dmft_lyapunov(g), rel=0.2)


def test_chaotic_net_amplifies_the_perturbation_at_the_mean_field_rate():
    """g = 4: after a transient the spread of nearby runs grows like exp(lambda_max t); lambda_max from the
    mean-field theory is 0.1125 / tau, finite-N simulations sit 5-16 % below it (dmft_lyapunov's docstring);
    the rate here is a finite-time estimate over 30 tau: within 25 %."""
    g, eps, n_units = 4.0, 1e-9, 1500
    m = cs.Unrestricted(n_units, g=g, seed=0, dtype="float64")
    times = [0.0, 100.0, 400.0]
    rates = []
    for seed in (1, 2):
        s = state_spread(m, 8, times, eps, seed=seed)["spread"]
        assert s[-1] > 20 * s[0]
        rates.append(math.log(s[2] / s[1]) / ((times[2] - times[1]) / m.tau))
    assert np.mean(rates) == pytest.approx(dmft_lyapunov(g), rel=0.25)


def test_sample_command_spread(tiny_trained_run, tmp_path):
    """`chaossim sample --spread EPS -t 0`: the samples are phi of the starts, within ~EPS of each other;
    the default gives independent starts. A spread outside (0, 1] is an error (exit status 1)."""
    from chaossim.cli import main

    for eps, bound in ((1e-6, 1e-5), (1.0, None)):
        out = tmp_path / f"s{eps}.npz"
        argv = ["sample", str(tiny_trained_run), "-n", "6", "-t", "0", "--spread", str(eps), "--out", str(out)]
        assert main(argv) == 0
        x = np.load(out)["samples"][0]
        spread = np.abs(x - x[0]).max()
        assert spread < bound if bound else spread > 0.5
    assert main(["sample", str(tiny_trained_run), "--spread", "0", "--out", str(tmp_path / "x.npz")]) == 1
