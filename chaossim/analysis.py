"""The SVD view of learning (after Decelle, Fissore and Furtlehner's analysis of RBM training), long-time
states and receptive fields.

Training is read through the SVD of a coupling matrix, K = U S V^T (A, or fixed + trained such as W + A):
singular-value trajectories over training (snapshots written by ``training.snapshot_every``), the top
left singular vectors (visible side), and data, generated samples and long-time states (fixed points,
"mode collapse", docs/indices.md) projected onto the top modes; and the receptive fields of hidden
units (paper Fig. 4).

Everything returned is NumPy float64 (arrays of either backend are accepted and converted at this
boundary). Nothing here draws: :mod:`chaossim.plotting` turns these arrays into figures
(:func:`~chaossim.plotting.plot_singular_values`, :func:`~chaossim.plotting.plot_modes`,
:func:`~chaossim.plotting.plot_projections`, :func:`~chaossim.plotting.plot_receptive_fields`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import streams
from .backend import derive_seed, to_numpy
from .errors import ConfigError, DataError, StoreError
from .io import load_npz
from .validation import check_seed, check_size, steps_for

# ------------------------------------------------------------------ SVD of coupling matrices


def _matrix(matrix, name: str = "matrix") -> np.ndarray:
    m = np.asarray(to_numpy(matrix), dtype=np.float64)
    if m.ndim != 2 or 0 in m.shape:
        raise DataError(f"{name} must be a non-empty 2-D array, got shape {m.shape}.")
    if not np.all(np.isfinite(m)):
        raise DataError(f"{name} contains NaN or inf values; check the model's parameters.")
    return m


def _check_k(k, limit: int, what: str) -> int:
    if isinstance(k, bool) or int(k) != k or int(k) <= 0:
        raise ConfigError(f"k must be a positive integer, got {k!r}.")
    if int(k) > limit:
        raise ConfigError(f"k = {k} exceeds the {limit} {what}; choose k <= {limit}.")
    return int(k)


def singular_values(matrix, k: int | None = None) -> np.ndarray:
    """Singular values of ``matrix`` in descending order (float64), the first ``k`` if given."""
    m = _matrix(matrix)
    s = np.linalg.svd(m, compute_uv=False)
    return s if k is None else s[: _check_k(k, s.size, "singular values")]


def svd_modes(matrix, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Top-``k`` SVD modes (U (n, k), S (k,), Vt (k, m)) of ``matrix`` (float64), K ~ U diag(S) Vt.

    Signs are fixed so that each left singular vector has a non-negative sum (largest |entry| positive
    when the sum vanishes), making modes comparable across snapshots.
    """
    m = _matrix(matrix)
    k = _check_k(k, min(m.shape), "singular values")
    u, s, vt = np.linalg.svd(m, full_matrices=False)
    u, s, vt = u[:, :k].copy(), s[:k].copy(), vt[:k].copy()
    for i in range(k):
        total = u[:, i].sum()
        ref = total if abs(total) > 1e-12 * math.sqrt(u.shape[0]) else u[np.argmax(np.abs(u[:, i])), i]
        if ref < 0:
            u[:, i] *= -1
            vt[i] *= -1
    return u, s, vt


_TERM = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(\.T|\^T)?$")


def coupling_matrix(params: Mapping, which: str) -> np.ndarray:
    """The matrix named by ``which`` from a parameter mapping: a name ("A", "J", "W1"), or a sum of names
    ("W+A", "J+A", "W1+A1"), each optionally transposed with ".T" or "^T" ("Wt+A.T")."""
    if not isinstance(which, str) or not which.strip():
        raise ConfigError(f"which must name a parameter or a sum such as 'W+A', got {which!r}.")
    total = None
    for term in which.replace(" ", "").split("+"):
        match = _TERM.match(term)
        if not match:
            raise ConfigError(
                f"cannot read {term!r} in which = {which!r}; write names joined by '+', "
                "each optionally followed by '.T' (e.g. 'W+A', 'Wt+A.T')."
            )
        name, transpose = match.group(1), match.group(2)
        if name not in params:
            raise DataError(
                f"parameter {name!r} (in which = {which!r}) is not in these parameters; available: {sorted(params)}."
            )
        m = _matrix(params[name], f"parameter {name!r}")
        m = m.T if transpose else m
        if total is not None and total.shape != m.shape:
            raise DataError(
                f"cannot add {term!r} of shape {m.shape} to shape {total.shape} in which = {which!r}; "
                "transpose one of them with '.T'."
            )
        total = m if total is None else total + m
    assert total is not None  # internal invariant: split() gives at least one term, each sets total or raises
    return total


_STEP_FILE = re.compile(r"^step_(\d+)\.npz$")


