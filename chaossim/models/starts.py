"""Initial states of the free runs: independent N(0, 1) starts, or one common start plus a perturbation.

The control of docs/chaos_study.md (``dynamics.init_spread`` = eps in (0, 1]): the free runs of a
training step (or of a generation) start from ONE common random state z0 plus independent
perturbations,

    x_i = sqrt(1 - eps^2) z0 + eps xi_i,      z0, xi_i ~ N(0, I) independent,

so every start keeps the N(0, 1) marginal of the paper's random starts (the free phase of the
learning rules, paper eqs. 3, 6, 11-15) and only the correlation between two starts, 1 - eps^2,
changes. ``xi_i`` are exactly the draws of independent starts and ``z0`` is drawn after them from the
same generator, so eps = 1 gives the independent starts to the bit and does not draw z0. Only dynamics
that amplify differences (chaos) can turn a small eps into a variety of states at time T.
"""

from __future__ import annotations

import math


def spread_starts(bk, rng, draws: dict, eps: float) -> dict:
    """Shared-start initial states from the independent draws ``draws`` (layer -> (..., m, N) array).

    Returns ``draws`` itself when eps == 1 (nothing drawn). Otherwise, for each layer in order, one
    z0 of shape (..., 1, N) is drawn from ``rng`` AFTER the draws (the caller has drawn them from the
    same generator), and sqrt(1 - eps^2) z0 + eps xi is returned (z0 broadcast over the m rows). ``eps`` is
    a checked spread (:func:`chaossim.validation.check_spread`).
    """
    if eps == 1.0:
        return draws
    keep = math.sqrt(1.0 - eps * eps)
    out = {}
    for name, xi in draws.items():
        z0 = bk.normal(rng, tuple(xi.shape[:-2]) + (1, xi.shape[-1]))
        x = xi * eps
        x += z0 * keep
        out[name] = x
    return out
