"""The diversity records of a sweep point (``[record] spreads``; docs/chaos_study.md, docs/sweeps.md).

For each generation spread eps in ``record.spreads``, ``record.n_diversity`` free runs of the trained
model start from one common random state plus perturbations of size eps
(:func:`chaossim.models.starts.spread_starts`) and are followed along the store's generation times
``t`` and to the point's own T; ``record.n_long`` runs are followed to ``record.t_long``, where their
distinct states are counted. Diagnostics: :mod:`chaossim.chaos.diversity`.
"""

from __future__ import annotations

import math

import numpy as np

from ..backend import derive_seed
from ..chaos.diversity import DIVERSITY_NAMES, diversity_along
from ..streams import SWEEP_DIVERSITY, SWEEP_DIVERSITY_LONG

LONG_NAMES = {
    "distance": "mean pairwise distance of free runs",
    "pr": "participation ratio of free runs",
    "distinct": "distinct states among free runs",
}
DESCRIPTIONS = {
    "distance": "mean pairwise distance of phi(v) over free runs",
    "pr": "participation ratio (tr C)^2 / tr C^2 of the covariance of phi(v) over free runs",
    "distinct": "number of distinct phi(v) states among the free runs (rms difference per unit < distinct_tol)",
}
AT_T = tuple(f"div_{n}" for n in DIVERSITY_NAMES)  # (G, spread): at t = T of the point
ALONG_T = tuple(f"div_{n}_t" for n in DIVERSITY_NAMES)  # (G, spread, t)
LONG = "div_distinct_long"  # (G, spread): at t = t_long


def add_layout(lay, spec, grid: tuple) -> None:
    """Add the diversity coordinate and variables to a store layout (nothing if ``record.spreads`` is empty)."""
    rec = spec.record
    if not rec.spreads:
        return
    lay.coords["spread"] = np.asarray(rec.spreads, dtype=np.float64)
    who = (
        f"{rec.n_diversity} free runs from one common start plus perturbations of size `spread` "
        "(1: independent N(0, 1) starts)"
    )
    for n, name in zip(DIVERSITY_NAMES, AT_T):
        lay.variables[name] = (
            grid + ("spread",),
            "float64",
            math.nan,
            {"long_name": f"{LONG_NAMES[n]} at t = T", "description": f"{DESCRIPTIONS[n]} at t = T; {who}"},
        )
    for n, name in zip(DIVERSITY_NAMES, ALONG_T):
        lay.variables[name] = (
            grid + ("spread", "t"),
            "float64",
            math.nan,
            {
                "long_name": f"{LONG_NAMES[n]} along t",
                "description": f"{DESCRIPTIONS[n]} along generation time t; {who}",
            },
        )
    lay.variables[LONG] = (
        grid + ("spread",),
        "float64",
        math.nan,
        {
            "long_name": f"{LONG_NAMES['distinct']} at t = t_long",
            "t_long_units": "model time unit",
            "description": f"{DESCRIPTIONS['distinct']} at t = t_long = {rec.t_long} of "
            f"{rec.n_long} runs; tol = {rec.distinct_tol}",
        },
    )
    lay.attrs["diversity"] = {
        "n_diversity": rec.n_diversity,
        "t_long": rec.t_long,
        "n_long": rec.n_long,
        "distinct_tol": rec.distinct_tol,
    }


def record(spec, config, model) -> dict:
    """The diversity variables of a trained point (empty if ``record.spreads`` is empty), as NumPy arrays."""
    rec = spec.record
    if not rec.spreads:
        return {}
    seed, T = config.model.seed, config.dynamics.T
    times = list(rec.times) + [T]
    out = {name: np.empty(len(rec.spreads)) for name in AT_T + (LONG,)}
    out.update({name: np.empty((len(rec.spreads), len(rec.times))) for name in ALONG_T})
    for j, eps in enumerate(rec.spreads):
        d = diversity_along(
            model, rec.n_diversity, times, eps, seed=derive_seed(seed, SWEEP_DIVERSITY, j), tol=rec.distinct_tol
        )
        for n, at, along in zip(DIVERSITY_NAMES, AT_T, ALONG_T):
            out[along][j] = d[n][:-1]
            out[at][j] = d[n][-1]
        long = diversity_along(
            model, rec.n_long, [rec.t_long], eps, seed=derive_seed(seed, SWEEP_DIVERSITY_LONG, j), tol=rec.distinct_tol
        )
        out[LONG][j] = long["distinct"][0]
    return out
