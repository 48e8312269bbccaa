"""A new matplotlib Figure and the host copies of the arrays drawn on it (used by every plotting module).

No backend is selected and pyplot is never imported: a :class:`~matplotlib.figure.Figure` made here is not
registered with pyplot, so drawing one changes nothing in the caller's matplotlib state (a notebook keeps its
backend and displays the returned figure; a script saves it with :func:`chaossim.plotting.save_figure`).
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from numpy.typing import DTypeLike

from ..backend import to_numpy
from ..errors import DataError


class InlineFigure(Figure):
    """A matplotlib Figure that a notebook can display by itself: Jupyter shows the value of a cell through its
    ``_repr_png_`` (the PNG rendered by matplotlib's file writer), whatever backend is selected and without
    pyplot. Where the notebook's backend registered its own display of figures (``%matplotlib inline``),
    that display is used instead."""

    def _repr_png_(self) -> bytes:
        buf = io.BytesIO()
        self.savefig(buf, format="png", dpi=100)
        return buf.getvalue()


def new_figure(width: float, height: float) -> Figure:
    """An empty Figure of ``width`` x ``height`` inches with constrained layout, outside pyplot (an
    :class:`InlineFigure`)."""
    return InlineFigure(figsize=(width, height), dpi=100, layout="constrained")


def host(a: Any, dtype: DTypeLike | None = None) -> np.ndarray:
    """Any array (NumPy, CuPy, the strict namespace, xarray, lists) as a NumPy array: the explicit copy to the
    host (:func:`chaossim.backend.to_numpy`), never an implicit conversion (which CuPy refuses)."""
    return np.asarray(to_numpy(a), dtype=dtype)


def host_vector(a: Any, name: str) -> np.ndarray:
    """``a`` as a flat float64 NumPy vector; a :class:`~chaossim.errors.DataError` naming ``name`` if empty."""
    v = host(a, np.float64).ravel()
    if v.size == 0:
        raise DataError(f"{name} is empty; nothing to plot.")
    return v


def host_matrix(a: Any, name: str) -> np.ndarray:
    """``a`` as a non-empty, finite, 2-D float64 NumPy array (else a DataError naming ``name``)."""
    m = host(a, np.float64)
    if m.ndim != 2 or 0 in m.shape:
        raise DataError(f"{name} must be a non-empty 2-D array, got shape {m.shape}.")
    if not np.all(np.isfinite(m)):
        raise DataError(f"{name} contains NaN or inf values; nothing sensible to plot.")
    return m
