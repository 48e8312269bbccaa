"""Long-time states of a trained model drawn: how many distinct states the free runs end in, how many are fixed
points, and the states themselves (mode collapse, docs/indices.md; arrays from :mod:`chaossim.analysis`)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from ..errors import DataError
from .figure import host, host_vector, new_figure
from .images import to_grey


def plot_long_time_states(
    t_long: Any,
    n_distinct: Any,
    fraction_fixed: Any,
    states: Any,
    counts: Any,
    image_shape: Sequence[int],
    *,
    n_runs: int,
    title: str = "long-time states",
) -> Figure:
    """Left: the number of distinct long-time states (of ``n_runs`` free runs) and the fraction of runs at a fixed
    point vs t (log t). Right: the distinct states at the last t as images, each titled with the number of runs
    that ended in it (``counts``), most visited first.

    ``states`` (k, Nv) in [-1, 1] and ``counts`` (k,), e.g. one representative of each cluster of
    :func:`chaossim.analysis.count_distinct`.
    """
    t = host_vector(t_long, "t_long")
    nd, ff = host(n_distinct, float).ravel(), host(fraction_fixed, float).ravel()
    if nd.size != t.size or ff.size != t.size:
        raise DataError(f"n_distinct and fraction_fixed need one value per t ({t.size}), got {nd.size}, {ff.size}.")
    s, c = host(states, float), host(counts, int).ravel()
    if s.ndim != 2 or s.shape[0] != c.size or c.size == 0:
        raise DataError(f"states must be (k, Nv) with one count each, got shapes {s.shape} and {c.shape}.")
    order = np.argsort(-c, kind="stable")
    shown = order[:16]
    cols = math.ceil(math.sqrt(len(shown)))
    rows = math.ceil(len(shown) / cols)
    width = max(2.4, 1.3 * cols)
    fig = new_figure(4.5 + width, max(3.4, 1.3 * rows + 1.0))
    left, right = fig.subfigures(1, 2, squeeze=False, width_ratios=[4.5, width])[0]
    ax = left.subplots()
    ax.plot(t, nd, "o-", color="C0", label="distinct states")
    ax.set_xscale("log")
    ax.set_xlabel("$t$")
    ax.set_ylabel(f"distinct states (of {n_runs} runs)", color="C0")
    ax.set_ylim(0, max(float(nd.max()), 1.0) * 1.1)
    twin = ax.twinx()
    twin.plot(t, ff, "s--", color="C3", label="fraction at a fixed point")
    twin.set_ylim(-0.05, 1.05)
    twin.set_ylabel("fraction of runs at a fixed point", color="C3")
    ax.set_title("free runs from random starts", fontsize=9)
    from .paper import _readable_log_ticks

    _readable_log_ticks(ax)
    axes = right.subplots(rows, cols, squeeze=False).ravel()
    images = to_grey(s[shown], image_shape)
    for a in axes:
        a.set_axis_off()
    for a, img, i in zip(axes, images, shown):
        a.imshow(img, cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
        a.set_title(f"{int(c[i])} run{'' if int(c[i]) == 1 else 's'}", fontsize=8)
    more = f" (the {len(shown)} most visited)" if len(order) > len(shown) else ""
    states_word = "state" if len(order) == 1 else "states"
    right.suptitle(f"{len(order)} distinct {states_word}\nat $t={t[-1]:g}${more}", fontsize=9)
    fig.suptitle(title, fontsize=10)
    return fig
