"""The SVD view of learning and the chaos figures (SPEC "The related talk"; Decelle, Fissore, Furtlehner).

Training is read through the SVD of a coupling matrix, K = U S V^T (A, or fixed + trained such as W + A):
singular-value trajectories over training (snapshots written by ``training.snapshot_every``), the top
left singular vectors (visible side) drawn as images, and data, generated samples and long-time states
(fixed points, "mode collapse", SPEC "Accuracy indices") projected onto the top modes.

Everything returned is NumPy float64 (arrays of either backend are accepted and converted at this
boundary). Figures are written with matplotlib's Agg backend as PNG and PDF; each plotting function
returns the paths it wrote.
"""
from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .backend import derive_seed, to_numpy
from .errors import ConfigError, DataError, StoreError
from .io import load_npz
from .validation import check_size, steps_for

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
    return s if k is None else s[:_check_k(k, s.size, "singular values")]


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
            raise ConfigError(f"cannot read {term!r} in which = {which!r}; write names joined by '+', "
                              "each optionally followed by '.T' (e.g. 'W+A', 'Wt+A.T').")
        name, transpose = match.group(1), match.group(2)
        if name not in params:
            raise DataError(f"parameter {name!r} (in which = {which!r}) is not in these parameters; "
                            f"available: {sorted(params)}.")
        m = _matrix(params[name], f"parameter {name!r}")
        m = m.T if transpose else m
        if total is not None and total.shape != m.shape:
            raise DataError(f"cannot add {term!r} of shape {m.shape} to shape {total.shape} in which = {which!r}; "
                            "transpose one of them with '.T'.")
        total = m if total is None else total + m
    return total


_STEP_FILE = re.compile(r"^step_(\d+)\.npz$")


def _load_snapshots(source) -> dict:
    path = Path(source)
    folder = path / "snapshots" if (path / "snapshots").is_dir() else path
    if not folder.is_dir():
        raise StoreError(f"{path} is neither a run directory with snapshots/ nor a snapshot folder; train with "
                         "training.snapshot_every > 0 to write them.")
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
        raise DataError(f"samples have {x.shape[1]} columns but U has {u.shape[0]} rows; project visible-layer "
                        "samples on the visible-side (left) singular vectors.")
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
    """phi(v(t_long)) of ``n`` free runs from N(0, 1) starts (SPEC "Integration"; past t = T the trained
    dynamics falls onto a few learned fixed points, SPEC "Accuracy indices"), with a speed check telling
    real fixed points (speed * tau < ``tol``) from states still moving (chaotic or cycling).

    The starts come from a generator of their own (``seed``); ``model.rng`` is not touched.
    """
    n = check_size("n", n)
    steps = steps_for(t_long, model.dt)
    tol = float(tol)
    if not (math.isfinite(tol) and tol > 0):
        raise ConfigError(f"tol must be a finite number > 0, got {tol!r}.")
    if isinstance(seed, bool) or int(seed) != seed or int(seed) < 0:
        raise ConfigError(f"seed must be a non-negative integer, got {seed!r}.")
    state = model.random_state(n, rng=model.bk.rng(derive_seed(int(seed), 11)))
    state = model.run(state, steps) if steps else state
    after = model.euler_step(state, model.dt / model.tau, model.operators())
    xp = model.xp
    sq = sum(((after[k] - state[k]) ** 2).sum(axis=1) for k in state)
    speed = np.sqrt(np.asarray(to_numpy(sq), dtype=np.float64) / sum(model.sizes.values())) / model.dt
    points = np.asarray(to_numpy(xp.tanh(state[model.visible])), dtype=np.float64)
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
    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n)) if len(pairs) else \
        coo_matrix((n, n))
    _, raw = connected_components(graph, directed=False)
    _, first = np.unique(raw, return_index=True)
    order = np.argsort(first)
    relabel = np.empty(order.size, dtype=np.int64)
    relabel[raw[first[order]]] = np.arange(order.size)
    labels = relabel[raw]
    return int(order.size), labels


