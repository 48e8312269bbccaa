"""The accuracy indices of a model against held-out data, at one time or along generation time t: every
index of the registry :func:`chaossim.metrics.indices` (the paper's four, and any registered one).

docs/indices.md "When the indices are computed": indices at T* = T during training (curves vs t_age) and for generic
T* = t after training (paper Fig. 3b).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from . import streams
from .backend import derive_seed
from .errors import DivergenceError
from .metrics import index_names, indices
from .models.protocol import SingleModel

EVAL_STREAM = streams.EVAL


def _scores(model, data, generated, t) -> dict[str, float]:
    xp = model.bk.xp
    if not bool(xp.isfinite(generated).all()):
        raise DivergenceError(f"the free dynamics produced NaN/inf by generation time t = {t}")
    return {ix.name: ix(model, data, generated, t) for ix in indices()}


def indices_at(model: SingleModel, data, t, *, seed: int | None = None) -> dict[str, float]:
    """The indices of ``model`` at generation time ``t`` against ``data`` (Ns x Nv held-out points), by name.

    Ns generated points are drawn from random starts. ``seed`` re-seeds the model's generator first
    (so evaluation does not depend on what ran before).
    """
    if seed is not None:
        model.bk.reseed(model.rng, seed)
    data = model.bk.asarray(data)
    generated = model.generate(data.shape[0], t)
    return _scores(model, data, generated, t)


def indices_vs_time(
    model: SingleModel, data, times: Sequence[float], *, seed: int | None = None
) -> dict[str, np.ndarray]:
    """Indices at each generation time in ``times``, all generated points coming from ONE set of random
    starts followed in time (paper Fig. 3b). Returns {"t": ..., "E2": ..., ...} as NumPy arrays."""
    if seed is not None:
        model.bk.reseed(model.rng, seed)
    data = model.bk.asarray(data)
    samples = model.generate(data.shape[0], list(times))
    out = {name: np.empty(len(times)) for name in index_names()}
    for i, t in enumerate(times):
        for name, value in _scores(model, data, samples[i], t).items():
            out[name][i] = value
    out["t"] = np.asarray(times, dtype=float)
    return out


def eval_seed(seed: int, step: int) -> int:
    """The generator seed used to evaluate training step ``step`` of a run with model seed ``seed``."""
    return derive_seed(seed, EVAL_STREAM, step)