def _load_snapshots(source) -> dict:
    path = Path(source)
    folder = path / "snapshots" if (path / "snapshots").is_dir() else path
    if not folder.is_dir():
        raise StoreError(
            f"{path} is neither a run directory with snapshots/ nor a snapshot folder; train with "
            "training.snapshot_every > 0 to write them."
        )
    files = {int(m.group(1)): f for f in folder.iterdir() if (m := _STEP_FILE.match(f.name))}
    if not files:
        raise StoreError(f"no step_*.npz snapshot in {folder}; train with training.snapshot_every > 0.")
    return {step: load_npz(files[step]) for step in sorted(files)}


def singular_value_trajectories(snapshots, which: str = "A", k: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """(steps (n,), S (n, k)): the top-``k`` singular values of ``which`` (see :func:`coupling_matrix`) at
    each snapshot, in step order.

    ``snapshots``: a mapping step -> parameter mapping, or a run directory (reads ``snapshots/step_*.npz``
    written by the trainer) or the snapshot folder itself.
    """
    snaps = snapshots if isinstance(snapshots, Mapping) else _load_snapshots(snapshots)
    if not snaps:
        raise DataError("no snapshots given; pass a mapping step -> params or a run directory with snapshots/.")
    steps = np.array(sorted(int(s) for s in snaps), dtype=np.int64)
    by_step = {int(s): p for s, p in snaps.items()}
    first = coupling_matrix(by_step[int(steps[0])], which)
    k = _check_k(k, min(first.shape), "singular values")
    out = np.empty((steps.size, k))
    for i, step in enumerate(steps):
        out[i] = singular_values(coupling_matrix(by_step[int(step)], which), k)
    return steps, out


def project(samples, U, k: int | None = None) -> np.ndarray:
    """Coordinates (M, k) of the rows of ``samples`` (M x Nv: data, generated phi(v), fixed points) on the
    top-``k`` left singular vectors ``U`` (Nv x >= k, visible side): samples @ U[:, :k]."""
    x = _matrix(samples, "samples")
    u = _matrix(U, "U")
    if x.shape[1] != u.shape[0]:
        raise DataError(
            f"samples have {x.shape[1]} columns but U has {u.shape[0]} rows; project visible-layer "
            "samples on the visible-side (left) singular vectors."
        )
    k = u.shape[1] if k is None else _check_k(k, u.shape[1], "columns of U")
    return x @ u[:, :k]


# ------------------------------------------------------------------ long-time states (mode collapse)


@dataclass(frozen=True)
class LongTimeStates:
    """Visible activity phi(v) after long free runs and how fixed those states are.

    ``points`` (n, Nv); ``speed`` (n,): RMS over all units of all layers of |x(t + dt) - x(t)| / dt at the
    end of the run (units of 1/time; 0 at a fixed point of the Euler map); ``fixed``: speed * tau < ``tol``.
    ``numpy.asarray(result)`` gives ``points``.
    """

    points: np.ndarray
    speed: np.ndarray
    fixed: np.ndarray
    tol: float

    def __array__(self, dtype=None, copy=None):
        return self.points if dtype is None else self.points.astype(dtype)

    @property
    def fraction_fixed(self) -> float:
        return float(self.fixed.mean())


def fixed_points(model, n: int, t_long: float, seed: int, *, tol: float = 1e-4) -> LongTimeStates:
    """phi(v(t_long)) of ``n`` free runs from N(0, 1) starts (docs/model.md "Integration"; past t = T the trained
    dynamics falls onto a few learned fixed points, docs/indices.md), with a speed check telling
    real fixed points (speed * tau < ``tol``) from states still moving (chaotic or cycling).

    The starts come from a generator of their own (``seed``); ``model.rng`` is not touched.
    """
    n = check_size("n", n)
    steps = steps_for(t_long, model.dt)
    tol = float(tol)
    if not (math.isfinite(tol) and tol > 0):
        raise ConfigError(f"tol must be a finite number > 0, got {tol!r}.")
    state = model.random_state(n, rng=model.bk.rng(derive_seed(check_seed(seed), streams.ANALYSIS_STATES)))
    state = model.run(state, steps) if steps else state
    after = model.euler_step(state, model.dt / model.tau, model.operators())
    xp = model.xp
    sq = sum(((after[k] - state[k]) ** 2).sum(axis=1) for k in state)
    speed = np.sqrt(np.asarray(to_numpy(sq), dtype=np.float64) / sum(model.sizes.values())) / model.dt
    points = np.asarray(to_numpy(model.phi(xp, state[model.visible])), dtype=np.float64)
    return LongTimeStates(points, speed, speed * model.tau < tol, tol)


def count_distinct(points, tol: float) -> tuple[int, np.ndarray]:
    """(number of distinct states, labels (n,)): single-linkage clusters of ``points`` (rows), two points
    joined when their Euclidean distance is < ``tol``. Labels are 0.. in order of first appearance.

    Connected components of the tol-graph (scipy cKDTree pairs): independent of the order of the points.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components
    from scipy.spatial import cKDTree

    x = _matrix(points, "points")
    tol = float(tol)
    if not (math.isfinite(tol) and tol > 0):
        raise ConfigError(f"tol must be a finite distance > 0, got {tol!r}.")
    pairs = cKDTree(x).query_pairs(np.nextafter(tol, 0), output_type="ndarray")
    n = x.shape[0]
    graph = (
        coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
        if len(pairs)
        else coo_matrix((n, n))
    )
    _, raw = connected_components(graph, directed=False)
    _, first = np.unique(raw, return_index=True)
    order = np.argsort(first)
    relabel = np.empty(order.size, dtype=np.int64)
    relabel[raw[first[order]]] = np.arange(order.size)
    labels = relabel[raw]
    return int(order.size), labels


def mode_collapse_report(
    model, n: int, t_long: float, seed: int, *, dist_tol: float = 1e-2, speed_tol: float = 1e-4
) -> dict:
    """{"n_runs", "n_distinct", "n_fixed", "fraction_fixed", "median_speed"} of ``n`` long free runs:
    how many distinct long-time states (Euclidean distance in phi(v) below ``dist_tol`` merges them) and
    whether they are fixed (speed * tau < ``speed_tol``) or still moving."""
    lt = fixed_points(model, n, t_long, seed, tol=speed_tol)
    n_distinct, _ = count_distinct(lt.points, dist_tol * math.sqrt(lt.points.shape[1]))
    return {
        "n_runs": int(n),
        "n_distinct": n_distinct,
        "n_fixed": int(lt.fixed.sum()),
        "fraction_fixed": lt.fraction_fixed,
        "median_speed": float(np.median(lt.speed)),
    }


# ------------------------------------------------------------------ receptive fields


RECEPTIVE_PARTS = ("W+A", "A")
"""What a receptive field shows: the whole coupling (W + A, paper Fig. 4) or its trained part A alone."""


def receptive_fields(
    params: Mapping, image_shape, n: int = 9, g: float = 1.0, *, units=None, seed: int = 0, part: str = "W+A"
) -> tuple[np.ndarray, np.ndarray]:
    """Receptive fields of hidden units (paper Fig. 4): for hidden unit a, the couplings {W_ia + A_ia}_i to
    the visible layer reshaped as an image, divided by g (the paper: "the overall color scale has been
    divided by g").

    The matrix is W + A (restricted), W1 + A1 (deep: the first hidden layer) or W (RBM, pass g = 1).
    ``part="A"``: the trained part alone, A_ia / g (A1 for the deep model): at small training budgets the
    fixed random W dominates W + A and the fields look like noise. An RBM's W is all trained: only "W+A".
    ``units``: the hidden units a; default ``n`` distinct units drawn at random (sorted) from ``seed``.
    Returns ``(fields, units)`` with fields of shape (n, H, W) (float64 NumPy; either backend accepted).
    :func:`chaossim.plotting.plot_receptive_fields` draws them.
    """
    if part not in RECEPTIVE_PARTS:
        raise ConfigError(
            f"part must be one of {RECEPTIVE_PARTS} (the whole coupling W + A, or the trained A alone), got {part!r}."
        )
    p = {k: np.asarray(to_numpy(v), dtype=np.float64) for k, v in params.items()}
    if "W1" in p and "A1" in p:
        m = p["A1"] if part == "A" else p["W1"] + p["A1"]
    elif "W" in p and "A" in p:
        m = p["A"] if part == "A" else p["W"] + p["A"]
    elif "W" in p and "A" not in p:
        if part == "A":
            raise ConfigError(
                "an RBM has no separate trained part A: its couplings W are all trained; draw "
                "part 'W+A' (the default), which shows W."
            )
        m = p["W"]
    else:
        raise ConfigError(
            "receptive fields need hidden units; the unrestricted model (J, A) has none. "
            "Use a restricted, deep or RBM run."
        )
    nv, nh = m.shape
    h, w = (int(s) for s in image_shape)
    if h * w != nv:
        raise DataError(f"the visible layer has {nv} units but the image shape {h}x{w} has {h * w} pixels.")
    g = float(g)
    if not (math.isfinite(g) and g > 0):
        raise ConfigError(f"g must be > 0 to scale the receptive fields, got {g!r}.")
    if units is None:
        n = int(n)
        if not 1 <= n <= nh:
            raise ConfigError(f"n = {n} hidden units asked for, but the layer has {nh}; choose 1 <= n <= {nh}.")
        units = np.sort(np.random.default_rng(seed).choice(nh, size=n, replace=False))
    units = np.asarray(to_numpy(units), dtype=np.int64)
    if units.size == 0 or units.min() < 0 or units.max() >= nh:
        raise ConfigError(f"hidden units must lie in [0, {nh - 1}], got {units.tolist()}.")
    return (m[:, units].T / g).reshape(len(units), h, w), units


__all__ = [
    "LongTimeStates",
    "RECEPTIVE_PARTS",
    "count_distinct",
    "coupling_matrix",
    "fixed_points",
    "mode_collapse_report",
    "project",
    "receptive_fields",
    "singular_value_trajectories",
    "singular_values",
    "svd_modes",
]
