"""Lyapunov exponents of the Euler map (chaossim.chaos.lyapunov) and the training probe.

Independent references: the exact growth rate of the linearised Euler map at the fixed point 0,
log |eigenvalues of (1 - a) I + a K| / dt with K the block coupling matrix built here from the
parameters and numpy.linalg.eigvals in float64; the DMFT stationary activity; agreement between
two different estimators (tangent map, finite twin separation) and the trainer run with and without
the probe (bit-identical parameters: the probe must not disturb training).
"""
import math

import numpy as np
import pytest

from chaossim.backend import gpu_available
from chaossim.chaos.dmft import dmft_phi_variance
from chaossim.chaos.lyapunov import lyapunov_max, lyapunov_spectrum
from chaossim.chaos.probe import training_chaos_probe
from chaossim.errors import ConfigError
from chaossim.models.architectures import Deep, Restricted, Unrestricted


def linear_map(model) -> np.ndarray:
    """The Euler map's Jacobian at v = 0 (phi'(0) = 1), assembled in float64 from the paper's eq. 2 and eqs. 4-5."""
    names = list(model.sizes)
    off = dict(zip(names, np.cumsum([0] + [model.sizes[n] for n in names])))
    n = sum(model.sizes.values())
    k = np.zeros((n, n))
    p = {key: np.asarray(v, dtype=np.float64) for key, v in model.params.items()}
    for c in model.couplings:
        trained = p[c.trained].T if c.transpose else p[c.trained]
        block = (p[c.fixed] + trained) / math.sqrt(model.sizes[c.pre])
        k[off[c.post]:off[c.post] + model.sizes[c.post], off[c.pre]:off[c.pre] + model.sizes[c.pre]] = block
    a = model.dt / model.tau
    return (1 - a) * np.eye(n) + a * k


def linear_exponents(model) -> np.ndarray:
    ev = np.linalg.eigvals(linear_map(model))
    return np.sort(np.log(np.abs(ev)))[::-1] / model.dt


def test_stable_unrestricted_matches_linear_stability():
    m = Unrestricted(300, g=0.5, seed=1)
    ref = linear_exponents(m)[0]
    r = lyapunov_max(m, t_burn=500, t_run=1000, n_replicas=4)
    assert ref < 0 and r.value < 0
    assert r.value == pytest.approx(ref, rel=0.02)
    # the continuous-time circular-law value (sqrt(g) - 1)/tau is close but not what the map gives exactly
    assert r.value * m.tau == pytest.approx(math.sqrt(0.5) - 1, rel=0.1)
    assert r.trace.shape == r.trace_t.shape and r.trace[-1] == pytest.approx(r.value)
    # per unit of time, not per step: halving dt and tau (same map) doubles the rate
    fine = Unrestricted(300, g=0.5, seed=1, dt=0.5, tau=5.0)
    r_fine = lyapunov_max(fine, t_burn=250, t_run=500, n_replicas=4)
    assert r_fine.value == pytest.approx(linear_exponents(fine)[0], rel=0.02)
    assert r_fine.value == pytest.approx(2 * r.value, rel=0.02) and r_fine.in_tau == pytest.approx(r.in_tau, rel=0.02)


def test_chaotic_unrestricted_positive_and_methods_agree():
    m = Unrestricted(300, g=4.0, seed=3)
    tangent = lyapunov_max(m, t_burn=300, t_run=1000, n_replicas=8, seed=1)
    assert tangent.value > 4 * tangent.stderr > 0
    # independent replicas (another seed), finite separation 1e-3 per unit: a different estimator
    twin = lyapunov_max(m, t_burn=300, t_run=1000, n_replicas=8, seed=2, method="twin", eps=1e-3)
    assert abs(twin.value - tangent.value) < 4 * math.hypot(twin.stderr, tangent.stderr)
    # same replicas, small separation: the twin map linearises to the tangent map
    twin_same = lyapunov_max(m, t_burn=300, t_run=1000, n_replicas=8, seed=1, method="twin", eps=1e-5)
    assert twin_same.value == pytest.approx(tangent.value, rel=0.03)


