"""Estimators on recorded trajectories: autocorrelation, stationary variance, relaxation time.

They measure, from a simulation, the quantities the DMFT predicts (:mod:`chaossim.chaos.dmft`):
Delta(s) = <v(t) v(t+s)> and Delta0 = <v^2> of the unrestricted network (paper eq. 2).
A trajectory is an array of shape (n_times, batch, N), e.g. ``model.run(..., record=...)[1]["v"]``,
of either backend; results are NumPy float64.
"""

from __future__ import annotations

import math

import numpy as np

from ..backend import array_module, to_numpy
from ..errors import ConfigError, DataError
from ..validation import check_positive

_CHUNK_BYTES = 64 * 2**20  # float64 working set per block of series in the FFT


def _check_traj(traj, name: str = "traj"):
    if not hasattr(traj, "shape") or not hasattr(traj, "ndim"):
        raise DataError(f"{name} must be an array of shape (n_times, batch, N), got {type(traj).__name__}.")
    if traj.ndim != 3:
        raise DataError(
            f"{name} must have shape (n_times, batch, N), got shape {tuple(traj.shape)}; "
            "record a trajectory with model.run(..., record=steps) and pass trajectory['v']."
        )
    if traj.size == 0:
        raise DataError(f"{name} is empty (shape {tuple(traj.shape)}).")
    xp = array_module(traj)
    if not bool(xp.isfinite(traj).all()):
        raise DataError(f"{name} contains NaN or inf values; the run diverged or the recording is corrupt.")
    return xp


def _check_int(name: str, value, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not lo <= int(value) <= hi:
        raise ConfigError(f"{name} must be an integer in [{lo}, {hi}], got {value!r}.")
    return int(value)


def autocorrelation(traj, max_lag: int, *, center: bool = False) -> np.ndarray:
    """a[s] = mean over units, batch and t in [0, n_times - s) of x(t) x(t + s), for s = 0..max_lag.

    Lags are in units of the recording interval; each lag averages over all the n_times - s available
    pairs (unbiased in the number of pairs). With ``center=True`` each series (one unit of one batch
    element) first has its own time average removed (the connected autocorrelation). Estimates the DMFT
    Delta(s) (module docstring). Computed in float64 with zero-padded FFTs over blocks of series.
    """
    xp = _check_traj(traj)
    n_t = traj.shape[0]
    max_lag = _check_int("max_lag", max_lag, 0, n_t - 1)
    series = traj.reshape(n_t, -1)
    n_series = series.shape[1]
    n_fft = 1 << (n_t + max_lag).bit_length()  # >= n_t + max_lag: no circular wrap-around
    block = max(1, _CHUNK_BYTES // (8 * 2 * n_fft))
    acc = xp.zeros(n_fft // 2 + 1, dtype=xp.float64)
    for j in range(0, n_series, block):
        x = series[:, j : j + block].astype(xp.float64)
        if center:
            x = x - x.mean(axis=0, keepdims=True)
        f = xp.fft.rfft(x, n=n_fft, axis=0)
        acc += (f.real**2 + f.imag**2).sum(axis=1)
    lagged = xp.fft.irfft(acc, n=n_fft)[: max_lag + 1]
    pairs = (n_t - xp.arange(max_lag + 1)) * n_series
    return to_numpy(lagged / pairs).astype(np.float64)


def stationary_variance(traj, burn_in: int, *, center: bool = False) -> float:
    """Mean of x^2 over units, batch and recorded times t >= ``burn_in`` (an index into the time axis).

    This is the second moment <x^2>, the DMFT Delta0 (the chaotic state has zero mean). With
    ``center=True`` each unit's time average over the window is subtracted first (a true variance).
    """
    xp = _check_traj(traj)
    burn_in = _check_int("burn_in", burn_in, 0, traj.shape[0] - 1)
    x = traj[burn_in:].astype(xp.float64)
    if center:
        x = x - x.mean(axis=0, keepdims=True)
    return float(to_numpy((x * x).mean()))


def relaxation_time(series, *, window: int, tol: float, atol: float = 0.0, dt: float = 1.0) -> float:
    """Time for a scalar series to settle at its stationary value.

    The stationary value m is the mean of the last ``window`` samples. The series is settled at sample k
    when every sample from k on lies within ``tol * |m| + atol`` of m; the result is dt times the first
    such k (``dt``: the time between samples, so the default returns a sample index). 0 means the
    series starts settled; NaN means even the last sample lies outside the band (the fluctuations are
    larger than the band: raise ``tol``/``atol`` or smooth the series). Use ``atol`` when m may be 0
    (e.g. the variance of a network below the chaos transition).
    """
    x = np.asarray(to_numpy(series), dtype=np.float64)
    if x.ndim != 1 or x.size == 0:
        raise DataError(f"series must be a non-empty 1-D array (one value per time), got shape {x.shape}.")
    if not np.all(np.isfinite(x)):
        raise DataError("series contains NaN or inf values.")
    window = _check_int("window", window, 1, x.size)
    tol, atol, dt = float(tol), float(atol), check_positive("dt", dt)
    if not (math.isfinite(tol) and tol >= 0 and math.isfinite(atol) and atol >= 0):
        raise ConfigError(f"tol and atol must be finite and >= 0, got tol={tol!r}, atol={atol!r}.")
    if tol == 0 and atol == 0:
        raise ConfigError(
            "tol and atol are both 0: give a tolerance band (tol relative to the stationary value, atol absolute)."
        )
    m = x[-window:].mean()
    outside = np.abs(x - m) > tol * abs(m) + atol
    if outside[-1]:
        return math.nan
    idx = np.flatnonzero(outside)
    return dt * (0 if idx.size == 0 else int(idx[-1]) + 1)
