"""A cheap, fixed-budget chaos probe for use during training (``training.chaos_every``).

Called by :func:`chaossim.runs.training.train` as ``training_chaos_probe(model, seed=int)``; the values are
stored against the training step t_age, which shows how learning suppresses chaos (docs/model.md, "Chaos and
the convention for g"). Budget, independent of the model size: ``N_REPLICAS`` free runs of the same network from
N(0, 1) starts, burn-in ``T_BURN`` tau, measurement ``T_MEASURE`` tau, renormalisation every tau
(each rounded to a whole number of Euler steps).
"""

from __future__ import annotations

import numpy as np

from ..backend import to_numpy
from .lyapunov import _check_model, _finish_logs, _seed, _start, _tangent_run

N_REPLICAS = 8
T_BURN = 20.0  # in units of tau
T_MEASURE = 30.0  # in units of tau


def training_chaos_probe(model, seed: int) -> dict:
    """{"lambda_max": float, "activity_var": float} of the model's free dynamics.

    ``lambda_max``: largest Lyapunov exponent of the Euler map per unit of time (tangent method of
    :func:`chaossim.chaos.lyapunov.lyapunov_max`, mean over the replicas).
    ``activity_var``: the variance of phi(v) of the visible layer pooled over replicas and units, averaged
    over the measurement window (sampled every tau). For the untrained unrestricted network it estimates
    the DMFT's C(0) = <phi(v)^2> (``chaossim.chaos.dmft_phi_variance``); after training it also holds the
    spread of the learned patterns across pixels.
    The generator is its own (from ``seed``): ``model.rng`` and the parameters are left untouched.
    """
    _check_model(model)
    xp = model.xp
    per = max(1, round(model.tau / model.dt))
    burn = max(1, round(T_BURN * model.tau / model.dt))
    n_blocks = max(1, round(T_MEASURE * model.tau / (per * model.dt)))
    state, u = _start(model, N_REPLICAS, _seed(seed))
    variances = xp.empty((n_blocks,), dtype=model.bk.dtype)
    count = [0]

    def record(state):
        variances[count[0]] = model.phi(xp, state[model.visible]).var()
        count[0] += 1

    logs = _finish_logs(_tangent_run(model, state, u, burn, n_blocks, per, on_block=record), "probe", per, model.dt)
    lam = logs.sum(axis=0) / (n_blocks * per * model.dt)
    return {"lambda_max": float(lam.mean()), "activity_var": float(np.mean(to_numpy(variances), dtype=np.float64))}