def test_estimate_stable_in_renormalisation_interval_and_eps():
    m = Unrestricted(300, g=4.0, seed=4)
    base = lyapunov_max(m, t_burn=200, t_run=600, n_replicas=6, seed=5, renorm_every=10.0)
    # tangent dynamics is linear: the interval only changes the bookkeeping of the log-growths
    for every in (1.0, 50.0):
        other = lyapunov_max(m, t_burn=200, t_run=600, n_replicas=6, seed=5, renorm_every=every)
        assert other.value == pytest.approx(base.value, rel=1e-3)
    # finite separations: nonlinear, still the same exponent for small enough eps and intervals
    for eps, every in ((1e-6, 10.0), (1e-3, 10.0), (1e-4, 30.0)):
        twin = lyapunov_max(m, t_burn=200, t_run=600, n_replicas=6, seed=5, renorm_every=every,
                            method="twin", eps=eps)
        assert twin.value == pytest.approx(base.value, rel=0.05)
        assert abs(twin.value - base.value) < max(base.stderr, 0.02 * abs(base.value))


def test_spectrum_of_a_linear_case():
    # g < 1: every trajectory falls to v = 0, where the map is linear with known exponents.
    # tau = 2 dt separates the moduli well (a = 0.5) so that QR converges fast.
    m = Unrestricted(24, g=0.5, seed=1, tau=2.0, dtype="float64")
    ref = linear_exponents(m)[:6]
    s = lyapunov_spectrum(m, 6, t_burn=400, t_run=2000, n_replicas=2)
    np.testing.assert_allclose(s.exponents, ref, rtol=0.01)
    assert np.all(np.diff(s.exponents) <= 1e-3 * np.abs(s.exponents[:-1]))      # descending (pairs tie)
    assert s.per_replica.shape == (2, 6) and s.trace.shape == (s.trace_t.size, 6)
    top = lyapunov_max(m, t_burn=400, t_run=2000, n_replicas=2, seed=3)
    assert s.exponents[0] == pytest.approx(top.value, rel=0.01)


def test_spectrum_first_exponent_matches_lambda_max_when_chaotic():
    m = Unrestricted(200, g=4.0, seed=2)
    s = lyapunov_spectrum(m, 4, t_burn=500, t_run=600, n_replicas=4, seed=1)
    top = lyapunov_max(m, t_burn=500, t_run=600, n_replicas=4, seed=1)
    assert s.exponents[0] > 2 * s.stderr[0] > 0
    # same trajectories, different initial vectors: equal within the replica spread
    assert abs(s.exponents[0] - top.value) < 2 * max(s.stderr[0], top.stderr)
    assert np.all(np.diff(s.exponents) < 0)


@pytest.mark.parametrize("make", [lambda g: Restricted(200, 150, g=g, seed=1),
                                  lambda g: Deep(200, 150, 60, g=g, seed=1)], ids=["restricted", "deep"])
def test_layered_architectures_change_sign(make):
    stable = make(0.3)
    # the leading moduli are close (deep: 0.9637 vs 0.9610): a long burn-in aligns the vector
    r = lyapunov_max(stable, t_burn=1000, t_run=1000, n_replicas=4)
    assert r.value == pytest.approx(linear_exponents(stable)[0], rel=0.03)
    chaotic = lyapunov_max(make(4.0), t_burn=300, t_run=600, n_replicas=8)
    assert chaotic.value > 3 * chaotic.stderr > 0


