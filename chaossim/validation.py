"""Checks on user input, used by the models, the trainer, the configs and the command line: each check
exists once, here.

Every failure raises a :mod:`chaossim.errors` exception whose message names the problem and the fix.
"""

from __future__ import annotations

import math
import numbers

from .backend import array_module
from .errors import ConfigError, DataError

DATA_TOLERANCE = 1e-5


def check_size(name: str, value) -> int:
    """A positive integer (a layer size, a number of steps or points)."""
    if isinstance(value, bool) or int(value) != value or int(value) <= 0:
        raise ConfigError(f"{name} must be a positive integer, got {value!r}.")
    return int(value)


def check_gain(g, name: str = "g") -> float:
    """The gain g, the variance of the fixed couplings (docs/model.md "Notation"): a finite number >= 0."""
    try:
        value = float(g) if not isinstance(g, bool) else math.nan
    except (TypeError, ValueError):
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise ConfigError(f"{name} is the variance of the fixed couplings and must be finite and >= 0, got {g!r}.")
    return value


def check_spread(eps, name: str = "init_spread") -> float:
    """``eps`` of the free runs' starts (:mod:`chaossim.models.starts`, ``dynamics.init_spread``) as a float in
    (0, 1], or a ConfigError saying what to give."""
    if isinstance(eps, bool):
        raise ConfigError(f"{name} must be a number in (0, 1], got the boolean {eps!r}.")
    try:
        value = float(eps)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a number in (0, 1], got {eps!r}.") from None
    if not (math.isfinite(value) and 0.0 < value <= 1.0):
        raise ConfigError(
            f"{name} must be in (0, 1] (1: independent N(0, 1) starts; small: one common start "
            f"plus a perturbation of that size), got {eps!r}."
        )
    return value


def check_count(name: str, value, *, note: str = "") -> int:
    """A non-negative integer (a seed, a number of sweeps, a period where 0 means never); integral floats
    such as 100.0 are accepted, booleans, strings and NaN are not. ``note``: what the number is, for the
    message (", the number of block-Gibbs sweeps")."""
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if ok and isinstance(value, numbers.Integral):  # exact: a 63-bit derived seed does not survive float()
        if value < 0:
            raise ConfigError(f"{name}{note} must be a non-negative integer, got {value!r}.")
        return int(value)
    f = float(value) if ok else math.nan
    if not ok or not math.isfinite(f) or f < 0 or f != round(f):
        raise ConfigError(f"{name}{note} must be a non-negative integer, got {value!r}.")
    return int(round(f))


def check_seed(seed, name: str = "seed") -> int:
    """A seed: a non-negative integer (docs/reproducibility.md)."""
    return check_count(name, seed)


def check_rate(k, name: str = "the learning rate k") -> float:
    """The learning rate k of the updates (paper Eqs. (3), (6), (11)-(15)): finite and >= 0."""
    k = float(k)
    if not math.isfinite(k) or k < 0:
        raise ConfigError(f"{name} must be finite and >= 0, got {k!r}.")
    return k


def model_dynamics(model, dt=None, tau=None, force: bool = False) -> tuple[float, float]:
    """:func:`check_dynamics` of a call's ``dt``/``tau``, each defaulting to the model's own, forced when the call
    or the model says so."""
    return check_dynamics(model.dt if dt is None else dt, model.tau if tau is None else tau, force=force or model.force)


def check_positive(name: str, value) -> float:
    """A finite number > 0 (a time step, a time constant), or a ConfigError naming ``name``."""
    try:
        f = float(value) if not isinstance(value, bool) else math.nan
    except (TypeError, ValueError):
        f = math.nan
    if not (math.isfinite(f) and f > 0):
        raise ConfigError(f"{name} must be a finite number > 0, got {value!r}.")
    return f


