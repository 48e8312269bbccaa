"""Diversity of free runs: does the dynamics turn (nearly) equal starts into different samples?

Diagnostics of a set of n states X (n x d: one row per free run, e.g. phi(v(t))), on the backend's
namespace (docs/chaos_study.md):

- :func:`mean_pairwise_distance`: mean over the n(n-1)/2 pairs of ||x_i - x_j||; for x_i ~ N(m, s^2 I)
  it tends to s sqrt(2d) (times a factor -> 1 as d grows).
- :func:`participation_ratio`: (tr C)^2 / tr(C^2) of the sample covariance C: d for an isotropic cloud,
  1 for states along one line, 0 when all states coincide.
- :func:`distinct_states`: how many groups the states fall into when two states closer than ``tol``
  (root-mean-square difference per unit) are the same; a set of fixed points reached from many starts
  gives its number of attractors.

:func:`diversity_along` follows free runs of a model started from one common random state plus
perturbations of size ``spread`` (:func:`chaossim.models.starts.spread_starts`; spread = 1: independent
N(0, 1) starts) and returns the three diagnostics along generation time.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from ..backend import derive_seed, to_numpy
from ..errors import ConfigError, DataError
from ..streams import DIVERSITY_RUNS
from ..validation import check_spread, steps_for

DIVERSITY_NAMES = ("distance", "pr", "distinct")


def _check_states(x, name: str = "states"):
    if x.ndim != 2:
        raise DataError(f"{name} must be a 2-d array (runs x units), got shape {tuple(x.shape)}.")
    if x.shape[0] < 2:
        raise DataError(f"{name} needs at least two runs (rows) to measure diversity, got {x.shape[0]}.")
    return x


def _xp(x):
    from ..backend import array_module

    return array_module(x)


def mean_pairwise_distance(x) -> float:
    """Mean Euclidean distance over all pairs of rows of ``x`` (n x d), computed in float64."""
    x = _check_states(x)
    xp = _xp(x)
    x = x.astype(xp.float64)
    sq = (x * x).sum(axis=1)
    d2 = sq[:, None] + sq[None, :] - 2.0 * (x @ x.T)
    n = x.shape[0]
    iu = xp.triu_indices(n, 1)
    return float(xp.sqrt(xp.maximum(d2[iu], 0.0)).mean())


def participation_ratio(x) -> float:
    """(tr C)^2 / tr(C^2) of the sample covariance of the rows of ``x`` (0 if all rows are equal).

    Uses the smaller Gram matrix of the centred rows X_c (tr C^2 = ||X_c X_c^T||_F^2 / (n-1)^2 =
    ||X_c^T X_c||_F^2 / (n-1)^2), no eigensolver.
    """
    x = _check_states(x)
    xp = _xp(x)
    xc = x.astype(xp.float64)
    xc = xc - xc.mean(axis=0, keepdims=True)
    gram = xc @ xc.T if xc.shape[0] <= xc.shape[1] else xc.T @ xc
    tr = float(xp.trace(gram))
    tr2 = float((gram * gram).sum())
    if tr2 <= 0.0 or tr <= 0.0:
        return 0.0
    return tr * tr / tr2


def distinct_states(x, tol: float = 0.05) -> int:
    """The number of groups of rows of ``x``: a row joins the first group whose first member is within
    ``tol`` in root-mean-square difference per unit (||x_i - x_j|| / sqrt(d) < tol), else starts one."""
    x = _check_states(x)
    if not (math.isfinite(tol) and tol > 0):
        raise ConfigError(f"tol must be a number > 0 (rms difference per unit), got {tol!r}.")
    h = np.asarray(to_numpy(x), dtype=np.float64)
    leaders: list[np.ndarray] = []
    for row in h:
        if not any(np.sqrt(np.mean((row - c) ** 2)) < tol for c in leaders):
            leaders.append(row)
    return len(leaders)


def diversity_along(
    model, n: int, times: Sequence[float], spread: float, *, seed: int, tol: float = 0.05, layer: str | None = None
) -> dict:
    """Diversity of ``n`` free runs of ``model`` from one common start plus perturbations of size ``spread``.

    The states are phi of ``layer`` (default: the visible layer, i.e. the generated samples) at each time
    of ``times``, all from one set of runs followed in time. Returns NumPy arrays over ``times``:
    ``{"t", "distance", "pr", "distinct"}``. The generator is the run's own (``seed``); the model's is
    untouched.
    """
    spread = check_spread(spread, "spread")
    if isinstance(n, bool) or int(n) != n or n < 2:
        raise ConfigError(f"n (free runs) must be an integer >= 2, got {n!r}.")
    times = [float(t) for t in times]
    if not times:
        raise ConfigError("times must list at least one generation time.")
    steps = [steps_for(t, model.dt) for t in times]
    uniq = sorted(set(steps))
    layer = layer or model.visible
    gen = model.bk.rng(derive_seed(int(seed), DIVERSITY_RUNS))
    state = model.random_state(int(n), rng=gen, spread=spread)
    _, traj = model._run(state, max(uniq), model.dt / model.tau, {}, uniq)
    xp = model.xp
    order = {s: i for i, s in enumerate(uniq)}
    out = {name: np.empty(len(times)) for name in DIVERSITY_NAMES}
    for i, s in enumerate(steps):
        x = model.phi(xp, traj[layer][order[s]])
        if not bool(xp.isfinite(x).all()):
            from ..errors import DivergenceError

            raise DivergenceError(f"the free runs became NaN/inf by t = {times[i]}")
        out["distance"][i] = mean_pairwise_distance(x)
        out["pr"][i] = participation_ratio(x)
        out["distinct"][i] = distinct_states(x, tol)
    out["t"] = np.asarray(times)
    return out


def state_spread(model, n: int, times: Sequence[float], spread: float, *, seed: int) -> dict:
    """RMS deviation of the full states x(t) (all layers, before phi) of ``n`` runs from their mean, per unit,
    along ``times``: sqrt(mean over runs and units of (x - <x>_runs)^2). At t = 0 it is about ``spread``
    (the perturbation's std, times sqrt((n-1)/n)); its growth or decay measures the amplification of
    differences (docs/chaos_study.md). Returns ``{"t", "spread"}`` as NumPy arrays."""
    spread = check_spread(spread, "spread")
    times = [float(t) for t in times]
    steps = [steps_for(t, model.dt) for t in times]
    uniq = sorted(set(steps))
    gen = model.bk.rng(derive_seed(int(seed), DIVERSITY_RUNS))
    state = model.random_state(int(n), rng=gen, spread=spread)
    _, traj = model._run(state, max(uniq), model.dt / model.tau, {}, uniq)
    xp = model.xp
    tot = None
    for x in traj.values():
        dev = x - x.mean(axis=-2, keepdims=True)
        s = (dev.astype(xp.float64) ** 2).sum(axis=(-2, -1))
        tot = s if tot is None else tot + s
    units = sum(model.sizes.values())
    rms = np.sqrt(np.asarray(to_numpy(tot), dtype=np.float64) / (int(n) * units))
    order = {s: i for i, s in enumerate(uniq)}
    return {"t": np.asarray(times), "spread": rms[[order[s] for s in steps]]}