def test_bad_input_is_refused():
    m = Unrestricted(20, g=0.5)
    with pytest.raises(ConfigError, match="method"):
        lyapunov_max(m, method="qr")
    with pytest.raises(ConfigError, match="multiple of renorm_every"):
        lyapunov_max(m, t_run=25, renorm_every=10)
    with pytest.raises(ConfigError, match="multiple of dt"):
        lyapunov_max(m, renorm_every=0.5)
    with pytest.raises(ConfigError, match="eps"):
        lyapunov_max(m, method="twin", eps=0)
    with pytest.raises(ConfigError, match="k = 30"):
        lyapunov_spectrum(m, 30)
    with pytest.raises(ConfigError, match="rate network"):
        lyapunov_max(object())


# ------------------------------------------------------------------ the training probe
def test_probe_values_and_no_side_effects():
    m = Unrestricted(400, g=4.0, seed=1)
    before = {k: np.array(v) for k, v in m.params.items()}
    reference = Unrestricted(400, g=4.0, seed=1).random_state(3)["v"]
    out = training_chaos_probe(m, seed=7)
    assert set(out) == {"lambda_max", "activity_var"}
    assert all(isinstance(v, float) for v in out.values())
    assert out["lambda_max"] > 0
    assert out["activity_var"] == pytest.approx(dmft_phi_variance(4.0), rel=0.1)
    np.testing.assert_array_equal(m.random_state(3)["v"], reference)        # model.rng untouched
    for k, v in m.params.items():
        np.testing.assert_array_equal(v, before[k])
    assert training_chaos_probe(m, seed=7) == out                          # own generator: reproducible
    quiet = training_chaos_probe(Unrestricted(200, g=0.5, seed=1), seed=0)
    assert quiet["lambda_max"] < 0 and quiet["activity_var"] < 1e-4


def test_trainer_records_probe_without_changing_training():
    from chaossim.config import RunConfig
    from chaossim.data import Dataset
    from chaossim.runs.training import train

    rng = np.random.default_rng(0)
    x = np.tanh(rng.standard_normal((120, 16)) + 0.5 * rng.choice([-1.0, 1.0], 16)).astype(np.float32)
    data = Dataset("toy", x[:100], x[100:], (4, 4), "test")
    cfg = RunConfig().replace(**{"model.arch": "restricted", "model.n_hidden": 12, "model.g": 2.0,
                                 "dynamics.T": 20.0, "training.steps": 4, "training.batch_size": 20,
                                 "training.log_every": 4, "training.n_eval": 20, "training.k": 0.05})
    plain = train(cfg, progress=False, dataset=data)
    probed = train(cfg.replace(**{"training.chaos_every": 2}), progress=False, dataset=data)
    assert list(probed.chaos["t_age"]) == [0, 2, 4]
    assert np.all(np.isfinite(probed.chaos["lambda_max"])) and np.all(probed.chaos["activity_var"] > 0)
    for k, v in plain.model.params.items():
        np.testing.assert_array_equal(probed.model.params[k], v)


# ------------------------------------------------------------------ GPU
@pytest.mark.parametrize("backend", ["numpy", pytest.param("cupy", marks=pytest.mark.gpu)])
def test_backends(backend):
    if backend == "cupy" and not gpu_available():
        pytest.skip("needs CuPy and a CUDA device")
    m = Unrestricted(200, g=0.5, seed=2, backend=backend)
    r = lyapunov_max(m, t_burn=400, t_run=800, n_replicas=4)
    assert r.value == pytest.approx(linear_exponents(m)[0], rel=0.02)
    s = lyapunov_spectrum(Unrestricted(24, g=0.5, seed=1, tau=2.0, backend=backend), 3, t_burn=400, t_run=2000,
                          n_replicas=2)
    ref = linear_exponents(Unrestricted(24, g=0.5, seed=1, tau=2.0))[:3]
    np.testing.assert_allclose(s.exponents, ref, rtol=0.01)
    chaotic = Restricted(200, 150, g=4.0, seed=1, backend=backend)
    assert lyapunov_max(chaotic, t_burn=300, t_run=600).value > 0
    assert training_chaos_probe(chaotic, seed=1)["activity_var"] > 0.1
