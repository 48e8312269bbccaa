"""The paper's figures (Figs. 2-5) from arrays: samples, snapshots, indices vs t, receptive fields, training.

Each function takes arrays (NumPy or device arrays, converted here) or the dicts the loaders return
(:func:`chaossim.runs.rundir.load_samples`, :func:`chaossim.runs.rundir.load_evaluation`, the ``history``
of :func:`chaossim.runs.rundir.load_checkpoint`; an xarray Dataset with the same variable names works too) and
returns a :class:`~matplotlib.figure.Figure`; nothing is read from disk or saved here
(``chaossim plot FIGURE RUN...`` loads the run directories and saves PNG + PDF).

Images: generated and data points live in [-1, 1] (phi = tanh) and are drawn through the inverse of the data
map, grey = (x + 1) / 2, white = 1 (docs/model.md, "Notation").
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, FuncFormatter, LogLocator, MaxNLocator, NullFormatter

from ..analysis import receptive_fields
from ..backend import is_device_array
from ..errors import ConfigError, DataError
from ..metrics import index, index_names
from .figure import host, new_figure
from .images import mosaic, to_grey


def index_label(name: str) -> str:
    """The axis label of an index (its registered label, :func:`chaossim.metrics.indices`; else its name)."""
    ix = index(name)
    return ix.label if ix is not None else name


def index_log_scale(name: str) -> bool:
    """Whether an index is drawn on a log axis (registered; an unknown index on a linear one)."""
    ix = index(name)
    return bool(ix is not None and ix.log_scale)


def drawn_indices(record: Any) -> list[str]:
    """The registered indices a record holds (a mapping's keys, a Dataset's variables), in registry order."""
    keys = record.data_vars if hasattr(record, "data_vars") else record
    return [n for n in index_names() if n in keys]


# ------------------------------------------------------------------------------ helpers
def _one_or_many(items: Any, one: Callable[[Any], bool]) -> list[Any]:
    """``[items]`` when ``items`` is one item (as told by ``one``), else ``list(items)``."""
    return [items] if one(items) else list(items)


def _is_array(a: Any) -> bool:
    return isinstance(a, np.ndarray) or is_device_array(a) or hasattr(a, "dims")


def _is_record(a: Any) -> bool:
    return isinstance(a, Mapping) or hasattr(a, "data_vars")


def _labels(labels: Sequence[str] | None, n: int, default: Callable[[int], str]) -> list[str]:
    if labels is None:
        return [default(i) for i in range(n)]
    out = [str(x) for x in labels]
    if len(out) != n:
        raise ConfigError(f"got {len(out)} labels for {n} runs; give one label per run.")
    return out


ZERO_OFFSET = 3.0
"""On a log axis the value at x = 0 (step 0, before training; or the random start, t = 0) is drawn at the
left edge, at the smallest positive x divided by this factor, and its tick is labelled "0"."""


def _log_tick_values(lo: float, hi: float) -> list[float]:
    """At most about six readable major tick values in [lo, hi] on a log axis: plain steps inside one decade,
    1-2-5 per decade up to two decades, powers of ten beyond (every other one past six decades)."""
    if hi / lo < 10:
        values = MaxNLocator(nbins=4, steps=[1, 2, 2.5, 5, 10]).tick_values(lo, hi)
    else:
        decades = math.log10(hi / lo)
        subs = (1.0, 2.0, 5.0) if decades <= 2 else (1.0,)
        values = LogLocator(base=10, subs=subs, numticks=100).tick_values(lo, hi)
        if decades > 6:
            values = [v for v in values if round(math.log10(v)) % 2 == 0]
    return [float(v) for v in values if lo <= v <= hi and v > 0]


def _readable_log_ticks(ax: Axes, zero_at: float | None = None) -> None:
    """Readable tick labels on the log axes of ``ax``: a few major ticks labelled with '%g' (see
    :func:`_log_tick_values`), unlabelled minor ticks (matplotlib's defaults label minor ticks of short log
    axes, and the labels run into each other: "600700800900"). ``zero_at``: the x position where x = 0 is
    drawn (:data:`ZERO_OFFSET`), labelled "0"; ticks closer to it than a factor 2 are dropped."""
    for axis, (lo, hi), zero in ((ax.xaxis, ax.get_xlim(), zero_at), (ax.yaxis, ax.get_ylim(), None)):
        if axis.get_scale() != "log" or not (lo > 0 and hi > lo):
            continue
        values = _log_tick_values(lo, hi)
        if zero is not None:
            values = [zero] + [v for v in values if v > 2 * zero]

        def label(v: float, _: int | None, zero: float | None = zero) -> str:
            return "0" if zero is not None and math.isclose(v, zero) else f"{v:g}"

        axis.set_major_locator(FixedLocator(values))
        axis.set_major_formatter(FuncFormatter(label))
        axis.set_minor_locator(LogLocator(base=10, subs="auto", numticks=100))
        axis.set_minor_formatter(NullFormatter())


def _zero_position(curves: list[Any], x_key: str) -> float | None:
    """Where x = 0 is drawn on the log x axis (:data:`ZERO_OFFSET`), or None when no curve has x = 0 or none
    has a positive x to place it against."""
    xs = [host(c[x_key], float) for c in curves]
    positive = [x[x > 0] for x in xs if (x > 0).any()]
    if not any((x == 0).any() for x in xs) or not positive:
        return None
    return float(min(p.min() for p in positive)) / ZERO_OFFSET


def _no_values(ax: Axes, key: str) -> None:
    text = "not defined:\nno hidden layer" if key == "ER" else "no finite values"
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center")


def _image_axes(ax: Axes, image: np.ndarray) -> None:
    ax.imshow(image, cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])


# ------------------------------------------------------------------------------ Fig. 2
def plot_samples(
    generated: Any,
    data: Any,
    image_shape: Sequence[int],
    *,
    labels: Sequence[str] | None = None,
    n: int = 12,
) -> Figure:
    """Fig. 2: generated samples phi(v(T)) beside data samples.

    ``generated``: a 2-D array of generated points (n x Nv, in [-1, 1]) or a sequence of them, one row of
    images each (e.g. one per run); ``data``: held-out data points (n x Nv), drawn in the first row;
    ``image_shape``: (H, W). ``labels``: one per generated array (default "generated", "generated 2", ...).
    ``n``: images per row.
    """
    rows = [host(g) for g in _one_or_many(generated, _is_array)]
    if not rows:
        raise ConfigError("plot_samples needs at least one array of generated samples.")
    names = _labels(labels, len(rows), lambda i: f"generated {i + 1}" if len(rows) > 1 else "generated")
    data_h = host(data)
    n = max(1, min(int(n), len(data_h), *(len(r) for r in rows)))
    h, w = (int(s) for s in image_shape)
    fig = new_figure(max(4.0, 0.55 * n * w / max(h, 1) + 1.5), 0.62 * (len(rows) + 1) + 0.5)
    axes = fig.subplots(len(rows) + 1, 1, squeeze=False)[:, 0]
    for ax, points, name in zip(axes, [data_h[:n], *[r[:n] for r in rows]], ["data", *names]):
        _image_axes(ax, mosaic(to_grey(points, (h, w)), n))
        ax.set_ylabel(name, rotation=0, ha="right", va="center")
    axes[0].set_title(r"data samples (top) and generated samples $\phi(\mathbf{v}(T))$")
    return fig


# ------------------------------------------------------------------------------ Fig. 3a
def plot_snapshots(snapshots: Any, t: Any, image_shape: Sequence[int], *, T: float | None = None) -> Figure:
    """Fig. 3a: samples phi(v(t)) from one set of random starts at several times t, one column per t, one
    row per start. At t >> T the dynamics has reached learned fixed points.

    ``snapshots``: (n_t, n_starts, Nv) points in [-1, 1]; ``t``: the n_t times; ``T``: the generation time
    of training (its column is marked).
    """
    snaps = host(snapshots)
    times = host(t, float).ravel()
    if snaps.ndim != 3 or snaps.shape[0] != len(times):
        raise DataError(
            f"snapshots must have shape (n_t, n_starts, Nv) with n_t = {len(times)} times, got {snaps.shape}."
        )
    n_t, n_s = snaps.shape[:2]
    h, w = (int(s) for s in image_shape)
    fig = new_figure(max(4.0, 0.8 * n_t * w / max(h, 1)), 0.75 * n_s + 0.7)
    axes = fig.subplots(1, n_t, squeeze=False)[0]
    for j, ax in enumerate(axes):
        _image_axes(ax, mosaic(to_grey(snaps[j], (h, w)), 1))
        mark = r"$\,(T)$" if T is not None and math.isclose(times[j], float(T)) else ""
        ax.set_title(f"$t={times[j]:g}$" + mark, fontsize=9)
    if T is not None:
        fig.suptitle(rf"samples from one set of random starts, $T={float(T):g}$", fontsize=10)
    return fig


# ------------------------------------------------------------------------------ Figs. 3b and 5
def _index_panels(
    curves: list[Any], names: list[str], x_key: str, x_label: str, marker_size: float, vline_key: str | None
) -> Figure:
    """One panel per index (:func:`drawn_indices` of the first curve; a 2 x 2 grid for the paper's four) of
    y = index vs x = ``curves[i][x_key]``, log x, log y for the indices registered with ``log_scale`` (E(2),
    E(s)); the value at x = 0 is drawn at the left edge (:data:`ZERO_OFFSET`, tick "0", an open square); a
    dashed vertical line at ``curves[i][vline_key]`` when given."""
    keys = drawn_indices(curves[0])
    cols = 2 if len(keys) <= 4 else 3
    rows = max(1, math.ceil(len(keys) / cols))
    fig = new_figure(4.0 * cols, 3.0 * rows)
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax in axes[len(keys) :]:
        ax.set_visible(False)
    zero_at = _zero_position(curves, x_key)
    for ax, key in zip(axes, keys):
        drawn = False
        for i, (curve, name) in enumerate(zip(curves, names)):
            color = f"C{i % 10}"
            x = host(curve[x_key], float)
            y = host(curve[key], float)
            zero = (x == 0) & np.isfinite(y) if zero_at is not None else np.zeros(x.shape, bool)
            keep = ((x > 0) & np.isfinite(y)) | zero
            if keep.any():
                drawn_x = x if zero_at is None else np.where(zero, zero_at, x)  # zero is all False without zero_at
                ax.plot(drawn_x[keep], y[keep], "o-", color=color, ms=marker_size, label=name)
                drawn = True
            if zero.any():
                ax.scatter(
                    np.full(int(zero.sum()), zero_at),
                    y[zero],
                    marker="s",
                    s=30,
                    facecolors="white",
                    edgecolors=color,
                    zorder=3,
                )
            if vline_key is not None and curve.get(vline_key) is not None:
                ax.axvline(float(host(curve[vline_key])), color=color, ls="--", lw=1)
        ax.set_xscale("log")
        if index_log_scale(key) and drawn:
            ax.set_yscale("log")
        ax.set_xlabel(x_label)
        ax.set_ylabel(index_label(key))
        if not drawn:
            _no_values(ax, key)
        _readable_log_ticks(ax, zero_at)
    axes[0].legend(fontsize=8)
    return fig


def plot_indices_vs_time(results: Any, *, labels: Sequence[str] | None = None) -> Figure:
    """Fig. 3b: the four accuracy indices vs generation time t (log t; log y for E(2) and E(s)), with a
    dashed vertical line at each run's T.

    ``results``: one mapping or a sequence of them (one curve each) with keys t, E2, Es, EAAI, ER and
    optionally T, as returned by :func:`chaossim.runs.evaluate_run.evaluate_run` and
    :func:`chaossim.runs.rundir.load_evaluation`. ``labels``: one per curve (default "run 1", ...).
    """
    curves = _one_or_many(results, _is_record)
    names = _labels(labels, len(curves), lambda i: f"run {i + 1}")
    fig = _index_panels(curves, names, "t", "$t$", 4, "T")
    start = ", open square: the random start $t=0$" if _zero_position(curves, "t") is not None else ""
    fig.suptitle(f"accuracy indices vs generation time $t$ (dashed: $t=T${start})", fontsize=10)
    return fig


def plot_training_curves(histories: Any, *, labels: Sequence[str] | None = None) -> Figure:
    """Fig. 5: the four accuracy indices at T* = T vs training step t_age, one curve per run, one panel per
    index. Log t_age, with the value at t_age = 0 (before training) drawn at the left edge as an open square
    (tick "0", :data:`ZERO_OFFSET`), so the change from step 0 shows; log y for E(2) and E(s).

    ``histories``: one mapping or a sequence of them with keys t_age, E2, Es, EAAI, ER (a checkpoint's
    ``history``, or a sweep point of the store). ``labels``: one per curve (default "run 1", ...).
    """
    curves = _one_or_many(histories, _is_record)
    for i, h in enumerate(curves):
        if "t_age" not in h or len(host(h["t_age"])) == 0:
            raise DataError(
                f"history {i + 1} has no logged indices (no t_age values); train longer (training.log_every)."
            )
    names = _labels(labels, len(curves), lambda i: f"run {i + 1}")
    fig = _index_panels(curves, names, "t_age", r"$t_{\rm age}$", 3, None)
    start = ", open square: step 0, before training" if _zero_position(curves, "t_age") is not None else ""
    fig.suptitle(rf"accuracy indices at $T^*=T$ during training (lower is better{start})", fontsize=10)
    return fig


# ------------------------------------------------------------------------------ Fig. 4
def plot_receptive_fields(
    params: Mapping[str, Any],
    image_shape: Sequence[int],
    *,
    g: float,
    n: int = 9,
    seed: int = 0,
    units: Sequence[int] | None = None,
    title: str = "receptive fields",
    part: str = "W+A",
) -> Figure:
    """Fig. 4: receptive fields (W_ia + A_ia)/g of ``n`` randomly chosen hidden units (see
    :func:`chaossim.analysis.receptive_fields`; deep model: W1 + A1; RBM: W with g = 1), diverging colour map
    centred at 0, one common colour scale.

    ``params``: the model's parameters (``model.params`` or a checkpoint's ``params``); ``g``: the model's
    gain; ``units``: the hidden units (default ``n`` drawn from ``seed``); ``part``: "W+A" (Fig. 4) or "A",
    the trained part alone (A_ia / g), which shows what training planted when the fixed W still dominates.
    """
    fields, chosen = receptive_fields(params, image_shape, n, g, units=units, seed=seed, part=part)
    if "W1" in params:
        label = r"$A^{(1)}_{ia}/g$" if part == "A" else r"$(W^{(1)}_{ia}+A^{(1)}_{ia})/g$"
    elif "A" in params:
        label = r"$A_{ia}/g$" if part == "A" else r"$(W_{ia}+A_{ia})/g$"
    else:
        label = r"$W_{ia}$"
    k = len(chosen)
    cols = math.ceil(math.sqrt(k))
    rows = math.ceil(k / cols)
    fig = new_figure(1.6 * cols + 1.2, 1.6 * rows + 0.5)
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    vmax = float(np.max(np.abs(fields))) or 1.0
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    images = [
        ax.imshow(f, cmap="RdBu_r", vmin=-vmax, vmax=vmax, interpolation="nearest") for ax, f in zip(axes, fields)
    ]
    for ax, a in zip(axes, chosen):
        ax.set_title(f"$a={int(a)}$", fontsize=9)
    for ax in axes[k:]:
        ax.set_axis_off()
    fig.colorbar(images[0], ax=list(axes), label=label, shrink=0.8)
    fig.suptitle(title, fontsize=10)
    return fig
