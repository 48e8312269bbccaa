"""A sweep drawn: the phase diagram of each accuracy index over the grid (g vertical, T horizontal), and its
change from step 0 (before training)."""

from __future__ import annotations

import math
from typing import Any

import matplotlib
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ..errors import DataError
from ..summary import final_indices, fmt_value, initial_indices, phase_axes, reduce_for_plot, stored_indices
from .figure import host, new_figure

MAX_LABELLED_CELLS = 100
"""A heat map writes each cell's value in it up to this many cells per panel (e.g. 10 g x 10 T); a larger grid
gets its colour scale only: the labels would overlap, and drawing thousands of them made ``sweep-report`` of
a 20 x 10 grid take 30 s (the text report lists the best points with their values)."""


def plot_phase_diagram(ds: Any, *, name: str | None = None) -> Figure:
    """Each index at the last logged training step of each point (lower is better), one panel per index (top
    row), and its change from step 0, before training (bottom row: last minus step 0, negative = learned).

    ``ds``: a sweep store's dataset (:func:`chaossim.sweep.open_sweep` or ``xarray.open_zarr``). With g and T
    both on the grid each panel is a heat map, g on the vertical and T on the horizontal axis, each cell
    labelled with its value (grey "n/a": no value) when a panel has at most :data:`MAX_LABELLED_CELLS` cells;
    otherwise the first two numeric grid dimensions with more
    than one value are used, and one such dimension gives curves. Colour scales: each top panel has its own
    (viridis, from its smallest to its largest value); each bottom panel its own diverging one centred at 0
    (blue: the index fell). Other grid dimensions: ``seed`` is averaged over (failed points left out); any
    other is fixed at its FIRST value, which the title states. ``name``: the sweep's name in the title
    (default the store's ``name`` attribute). A store without step 0 logged gets the top row only.
    """
    keep = phase_axes(ds)
    if not keep:
        raise DataError(
            "this sweep has no numeric grid dimension with more than one value; there is no phase diagram to "
            "draw (the text report, chaossim.sweep.report.best_points_table, still applies)."
        )
    finals, initials = final_indices(ds), initial_indices(ds)
    names = stored_indices(ds)
    with_change = any(np.isfinite(v).any() for v in initials.values())
    fig = new_figure(4.2 * len(names), 3.8 * (2 if with_change else 1))
    grid = fig.subplots(2 if with_change else 1, len(names), squeeze=False)
    notes: list[str] = []
    for j, index in enumerate(names):
        arr, notes = reduce_for_plot(ds, finals[index], keep)
        rows = [(grid[0, j], arr, index, False)]
        if with_change:
            start, _ = reduce_for_plot(ds, initials[index], keep)
            rows.append((grid[1, j], arr - start, f"{index}: change from step 0", True))
        for ax, values, title, change in rows:
            if not np.isfinite(values).any():
                ax.text(0.5, 0.5, f"{title}: no values", ha="center", va="center", transform=ax.transAxes)
                ax.set_axis_off()
                continue
            if len(keep) == 2:
                _heatmap(fig, ax, values, host(ds[keep[0]].values), host(ds[keep[1]].values), keep, title, change)
            else:
                ax.plot(host(ds[keep[0]].values), values, "o-")
                if change:
                    ax.axhline(0.0, color="0.5", lw=1)
                ax.set_xlabel(keep[0])
                ax.set_ylabel(title if change else index)
                ax.set_title(title)
    what = "indices at the last training step (lower is better)"
    if with_change:
        what += "; bottom: change from step 0 (negative: learned)"
    title = f"{name or ds.attrs.get('name', 'sweep')}: {what}"
    if notes:
        title += " [" + ", ".join(notes) + "]"
    if len(keep) == 2:
        title += "\neach panel has its own colour scale (top: min to max; bottom: centred at 0)"
        cells = ds.sizes[keep[0]] * ds.sizes[keep[1]]
        if cells > MAX_LABELLED_CELLS:
            title += f"; {cells} cells per panel: values not written in the cells (at most {MAX_LABELLED_CELLS})"
    fig.suptitle(title, fontsize=10)
    return fig


def _heatmap(
    fig: Figure,
    ax: Axes,
    arr: np.ndarray,
    yvals: np.ndarray,
    xvals: np.ndarray,
    keep: tuple[str, ...],
    title: str,
    change: bool = False,
) -> None:
    finite = arr[np.isfinite(arr)]
    lim = (float(np.abs(finite).max()) or 1.0) if finite.size else 1.0  # the half-range of a change panel
    if change:
        cmap = matplotlib.colormaps["RdBu_r"].with_extremes(bad="lightgrey")
        im = ax.imshow(np.ma.masked_invalid(arr), origin="lower", aspect="auto", cmap=cmap, vmin=-lim, vmax=lim)
    else:
        cmap = matplotlib.colormaps["viridis"].with_extremes(bad="lightgrey")
        im = ax.imshow(np.ma.masked_invalid(arr), origin="lower", aspect="auto", cmap=cmap)
    ax.set_xticks(range(len(xvals)), [fmt_value(v) for v in xvals])
    ax.set_yticks(range(len(yvals)), [fmt_value(v) for v in yvals])
    ax.set_xlabel(keep[1])
    ax.set_ylabel(keep[0])
    ax.set_title(title)
    if arr.size <= MAX_LABELLED_CELLS:
        _label_cells(ax, arr, finite, lim if change else None)
    label = f"{title} (own scale, centred at 0)" if change else f"{title} at the last step (own scale)"
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label=label)


def _label_cells(ax: Axes, arr: np.ndarray, finite: np.ndarray, lim: float | None) -> None:
    """Each cell's value written in it (``lim``: the half-range of a diverging scale, None for a top panel)."""
    mid = (finite.min() + finite.max()) / 2 if finite.size else 0
    for i in range(arr.shape[0]):
        for j in range(arr.shape[1]):
            v = arr[i, j]
            if not math.isfinite(v):
                text, color = "n/a", "black"
            elif lim is not None:
                text, color = f"{v:+.2g}", "white" if abs(v) > 0.6 * lim else "black"
            else:
                text, color = f"{v:.2g}", "black" if v > mid else "white"
            ax.text(j, i, text, ha="center", va="center", fontsize=7, color=color)
