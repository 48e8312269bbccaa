"""What a sweep store says at the end of training: which indices it holds, each at its point's last logged
step, and the grid reduced to the two axes of a phase diagram.

Pure NumPy on the dataset that :func:`chaossim.sweep.store.open_sweep` (or ``xarray.open_zarr``) returns,
below the figures and the sweeps (docs/architecture.md): used by the text report
(:func:`chaossim.sweep.report.best_points_table`), the study tables and the phase diagram
(:func:`chaossim.plotting.plot_phase_diagram`).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from .metrics import index_names

AVERAGED_DIMS = ("seed",)
"""Grid dimensions averaged over on a phase diagram (NaN-aware: failed points are left out)."""


def stored_indices(ds: Any) -> list[str]:
    """The indices a store holds: its ``index_names`` attribute (the registry of the process that laid it out,
    :func:`chaossim.metrics.indices`), else the registered ones among its variables."""
    names = ds.attrs.get("index_names")
    if names is None:
        names = index_names()
    return [str(n) for n in names if n in ds.variables]


def final_indices(ds: Any) -> dict[str, np.ndarray]:
    """name -> grid-shaped NumPy array of each index at its point's last logged training step (NaN where a
    point has no finite value)."""
    out = {}
    for n in stored_indices(ds):
        a = np.asarray(ds[n].values, dtype=float)  # (grid..., t_age)
        ok = np.isfinite(a)
        last = np.where(ok.any(-1), a.shape[-1] - 1 - np.argmax(ok[..., ::-1], axis=-1), 0)
        vals = np.take_along_axis(a, last[..., None], axis=-1)[..., 0]
        out[n] = np.where(ok.any(-1), vals, np.nan)
    return out


def initial_indices(ds: Any) -> dict[str, np.ndarray]:
    """name -> grid-shaped NumPy array of each index at t_age = 0 (before training: the baseline a phase
    diagram's change is measured from); NaN everywhere when the store logged no step 0."""
    ages = np.asarray(ds["t_age"].values)
    at = np.flatnonzero(ages == 0)
    out = {}
    for n in stored_indices(ds):
        a = np.asarray(ds[n].values, dtype=float)
        out[n] = a[..., int(at[0])] if at.size else np.full(a.shape[:-1], np.nan)
    return out


def phase_axes(ds: Any) -> tuple[str, ...]:
    """The grid dimensions a phase diagram is drawn over: ("g", "T") when both vary, else the first two
    numeric dimensions with more than one value (one gives curves, none gives ())."""
    dims = list(ds.attrs.get("grid_dims", []))
    numeric = [
        d for d in dims if ds.sizes[d] > 1 and np.asarray(ds[d].values).dtype.kind in "iuf" and d not in AVERAGED_DIMS
    ]
    if "g" in numeric and "T" in numeric:
        return "g", "T"
    return tuple(numeric[:2])


def reduce_for_plot(ds: Any, values: np.ndarray, keep: tuple[str, ...]) -> tuple[np.ndarray, list[str]]:
    """``values`` (grid-shaped) reduced to the dimensions ``keep``, in that order: averaged over seed
    (NaN-aware), the other dimensions fixed at their FIRST value. Returns (array, notes), the notes saying
    what was averaged or fixed (for a figure's title)."""
    dims = list(ds.attrs.get("grid_dims", []))
    notes: list[str] = []
    arr = values
    for d in reversed(dims):
        if d in keep:
            continue
        ax = dims.index(d)
        if d in AVERAGED_DIMS:
            with np.errstate(all="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                arr = np.nanmean(arr, axis=ax)
            if ds.sizes[d] > 1:
                notes.append(f"mean over {ds.sizes[d]} {d}s")
        else:
            arr = np.take(arr, 0, axis=ax)
            if ds.sizes[d] > 1:
                notes.append(f"{d}={fmt_value(ds[d].values[0])}")
    order = [d for d in dims if d in keep]
    if list(keep) != order:
        arr = np.transpose(arr, [order.index(d) for d in keep])
    return arr, notes


def fmt_value(v: Any) -> str:
    """A grid coordinate as text: floats with %g, anything else with str."""
    if isinstance(v, (float, np.floating)):
        return f"{float(v):g}"
    return str(v)
