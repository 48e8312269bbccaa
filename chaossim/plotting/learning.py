"""The SVD view of learning drawn: singular values over training, the top modes as images, and samples
projected on the top modes (the arrays come from :mod:`chaossim.analysis`)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import matplotlib
import numpy as np
from matplotlib.figure import Figure

from ..errors import ConfigError, DataError
from .figure import host, host_matrix, host_vector, new_figure


def plot_singular_values(steps: Any, S: Any, *, title: str = "singular values over training") -> Figure:
    """Top singular values (``S``: n_steps x k) vs training step, one curve per rank; log y, and log x when
    all steps are > 0 and span more than a decade. ``steps, S`` as returned by
    :func:`chaossim.analysis.singular_value_trajectories`."""
    x = host_vector(steps, "steps")
    s = host(S, np.float64)
    if s.ndim != 2 or s.shape[0] != x.size:
        raise DataError(f"S must be (n_steps, k) with n_steps = {x.size}, got shape {s.shape}.")
    fig = new_figure(5.5, 4)
    ax = fig.subplots()
    colors = matplotlib.colormaps["viridis"](np.linspace(0, 0.9, s.shape[1]))
    for i in range(s.shape[1]):
        ax.plot(x, s[:, i], color=colors[i], marker="." if x.size < 30 else None, label=f"s{i + 1}")
    if np.all(s > 0):
        ax.set_yscale("log")
    if np.all(x > 0) and x.max() / x.min() > 10:
        ax.set_xscale("log")
    ax.set_xlabel("training step t_age")
    ax.set_ylabel("singular value")
    ax.set_title(title)
    if s.shape[1] <= 10:
        ax.legend(fontsize=7, ncol=2)
    return fig


def plot_modes(U: Any, image_shape: Sequence[int], k: int = 9, *, title: str = "top singular vectors") -> Figure:
    """The first ``k`` columns of ``U`` (Nv x >= k, e.g. from :func:`chaossim.analysis.svd_modes`) as images
    of ``image_shape``, in a square-ish grid, each on its own symmetric diverging colour scale."""
    u = host_matrix(U, "U")
    if isinstance(k, bool) or int(k) != k or int(k) <= 0:
        raise ConfigError(f"k must be a positive integer, got {k!r}.")
    if int(k) > u.shape[1]:
        raise ConfigError(f"k = {k} exceeds the {u.shape[1]} columns of U; choose k <= {u.shape[1]}.")
    k = int(k)
    shape = tuple(int(d) for d in image_shape)
    if int(np.prod(shape)) != u.shape[0]:
        raise DataError(f"image_shape {shape} has {int(np.prod(shape))} pixels but U has {u.shape[0]} rows.")
    cols = math.ceil(math.sqrt(k))
    rows = math.ceil(k / cols)
    fig = new_figure(1.8 * cols, 1.8 * rows + 0.3)
    axes = fig.subplots(rows, cols, squeeze=False)
    for i, ax in enumerate(axes.ravel()):
        ax.axis("off")
        if i < k:
            lim = np.abs(u[:, i]).max() or 1.0
            ax.imshow(u[:, i].reshape(shape), cmap="RdBu_r", vmin=-lim, vmax=lim)
            ax.set_title(f"mode {i + 1}", fontsize=8)
    fig.suptitle(title, fontsize=10)
    return fig


def plot_projections(
    proj_data: Any, proj_gen: Any, proj_fixed: Any, *, title: str = "projections on modes 1-2"
) -> Figure:
    """Scatter of data, generated samples and long-time states on modes 1 and 2 (columns 0 and 1 of each
    (M, >= 2) array, e.g. from :func:`chaossim.analysis.project`); any set may be None."""
    fig = new_figure(5, 4.5)
    ax = fig.subplots()
    drawn = 0
    sets: tuple[tuple[Any, str, dict[str, Any]], ...] = (
        (proj_data, "data", {"s": 6, "alpha": 0.4, "color": "0.5"}),
        (proj_gen, "generated", {"s": 6, "alpha": 0.5, "color": "tab:blue"}),
        (proj_fixed, "long-time states", {"s": 40, "marker": "x", "color": "tab:red"}),
    )
    for arr, label, style in sets:
        if arr is None:
            continue
        p = host_matrix(arr, label)
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
    return fig