def mode_collapse_report(model, n: int, t_long: float, seed: int, *, dist_tol: float = 1e-2,
                         speed_tol: float = 1e-4) -> dict:
    """{"n_runs", "n_distinct", "n_fixed", "fraction_fixed", "median_speed"} of ``n`` long free runs:
    how many distinct long-time states (Euclidean distance in phi(v) below ``dist_tol`` merges them) and
    whether they are fixed (speed * tau < ``speed_tol``) or still moving."""
    lt = fixed_points(model, n, t_long, seed, tol=speed_tol)
    n_distinct, _ = count_distinct(lt.points, dist_tol * math.sqrt(lt.points.shape[1]))
    return {"n_runs": int(n), "n_distinct": n_distinct, "n_fixed": int(lt.fixed.sum()),
            "fraction_fixed": lt.fraction_fixed, "median_speed": float(np.median(lt.speed))}


# ------------------------------------------------------------------ figures


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path) -> list[Path]:
    path = Path(path)
    base = path.with_suffix("") if path.suffix.lower() in (".png", ".pdf") else path
    base.parent.mkdir(parents=True, exist_ok=True)
    out = [base.with_suffix(".png"), base.with_suffix(".pdf")]
    fig.savefig(out[0], dpi=150, bbox_inches="tight")
    fig.savefig(out[1], bbox_inches="tight")
    _pyplot().close(fig)
    return out


def _vector(a, name: str) -> np.ndarray:
    v = np.asarray(to_numpy(a), dtype=np.float64).ravel()
    if v.size == 0:
        raise DataError(f"{name} is empty; nothing to plot.")
    return v


def plot_singular_values(steps, S, path, *, title: str = "singular values over training") -> list[Path]:
    """Top singular values (S: n_steps x k) vs training step; log y, log x when all steps are > 0."""
    plt = _pyplot()
    steps = _vector(steps, "steps")
    s = np.asarray(to_numpy(S), dtype=np.float64)
    if s.ndim != 2 or s.shape[0] != steps.size:
        raise DataError(f"S must be (n_steps, k) with n_steps = {steps.size}, got shape {s.shape}.")
    fig, ax = plt.subplots(figsize=(5.5, 4))
    colors = plt.cm.viridis(np.linspace(0, 0.9, s.shape[1]))
    for i in range(s.shape[1]):
        ax.plot(steps, s[:, i], color=colors[i], marker="." if steps.size < 30 else None, label=f"s{i + 1}")
    if np.all(s > 0):
        ax.set_yscale("log")
    if np.all(steps > 0) and steps.max() / steps.min() > 10:
        ax.set_xscale("log")
    ax.set_xlabel("training step t_age")
    ax.set_ylabel("singular value")
    ax.set_title(title)
    if s.shape[1] <= 10:
        ax.legend(fontsize=7, ncol=2)
    return _save(fig, path)


def plot_modes(U, image_shape, path, k: int = 9, *, title: str = "top singular vectors") -> list[Path]:
    """The first ``k`` columns of ``U`` (Nv x >= k) as images of ``image_shape``, in a square-ish grid,
    on a symmetric diverging colour scale."""
    plt = _pyplot()
    u = _matrix(U, "U")
    k = _check_k(k, u.shape[1], "columns of U")
    shape = tuple(int(d) for d in image_shape)
    if int(np.prod(shape)) != u.shape[0]:
        raise DataError(f"image_shape {shape} has {int(np.prod(shape))} pixels but U has {u.shape[0]} rows.")
    cols = math.ceil(math.sqrt(k))
    rows = math.ceil(k / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(1.8 * cols, 1.8 * rows + 0.3), squeeze=False)
    for i, ax in enumerate(axes.ravel()):
        ax.axis("off")
        if i < k:
            lim = np.abs(u[:, i]).max() or 1.0
            ax.imshow(u[:, i].reshape(shape), cmap="RdBu_r", vmin=-lim, vmax=lim)
            ax.set_title(f"mode {i + 1}", fontsize=8)
    fig.suptitle(title, fontsize=10)
    return _save(fig, path)


