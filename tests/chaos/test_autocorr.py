"""Estimators of chaossim.chaos.autocorr against brute-force loops and an exact Ornstein-Uhlenbeck process."""
import math

import numpy as np
import pytest

from chaossim.backend import get_backend
from chaossim.chaos import autocorrelation, relaxation_time, stationary_variance
from chaossim.errors import ConfigError, DataError


def brute_autocorrelation(x, max_lag, center):
    x = np.asarray(x, dtype=np.float64)
    n_t, batch, n = x.shape
    if center:
        x = x - x.mean(axis=0, keepdims=True)
    out = np.zeros(max_lag + 1)
    for s in range(max_lag + 1):
        total, count = 0.0, 0
        for t in range(n_t - s):
            for b in range(batch):
                for i in range(n):
                    total += x[t, b, i] * x[t + s, b, i]
                    count += 1
        out[s] = total / count
    return out


@pytest.mark.parametrize("center", [False, True])
def test_autocorrelation_matches_brute_force_loops(backend, center, rng):
    x = rng.normal(0.3, 1.0, size=(9, 3, 4))
    bk = get_backend(backend, "float64")
    got = autocorrelation(bk.asarray(x), 8, center=center)
    assert isinstance(got, np.ndarray) and got.dtype == np.float64 and got.shape == (9,)
    np.testing.assert_allclose(got, brute_autocorrelation(x, 8, center), rtol=1e-12, atol=1e-14)


def test_autocorrelation_blocks_and_float32(monkeypatch, rng):
    """Many series (several FFT blocks) and float32 input give the float64 brute-force answer."""
    import chaossim.chaos.autocorr as ac

    x = rng.normal(size=(12, 5, 7)).astype(np.float32)
    monkeypatch.setattr(ac, "_CHUNK_BYTES", 8 * 2 * 32 * 3)   # blocks of 3 series
    got = autocorrelation(x, 5)
    np.testing.assert_allclose(got, brute_autocorrelation(x.astype(np.float64), 5, False), rtol=1e-12)


def test_autocorrelation_of_ornstein_uhlenbeck_process():
    """AR(1) x_{t+1} = rho x_t + sqrt(1 - rho^2) xi_t, x_0 ~ N(0, 1), is the OU process sampled at unit
    interval: exactly stationary with autocorrelation rho^s = exp(-s / theta)."""
    theta, n_t, batch, n = 5.0, 4000, 4, 50
    rho = math.exp(-1.0 / theta)
    gen = np.random.default_rng(7)
    x = np.empty((n_t, batch, n))
    x[0] = gen.standard_normal((batch, n))
    noise = gen.standard_normal((n_t - 1, batch, n)) * math.sqrt(1 - rho * rho)
    for t in range(n_t - 1):
        x[t + 1] = rho * x[t] + noise[t]
    lags = np.arange(0, 21)
    got = autocorrelation(x, 20)
    # Standard error of each estimate ~ sqrt((1 + rho^2) / ((1 - rho^2) n_t batch n)) ~ 2.4e-3.
    np.testing.assert_allclose(got, np.exp(-lags / theta), atol=0.012)
    assert stationary_variance(x, 0) == pytest.approx(1.0, abs=0.012)
    fitted_theta = -1.0 / np.polyfit(lags[:10], np.log(got[:10]), 1)[0]
    assert fitted_theta == pytest.approx(theta, rel=0.03)


def test_stationary_variance_against_numpy(rng):
    x = rng.normal(0.5, 2.0, size=(30, 2, 6))
    assert stationary_variance(x, 10) == pytest.approx(np.mean(x[10:] ** 2), rel=1e-13)
    assert stationary_variance(x, 10, center=True) == pytest.approx(np.var(x[10:], axis=0).mean(), rel=1e-13)


def test_relaxation_time_of_an_exponential_approach():
    """x(t) = m + A exp(-t/theta) leaves the band tol*m for good at t* = theta ln(A / (tol m))."""
    theta, m, amp, tol, dt = 7.0, 2.0, 3.0, 0.01, 0.5
    t = np.arange(0, 400, dt)
    series = m + amp * np.exp(-t / theta)
    t_star = theta * math.log(amp / (tol * m))
    got = relaxation_time(series, window=100, tol=tol, dt=dt)
    assert t_star <= got < t_star + dt
    assert relaxation_time(series, window=100, tol=tol) == pytest.approx(got / dt)
    # Decay to 0 (a stable network's variance): relative band is empty, absolute band works.
    decay = amp * np.exp(-t / theta)
    got0 = relaxation_time(decay, window=10, tol=0.0, atol=1e-3, dt=dt)
    assert theta * math.log(amp / 1e-3) <= got0 < theta * math.log(amp / 1e-3) + dt
    assert relaxation_time(np.full(10, 3.0), window=5, tol=0.01) == 0.0


def test_relaxation_time_nan_when_the_band_is_narrower_than_the_noise():
    series = 1.0 + 0.1 * np.where(np.arange(100) % 2 == 0, 1.0, -1.0)
    assert math.isnan(relaxation_time(series, window=99, tol=0.01))
    assert relaxation_time(series, window=99, tol=0.2) == 0.0


def test_bad_input_raises_clear_errors():
    x = np.zeros((5, 2, 3))
    with pytest.raises(DataError, match="n_times, batch, N"):
        autocorrelation(np.zeros((5, 3)), 2)
    with pytest.raises(ConfigError, match="max_lag"):
        autocorrelation(x, 5)
    with pytest.raises(DataError, match="NaN"):
        autocorrelation(np.full((5, 2, 3), np.nan), 1)
    with pytest.raises(ConfigError, match="burn_in"):
        stationary_variance(x, 5)
    with pytest.raises(ConfigError, match="tolerance band"):
        relaxation_time(np.ones(5), window=2, tol=0.0)
    with pytest.raises(ConfigError, match="window"):
        relaxation_time(np.ones(5), window=6, tol=0.1)
    with pytest.raises(DataError, match="1-D"):
        relaxation_time(np.ones((5, 2)), window=2, tol=0.1)
