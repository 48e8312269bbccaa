"""The four accuracy indices (paper, Appendix B, eqs. 16-19; docs/indices.md) and the registry of indices.

The registry (:class:`Index`, :func:`register_index`, :func:`indices`) holds, per index, its name, the function
that computes it, its axis label, whether figures draw it on a log scale, a description and whether lower is
better. Evaluation (:mod:`chaossim.evaluation`), a run's ``history.csv`` (:mod:`chaossim.runs.rundir`), sweep stores
and the figures take the list of indices from it, so a registered index is computed, logged, stored and drawn
(docs/extending.md).

``data`` (D) and ``generated`` (G) are sample matrices, one sample per row (``Ns x Nv``), of
either backend (NumPy or CuPy; a NumPy array paired with a CuPy array is moved to the GPU).
Every index is computed in float64 whatever the input dtype, and returned as a Python float.
Lower is better for all four.

Conventions (ours = the paper's equations, read literally) and how to convert to others:

* E(2), eq. (16): ``1/(Nv(Nv-1)) sum_{i<j} (C^G_ij - C^D_ij)^2`` with the covariance
  normalised by ``1/Ns`` (the paper's "average over Ns samples"). See
  :func:`second_moment_error` for conversions.
* E(s), eq. (17): singular values of the *raw* (not centred, not rescaled) sample matrices,
  ``1/Ns`` in front. See :func:`spectrum_error`.
* E(AAI), eq. (19): Euclidean nearest neighbours in the pooled ``2 Ns`` set, self excluded,
  ties go to the *other* set. See :func:`aai_error`.
* E(R), eq. (18): mean over samples and units of ``(xi - phi(v(t)))^2`` after the model's
  reconstruction. See :func:`reconstruction_error`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .backend import array_module
from .errors import ConfigError, DataError
from .models.protocol import Model

DEFAULT_MAX_BLOCK_BYTES = 256 * 2**20
"""Memory bound of the distance tiles (plus one temporary) in :func:`aai_fractions` (256 MiB)."""

_EPS64 = float(np.finfo(np.float64).eps)

__all__ = [
    "DEFAULT_MAX_BLOCK_BYTES",
    "Index",
    "second_moment_error",
    "spectrum_error",
    "aai_fractions",
    "aai_error",
    "reconstruction_error",
    "all_indices",
    "index",
    "index_names",
    "indices",
    "register_index",
    "unregister_index",
]


# ---------------------------------------------------------------------------- validation
def _check_samples(a, name: str):
    if not hasattr(a, "shape") or not hasattr(a, "ndim"):
        raise DataError(
            f"{name} must be a NumPy or CuPy array of samples (rows) x units (columns), got "
            f"{type(a).__name__}; convert it with numpy.asarray first."
        )
    if a.ndim != 2:
        raise DataError(
            f"{name} must be 2-D (samples x visible units), got shape {tuple(a.shape)}; "
            "reshape images to rows, e.g. x.reshape(len(x), -1)."
        )
    if a.shape[0] < 1 or a.shape[1] < 1:
        raise DataError(f"{name} is empty (shape {tuple(a.shape)}); pass at least one sample and one unit.")
    xp = array_module(a)
    if not bool(xp.isfinite(a).all()):
        raise DataError(f"{name} contains NaN or inf values; drop or fix those samples first.")


def _as_float64_pair(data, generated, *, equal_ns: bool = False, index: str = "this index", cast: bool = True):
    """Validate a (data, generated) pair and return both on one backend, as float64 if ``cast``."""
    _check_samples(data, "data")
    _check_samples(generated, "generated")
    if data.shape[1] != generated.shape[1]:
        raise DataError(
            f"data has {data.shape[1]} columns (units) but generated has {generated.shape[1]}; "
            "both must be samples of the same visible layer."
        )
    if equal_ns and data.shape[0] != generated.shape[0]:
        raise DataError(
            f"{index} compares equally sized sets (Ns data and Ns generated samples, as in the "
            f"paper), got {data.shape[0]} data and {generated.shape[0]} generated samples; pass "
            f"equal sizes, e.g. data[:n] and generated[:n] with n = min of the two."
        )
    xp_d, xp_g = array_module(data), array_module(generated)
    xp = xp_g if xp_d is np else xp_d
    dtype = xp.float64 if cast else None
    return xp, xp.asarray(data, dtype=dtype), xp.asarray(generated, dtype=dtype)


# ------------------------------------------------------------------------------- E(2)
def _covariance(x):
    """Covariance of the columns of float64 ``x`` normalised by 1/Ns (centred first)."""
    xc = x - x.mean(axis=0, keepdims=True)
    return (xc.T @ xc) / x.shape[0]


def second_moment_error(data, generated) -> float:
    """E(2), paper eq. (16), docs/indices.md: error on the covariance matrix.

    ``E(2) = 1/(Nv(Nv-1)) * sum_{i<j} (C^G_ij - C^D_ij)^2`` where ``C`` is the covariance of
    the visible units over the samples of each set, **normalised by 1/Ns** (the paper defines
    C as an average over the Ns samples: ``C_ij = mean(x_i x_j) - mean(x_i) mean(x_j)``).
    The two sets may have different sizes; it is invariant to adding a constant vector to
    all samples of a set.

    Converting to other conventions (``dC = C^G - C^D``):

    * sum over all ``i != j`` (both triangles) with the same prefactor: ``2 * E(2)``; this is
      also the mean of ``dC_ij^2`` over the ``Nv(Nv-1)`` off-diagonal entries.
    * mean over all ``Nv^2`` entries including the diagonal:
      ``(2 Nv (Nv-1) E(2) + sum_i dC_ii^2) / Nv^2`` (needs the diagonal, not recoverable from
      E(2) alone).
    * covariance normalised by ``1/(Ns-1)`` (``numpy.cov`` default): with equal set sizes,
      ``E(2) * (Ns/(Ns-1))^2``; with different sizes, recompute.

    Needs ``Nv >= 2``. Accumulated in float64.
    """
    xp, d, g = _as_float64_pair(data, generated)
    nv = d.shape[1]
    if nv < 2:
        raise DataError(f"E(2) compares pairs of distinct units and needs at least 2 columns, got {nv}.")
    diff = _covariance(g) - _covariance(d)
    xp.fill_diagonal(diff, 0.0)
    return float(xp.sum(diff * diff)) / 2.0 / (nv * (nv - 1))


# ------------------------------------------------------------------------------- E(s)
def spectrum_error(data, generated, *, center: bool = False) -> float:
    """E(s), paper eq. (17), docs/indices.md: error on the singular-value spectrum.

    ``E(s) = 1/Ns * sum_mu (s^G_mu - s^D_mu)^2`` with ``s_mu`` the singular values, in
    descending order, of the raw ``Ns x Nv`` sample matrices (not centred, not rescaled: the
    paper's X). For ``Ns > Nv`` only ``min(Ns, Nv)`` singular values are non-zero; the sum
    runs over those and the prefactor stays ``1/Ns`` (the others are 0 in both sets).
    Both sets must have the same Ns. Because the matrices are not centred, E(s) is *not*
    invariant to adding a constant vector to the samples.

    Converting to other conventions:

    * singular values rescaled ``s' = s / sqrt(Ns)``: ``E' = E(s) / Ns``.
    * singular values of the centred matrices (``center=True`` computes ours on
      ``X - mean(X, axis=0)``); with the rescaling too, ``s'^2`` are the eigenvalues of the
      1/Ns covariance and ``E' = spectrum_error(D, G, center=True) / Ns``.
    * mean over the ``min(Ns, Nv)`` singular values instead of ``1/Ns``:
      ``E(s) * Ns / min(Ns, Nv)``.

    Computed with a float64 SVD (values only) on either backend.
    """
    xp, d, g = _as_float64_pair(data, generated, equal_ns=True, index="E(s)")
    if center:
        d = d - d.mean(axis=0, keepdims=True)
        g = g - g.mean(axis=0, keepdims=True)
    s_d = xp.linalg.svd(d, compute_uv=False)
    s_g = xp.linalg.svd(g, compute_uv=False)
    # Both come back sorted descending (LAPACK / cuSOLVER); sort anyway, it is cheap.
    s_d = xp.sort(s_d)[::-1]
    s_g = xp.sort(s_g)[::-1]
    return float(xp.sum((s_g - s_d) ** 2)) / d.shape[0]


# ----------------------------------------------------------------------------- E(AAI)
def _set_tiles(n_data: int, max_block_bytes: int) -> list[tuple[int, int, int]]:
    """Row ranges ``(start, stop, set)`` of the pooled matrix, each inside one set (0 data,
    1 generated), at most ``sqrt(max_block_bytes / 16)`` long: a float64 tile and the copy
    NumPy's ``argmin(axis=0)`` makes of it fit the bound together."""
    size = max(1, math.isqrt(max_block_bytes // 16))
    tiles = []
    for lo, hi, which in ((0, n_data, 0), (n_data, 2 * n_data, 1)):
        count = -(-(hi - lo) // size)
        edges = [lo + ((hi - lo) * k) // count for k in range(count + 1)]
        tiles += [(e0, e1, which) for e0, e1 in zip(edges[:-1], edges[1:])]
    return tiles


def _update(best, arg, d2, axis: int, offset: int, xp) -> None:
    """In place: ``best``/``arg`` take the tile's minimum along ``axis`` where it is smaller."""
    j = xp.argmin(d2, axis=axis)
    val = xp.take_along_axis(d2, xp.expand_dims(j, axis), axis=axis).squeeze(axis)
    better = val < best
    best[...] = xp.where(better, val, best)
    arg[...] = xp.where(better, j + offset, arg)


def aai_fractions(data, generated, *, max_block_bytes: int = DEFAULT_MAX_BLOCK_BYTES) -> tuple[float, float]:
    """``(P_GG, P_DD)`` of paper Appendix B (eq. 19): nearest-neighbour same-set fractions.

    The ``2 Ns`` samples are pooled; for each sample its Euclidean nearest neighbour among the
    other ``2 Ns - 1`` (itself excluded) is found; ``P_GG`` (``P_DD``) is the fraction of
    generated (data) samples whose nearest neighbour is also generated (data).

    **Tie rule**: a sample counts as "same set" only if its nearest same-set distance is
    strictly smaller than its nearest other-set distance; a tie (equal within float64
    rounding, relative ``8 Nv eps``) goes to the *other* set. This is the rule of the AAI's
    original definition (Yale et al. 2020: ``d_TS > d_TT``); it is symmetric in D and G and
    independent of row order, so exact duplicates are handled deterministically (e.g. two
    identical sets give ``P_GG = P_DD = 0``). Codes that take ``argmin`` over the pooled
    distance matrix instead break ties toward the lowest pooled index (the data, if stacked
    first); the two agree whenever there are no exact ties.

    Distances are never held as a dense ``2Ns x 2Ns`` matrix: float64 squared distances
    ``|a|^2 - 2 a.b + |b|^2`` are computed one square tile at a time (one GEMM each), a tile
    and one temporary copy together within ``max_block_bytes``; each tile lies inside one
    set along both axes, and by symmetry only tiles on and above the diagonal are computed,
    each updating the running minima of its rows and of its columns. Memory beyond the
    inputs: about ``16 Ns Nv`` bytes (the pooled float64 copy) plus ``max_block_bytes``.
    The samples are centred on the pooled mean first, which leaves distances unchanged and
    limits cancellation. Everything is float64 on both backends (squared-distance error
    about ``Nv eps (|a|^2 + |b|^2)``); fast on data-centre GPUs (H100: float64 tensor
    cores), slow on consumer GPUs whose float64 rate is 1/32-1/64 of float32.
    A set of size 1 has no same-set neighbour, so its sample counts as "other".
    """
    xp, d, g = _as_float64_pair(data, generated, equal_ns=True, index="E(AAI)", cast=False)
    max_block_bytes = int(max_block_bytes)
    if max_block_bytes <= 0:
        raise ConfigError(f"max_block_bytes must be a positive number of bytes, got {max_block_bytes}.")
    n_data, nv = d.shape
    x = xp.empty((2 * n_data, nv), dtype=xp.float64)
    x[:n_data] = d
    x[n_data:] = g
    x -= x.mean(axis=0, keepdims=True)
    n = x.shape[0]
    sq = xp.einsum("ij,ij->i", x, x)
    # best[s][r], arg[s][r]: smallest squared distance from sample r to set s (0 data, 1 generated).
    best = xp.full((2, n), xp.inf)
    arg = xp.zeros((2, n), dtype=xp.int64)
    tiles = _set_tiles(n_data, max_block_bytes)
    for a, (i0, i1, set_i) in enumerate(tiles):
        for j0, j1, set_j in tiles[a:]:
            d2 = x[i0:i1] @ x[j0:j1].T
            d2 *= -2.0
            d2 += sq[i0:i1, None]
            d2 += sq[None, j0:j1]
            if i0 == j0:
                diag = xp.arange(i1 - i0)
                d2[diag, diag] = xp.inf
            _update(best[set_j, i0:i1], arg[set_j, i0:i1], d2, 1, j0, xp)
            if i0 != j0:  # the distance matrix is symmetric: the tile also serves rows j0:j1
                _update(best[set_i, j0:j1], arg[set_i, j0:j1], d2, 0, i0, xp)
            del d2
    is_data = xp.arange(n) < n_data
    own = xp.where(is_data, 0, 1)
    rows = xp.arange(n)
    d_same, d_other = best[own, rows], best[1 - own, rows]
    j_same, j_other = arg[own, rows], arg[1 - own, rows]
    tol = 8.0 * nv * _EPS64 * (sq + xp.maximum(sq[j_same], sq[j_other]))
    same = d_same < d_other - tol
    p_dd = float(xp.mean(same[:n_data]))
    p_gg = float(xp.mean(same[n_data:]))
    return p_gg, p_dd


def aai_error(data, generated, *, max_block_bytes: int = DEFAULT_MAX_BLOCK_BYTES) -> float:
    """E(AAI), paper eq. (19), docs/indices.md: ``0.5 [(P_GG - 0.5)^2 + (P_DD - 0.5)^2]``.

    0 for perfectly mixed sets, 0.25 for fully separated sets (and also for sets whose
    samples alternate perfectly, e.g. G a copy of D: AAI penalises memorisation too).
    ``P_GG``, ``P_DD``, the tie rule and the blocked float64 computation are described in
    :func:`aai_fractions`. Needs equal set sizes.
    """
    p_gg, p_dd = aai_fractions(data, generated, max_block_bytes=max_block_bytes)
    return 0.5 * ((p_gg - 0.5) ** 2 + (p_dd - 0.5) ** 2)


# ------------------------------------------------------------------------------- E(R)
def reconstruction_error(model: Model | None, data, t=None) -> float:
    """E(R), paper eq. (18), docs/indices.md: reconstruction mean squared error at time ``t`` (T*).

    ``E(R) = 1/(Ns Nv) sum_mu sum_i (xi^mu_i - phi(v^mu_i(t)))^2`` where ``phi(v(t))`` is
    ``model.reconstruct(data, t)``: visible layer clamped to the data to get the hidden
    state at t, then hidden clamped and the visible layer run to t (the model implements
    the procedure). With ``t=None`` the model's own default time is used
    (``model.reconstruct(data)``). Defined where the model ``reconstructs`` (the model contract,
    :class:`chaossim.models.protocol.Model`): the restricted and deep restricted models and RBMs, not the
    unrestricted one, which has no hidden layer, nor an ensemble.
    """
    if model is None or not model.reconstructs:
        raise ConfigError(
            f"E(R) is defined only for models with a hidden layer (restricted, deep restricted, "
            f"RBM), which provide reconstruct(data, t); {type(model).__name__} has none. Use "
            "all_indices(...), which reports ER = nan for such models."
        )
    _check_samples(data, "data")
    recon = model.reconstruct(data) if t is None else model.reconstruct(data, t)
    if not hasattr(recon, "shape") or tuple(recon.shape) != tuple(data.shape):
        shape = tuple(recon.shape) if hasattr(recon, "shape") else type(recon).__name__
        raise DataError(
            f"{type(model).__name__}.reconstruct returned {shape} but the data has shape "
            f"{tuple(data.shape)}; reconstruct must return one row per data sample."
        )
    xp, d, r = _as_float64_pair(data, recon)
    diff = d - r
    return float(xp.mean(diff * diff))


# ------------------------------------------------------------------------------- the registry
@dataclass(frozen=True)
class Index:
    """An accuracy index: ``function(model, data, generated, t)`` returns its value (a float, NaN where it is not
    defined for the model), ``data`` and ``generated`` being (Ns, Nv) arrays on the model's backend and ``t`` the
    generation time T*. ``name`` names it everywhere (history.csv column, store variable, dict key); ``label``
    is its axis label (matplotlib mathtext); ``log_scale``: drawn on a log axis; ``description``: one line for
    stores and help; ``lower_is_better``: the direction of improvement."""

    name: str
    function: Callable[[Any, Any, Any, Any], float]
    label: str
    description: str
    log_scale: bool = False
    lower_is_better: bool = True

    def __post_init__(self) -> None:
        if not self.name.isidentifier():
            raise ConfigError(f"an index name must be an identifier (a column and variable name), got {self.name!r}.")

    def __call__(self, model, data, generated, t) -> float:
        return float(self.function(model, data, generated, t))


_INDICES: dict[str, Index] = {}


def register_index(ix: Index) -> Index:
    """Add ``ix`` to the registry (in this process; it is then computed, logged, stored and drawn with the
    others); returns it. A name already taken by another index is refused."""
    if not isinstance(ix, Index):
        raise ConfigError(f"register_index takes a chaossim.metrics.Index, got {type(ix).__name__}.")
    old = _INDICES.get(ix.name)
    if old is not None and old != ix:
        raise ConfigError(f"an index named {ix.name!r} is already registered; choose another name.")
    _INDICES[ix.name] = ix
    return ix


def unregister_index(name: str) -> None:
    """Remove the index ``name`` registered with :func:`register_index` (the paper's four stay)."""
    if name in _BUILT_IN:
        raise ConfigError(f"{name} is one of the paper's indices and cannot be removed.")
    _INDICES.pop(name, None)


def indices() -> tuple[Index, ...]:
    """The registered indices, in registration order (the paper's four first)."""
    return tuple(_INDICES.values())


def index_names() -> tuple[str, ...]:
    """The names of the registered indices, in order."""
    return tuple(_INDICES)


def index(name: str) -> Index | None:
    """The registered index ``name``, or None (e.g. an index of a store written by another process)."""
    return _INDICES.get(name)


def _reconstruction_or_nan(model: Model | None, data, generated, t) -> float:
    return reconstruction_error(model, data, t) if model is not None and model.reconstructs else math.nan


for _ix in (
    Index("E2", lambda m, d, g, t: second_moment_error(d, g), r"$E^{(2)}$", "second-moment error, eq. 16", True),
    Index("Es", lambda m, d, g, t: spectrum_error(d, g), r"$E^{(s)}$", "spectrum error, eq. 17", True),
    Index("EAAI", lambda m, d, g, t: aai_error(d, g), r"$E^{(\mathrm{AAI})}$", "adversarial accuracy error, eq. 19"),
    Index("ER", _reconstruction_or_nan, r"$E^{(R)}$", "reconstruction error, eq. 18 (NaN without hidden layers)"),
):
    register_index(_ix)
_BUILT_IN = frozenset(_INDICES)


def all_indices(
    model_or_none, data, generated, t=None, *, max_block_bytes: int = DEFAULT_MAX_BLOCK_BYTES
) -> dict[str, float]:
    """Every registered index (:func:`indices`; the paper's four, eqs. 16-19, docs/indices.md), by name.

    ``ER`` is ``nan`` when ``model_or_none`` is None or does not reconstruct (the unrestricted
    architecture); ``t`` is the reconstruction time T* (None: the model's default). E(s) and E(AAI)
    need as many generated samples as data samples.
    """
    out = {}
    for ix in indices():
        if ix.name == "EAAI":  # the tile size of its distance computation
            out[ix.name] = aai_error(data, generated, max_block_bytes=max_block_bytes)
        else:
            out[ix.name] = ix(model_or_none, data, generated, t)
    return out