def plot_projections(proj_data, proj_gen, proj_fixed, path, *, title: str = "projections on modes 1-2") -> list[Path]:
    """Scatter of data, generated samples and long-time states on modes 1 and 2 (columns 0, 1); any set may
    be None."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 4.5))
    drawn = 0
    for arr, label, style in ((proj_data, "data", {"s": 6, "alpha": 0.4, "color": "0.5"}),
                              (proj_gen, "generated", {"s": 6, "alpha": 0.5, "color": "tab:blue"}),
                              (proj_fixed, "long-time states", {"s": 40, "marker": "x", "color": "tab:red"})):
        if arr is None:
            continue
        p = _matrix(arr, label)
        if p.shape[1] < 2:
            raise DataError(f"{label} projections need at least 2 columns (modes 1 and 2), got {p.shape[1]}.")
        ax.scatter(p[:, 0], p[:, 1], label=label, **style)
        drawn += 1
    if not drawn:
        raise DataError("all projection sets are None; pass at least one.")
    ax.set_xlabel("mode 1")
    ax.set_ylabel("mode 2")
    ax.set_title(title)
    ax.legend(fontsize=8)
    return _save(fig, path)


def plot_lyapunov_vs_g(g_values, lam, lam_err, path, dmft_curve=None, *, linear_curve=None,
                       units: str = "1/tau") -> list[Path]:
    """Measured lambda_max (error bars) vs g, with optional reference curves given as (g, lambda) pairs:
    ``dmft_curve`` (DMFT prediction) and ``linear_curve`` (linear stability of the fixed point 0)."""
    plt = _pyplot()
    g = _vector(g_values, "g_values")
    lam = _vector(lam, "lam")
    err = _vector(lam_err, "lam_err")
    if not (g.size == lam.size == err.size):
        raise DataError(f"g_values, lam and lam_err must have equal lengths, got {g.size}, {lam.size}, {err.size}.")
    fig, ax = plt.subplots(figsize=(5.5, 4))
    ax.axhline(0, color="0.7", lw=0.8)
    ax.axvline(1, color="0.7", lw=0.8, ls=":")
    for curve, label, style in ((linear_curve, "linear stability of v = 0", {"color": "tab:green", "ls": "--"}),
                                (dmft_curve, "DMFT (SCS 1988)", {"color": "tab:red", "ls": "-"})):
        if curve is not None:
            cg, cl = (_vector(c, label) for c in curve)
            ax.plot(cg, cl, label=label, **style)
    ax.errorbar(g, lam, yerr=err, fmt="o", ms=4, capsize=2, color="k", label="simulation (Euler map)")
    ax.set_xlabel("g (variance of the couplings)")
    ax.set_ylabel(f"lambda_max [{units}]")
    ax.legend(fontsize=8)
    return _save(fig, path)


def plot_chaos_vs_age(t_age, lam, var, path, *, units: str = "1/tau") -> list[Path]:
    """lambda_max and the activity variance vs training step, two stacked panels."""
    plt = _pyplot()
    t = _vector(t_age, "t_age")
    lam = _vector(lam, "lam")
    var = _vector(var, "var")
    if not (t.size == lam.size == var.size):
        raise DataError(f"t_age, lam and var must have equal lengths, got {t.size}, {lam.size}, {var.size}.")
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(5.5, 5), sharex=True)
    ax1.axhline(0, color="0.7", lw=0.8)
    ax1.plot(t, lam, "o-", ms=3)
    ax1.set_ylabel(f"lambda_max [{units}]")
    ax2.plot(t, var, "o-", ms=3, color="tab:orange")
    ax2.set_ylabel("Var phi(v)")
    ax2.set_xlabel("training step t_age")
    return _save(fig, path)


__all__ = [
    "LongTimeStates", "count_distinct", "coupling_matrix", "fixed_points", "mode_collapse_report",
    "plot_chaos_vs_age", "plot_lyapunov_vs_g", "plot_modes", "plot_projections", "plot_singular_values",
    "project", "singular_value_trajectories", "singular_values", "svd_modes",
]