def check_dynamics(dt, tau, *, force: bool = False, prefix: str = "") -> tuple[float, float]:
    """Validate the Euler step dt and time constant tau (docs/model.md "Integration"); ``prefix`` names them
    in the message ("dynamics." for a config).

    The Euler map multiplies the leak by (1 - dt/tau); for dt/tau > 1 that factor is
    negative and the integration overshoots and diverges, so it is refused unless forced.
    """
    dt, tau = check_positive(f"{prefix}dt", dt), check_positive(f"{prefix}tau", tau)
    if dt / tau > 1 and not force:
        raise ConfigError(
            f"dt/tau = {dt / tau:.3g} > 1: the Euler integration is unstable (the leak factor "
            f"1 - dt/tau = {1 - dt / tau:.3g} is negative). Use dt <= tau (the paper uses dt = 1, "
            "tau = 10), or pass force=True / --force if you really mean it."
        )
    return dt, tau


def steps_for(t, dt) -> int:
    """Number of Euler steps to reach time t (a multiple of dt within rounding)."""
    t, dt = float(t), float(dt)
    if not math.isfinite(t) or t < 0:
        raise ConfigError(f"time t must be finite and >= 0, got {t!r}.")
    n = round(t / dt)
    if abs(n * dt - t) > 1e-6 * max(1.0, abs(t)):
        raise ConfigError(f"time t = {t} is not a multiple of dt = {dt}; choose t = n * dt.")
    return int(n)


def check_record(record, steps: int) -> list[int] | None:
    """Sorted, distinct step indices in [0, steps] at which to record a trajectory (None: no recording)."""
    if record is None:
        return None
    rec = sorted({int(s) for s in record})
    if rec and (rec[0] < 0 or rec[-1] > steps):
        raise ConfigError(f"record steps must lie in [0, {steps}], got {rec[0]}..{rec[-1]}.")
    return rec


def check_array(
    a,
    name: str,
    *,
    width: int | None = None,
    ndim: int = 2,
    unit_range: bool = False,
    values: bool = True,
    min_rows: int = 0,
):
    """Shape, finiteness and (optionally) range check of an array of either backend.

    ``values=False`` checks the shape only. The value check reads one flag from the device (one host
    synchronisation), and more only to word an error message. ``min_rows``: the fewest rows (samples)
    it may have.
    """
    if not hasattr(a, "shape"):
        raise DataError(f"{name} must be an array, got {type(a).__name__}.")
    if a.ndim != ndim:
        shape_txt = "samples x features" if ndim == 2 else f"{ndim}-D"
        raise DataError(f"{name} must be {shape_txt}, got shape {tuple(a.shape)}.")
    if a.shape[0] < min_rows:
        raise DataError(
            f"{name} has {a.shape[0]} rows (samples) but needs at least {min_rows}; pass a "
            "non-empty minibatch (training.batch_size >= 1 and data with at least that many points)."
        )
    if width is not None and a.shape[-1] != width:
        raise DataError(
            f"{name} has {a.shape[-1]} columns but the model expects {width}; check the dataset "
            "or the model's size (n_visible)."
        )
    if values:
        check_values(a, name, unit_range=unit_range)
    return a


def check_values(a, name: str, *, unit_range: bool = False) -> None:
    """Raise DataError if ``a`` holds NaN/inf or, with ``unit_range``, values outside [-1, 1].

    One device read when the values are fine: |a| <= 1 (+ tolerance) is false for NaN too, so a single
    reduction answers both questions; the details (which problem, the range) are read only on failure.
    """
    if not a.size:
        return
    xp = array_module(a)
    if unit_range:
        if bool((xp.abs(a) <= 1 + DATA_TOLERANCE).all()):
            return
    elif bool(xp.isfinite(a).all()):
        return
    if not bool(xp.isfinite(a).all()):
        raise DataError(f"{name} contains NaN or inf values; clean or drop those rows first.")
    lo, hi = float(a.min()), float(a.max())
    raise DataError(
        f"{name} has values in [{lo:.4g}, {hi:.4g}] but must lie in [-1, 1] (the range of phi); "
        "map grey images with f(x) = 2x/255 - 1 (chaossim.data.to_unit_range)."
    )
