"""A sweep drawn: the phase diagram of each accuracy index over the grid (g vertical, T horizontal)."""

from __future__ import annotations

import math
from typing import Any

import matplotlib
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ..errors import DataError
from ..evaluation import INDEX_NAMES
from ..sweep.summary import final_indices, fmt_value, phase_axes, reduce_for_plot
from .figure import host, new_figure


def plot_phase_diagram(ds: Any, *, name: str | None = None) -> Figure:
    """Each index at the last logged training step of each point (lower is better), one panel per index.

    ``ds``: a sweep store's dataset (:func:`chaossim.sweep.open_sweep` or ``xarray.open_zarr``). With g and T
    both on the grid each panel is a heat map, g on the vertical and T on the horizontal axis, each cell
    labelled with its value (grey "n/a": no value); otherwise the first two numeric grid dimensions with more
    than one value are used, and one such dimension gives curves. Other grid dimensions: ``seed`` is averaged
    over (failed points left out); any other is fixed at its FIRST value, which the title states.
    ``name``: the sweep's name in the title (default the store's ``name`` attribute).
    """
    keep = phase_axes(ds)
    if not keep:
        raise DataError(
            "this sweep has no numeric grid dimension with more than one value; there is no phase diagram to "
            "draw (the text report, chaossim.sweep.report.best_points_table, still applies)."
        )
    finals = final_indices(ds)
    fig = new_figure(4.2 * len(INDEX_NAMES), 3.8)
    axes = fig.subplots(1, len(INDEX_NAMES), squeeze=False)[0]
    notes: list[str] = []
    for ax, index in zip(axes, INDEX_NAMES):
        arr, notes = reduce_for_plot(ds, finals[index], keep)
        if not np.isfinite(arr).any():
            ax.text(0.5, 0.5, f"{index}: no values", ha="center", va="center", transform=ax.transAxes)
            ax.set_axis_off()
            continue
        if len(keep) == 2:
            _heatmap(fig, ax, arr, host(ds[keep[0]].values), host(ds[keep[1]].values), keep, index)
        else:
            ax.plot(host(ds[keep[0]].values), arr, "o-")
            ax.set_xlabel(keep[0])
            ax.set_ylabel(index)
            ax.set_title(index)
    title = f"{name or ds.attrs.get('name', 'sweep')}: indices at the last training step (lower is better)"
    if notes:
        title += " [" + ", ".join(notes) + "]"
    fig.suptitle(title, fontsize=10)
    return fig


def _heatmap(
    fig: Figure, ax: Axes, arr: np.ndarray, yvals: np.ndarray, xvals: np.ndarray, keep: tuple[str, ...], index: str
) -> None:
    cmap = matplotlib.colormaps["viridis"].with_extremes(bad="lightgrey")
    im = ax.imshow(np.ma.masked_invalid(arr), origin="lower", aspect="auto", cmap=cmap)
    ax.set_xticks(range(len(xvals)), [fmt_value(v) for v in xvals])
    ax.set_yticks(range(len(yvals)), [fmt_value(v) for v in yvals])
    ax.set_xlabel(keep[1])
    ax.set_ylabel(keep[0])
    ax.set_title(index)
    finite = arr[np.isfinite(arr)]
    mid = (finite.min() + finite.max()) / 2 if finite.size else 0
    for i in range(arr.shape[0]):
        for j in range(arr.shape[1]):
            v = arr[i, j]
            text = "n/a" if not math.isfinite(v) else f"{v:.2g}"
            color = "black" if (not math.isfinite(v) or v > mid) else "white"
            ax.text(j, i, text, ha="center", va="center", fontsize=7, color=color)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
