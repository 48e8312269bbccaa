"""The chaos study drawn (docs/chaos_study.md): indices vs g with seed spread, the common-start control
against normal training, diversity against lambda_max, lambda_max along training.

Each function takes the tables of :mod:`chaossim.sweep.study` (xarray Datasets) and returns a Figure;
:func:`chaossim.sweep.study.study_figures` makes all of them from a sweep store's dataset.
"""

from __future__ import annotations

from typing import Any

import matplotlib
import numpy as np
from matplotlib.figure import Figure

from ..metrics import index_names
from .figure import host, new_figure
from .paper import index_log_scale

CONTROL = "init_spread"


def _indices(final: Any) -> list[str]:
    """The indices of a study table (its ``index_names`` attribute, else the registered ones it holds)."""
    names = final.attrs.get("index_names", index_names())
    return [str(n) for n in names if f"{n}_mean" in final.data_vars]


def _controls(tab: Any) -> list[float]:
    return [float(e) for e in host(tab[CONTROL].values)]


def _style(eps: float) -> dict:
    return {"linestyle": "-", "marker": "o"} if eps == 1.0 else {"linestyle": "--", "marker": "s"}


def _label(eps: float) -> str:
    return "independent starts" if eps == 1.0 else f"common start, eps={eps:g}"


def plot_indices_vs_g(final: Any) -> Figure:
    """Each index at the end of training vs g, one colour per T, error bars the seed spread (sd); solid:
    training with independent starts, dashed: with the common-start control (``final``:
    :func:`chaossim.sweep.study.final_table`)."""
    ts = host(final["T"].values)
    gs = host(final["g"].values)
    colors = matplotlib.colormaps["viridis"](np.linspace(0, 0.9, len(ts)))
    names = _indices(final)
    fig = new_figure(4.0 * len(names), 3.6)
    axes = fig.subplots(1, len(names), squeeze=False)[0]
    for ax, name in zip(axes, names):
        for eps in _controls(final):
            for c, t in zip(colors, ts):
                sub = final.sel({CONTROL: eps, "T": t})
                mean, sd = host(sub[f"{name}_mean"].values, float), host(sub[f"{name}_sd"].values, float)
                if not np.isfinite(mean).any():
                    continue
                ax.errorbar(
                    gs,
                    mean,
                    yerr=np.nan_to_num(sd),
                    color=c,
                    capsize=2,
                    ms=4,
                    **_style(eps),
                    label=f"T={t:g}" + ("" if eps == 1.0 else f", eps={eps:g}"),
                )
        ax.set_xlabel("g")
        ax.set_title(name)
        if index_log_scale(name):
            ax.set_yscale("log")
    axes[0].legend(fontsize=6, ncol=2)
    fig.suptitle(
        "indices at the end of training vs g (mean ± sd over seeds; solid: independent starts, "
        "dashed: common-start control)",
        fontsize=9,
    )
    return fig


def plot_control_vs_normal(final: Any) -> Figure:
    """Each index trained with the common-start control (vertical) against normal training (horizontal), one
    point per (g, T), colour g, size T; points above the diagonal: the control learned worse."""
    eps_all = _controls(final)
    ctrl = [e for e in eps_all if e != 1.0]
    names = _indices(final)
    fig = new_figure(4.0 * len(names), 3.8)
    axes = fig.subplots(1, len(names), squeeze=False)[0]
    if 1.0 not in eps_all or not ctrl:
        axes[0].text(
            0.5, 0.5, "the sweep has no common-start control (init_spread)", ha="center", transform=axes[0].transAxes
        )
        return fig
    gs, ts = host(final["g"].values), host(final["T"].values)
    cmap = matplotlib.colormaps["plasma"]
    for ax, name in zip(axes, names):
        x = host(final[f"{name}_mean"].sel({CONTROL: 1.0}).values, float)
        y = host(final[f"{name}_mean"].sel({CONTROL: min(ctrl)}).values, float)
        xe = host(final[f"{name}_sd"].sel({CONTROL: 1.0}).values, float)
        ye = host(final[f"{name}_sd"].sel({CONTROL: min(ctrl)}).values, float)
        ok = np.isfinite(x) & np.isfinite(y)
        if not ok.any():
            ax.set_title(f"{name}: no values")
            continue
        for i, g in enumerate(gs):
            for j in range(len(ts)):
                if ok[i, j]:
                    ax.errorbar(
                        x[i, j],
                        y[i, j],
                        xerr=np.nan_to_num(xe[i, j]),
                        yerr=np.nan_to_num(ye[i, j]),
                        fmt="o",
                        ms=3 + 2 * j,
                        color=cmap(i / max(1, len(gs) - 1) * 0.9),
                        alpha=0.8,
                        label=f"g={g:g}" if j == len(ts) - 1 else None,
                    )
        lo, hi = np.nanmin([x[ok].min(), y[ok].min()]), np.nanmax([x[ok].max(), y[ok].max()])
        ax.plot([lo, hi], [lo, hi], color="grey", lw=0.8)
        if index_log_scale(name):
            ax.set_xscale("log")
            ax.set_yscale("log")
        ax.set_xlabel(f"{name}, independent starts")
        ax.set_ylabel(f"{name}, common start eps={min(ctrl):g}")
        ax.set_title(name)
    axes[0].legend(fontsize=6)
    fig.suptitle(
        "control vs normal training (one point per g, T; marker size grows with T; mean ± sd over seeds)", fontsize=9
    )
    return fig


def plot_diversity_vs_lambda(points: Any) -> Figure:
    """Left: diversity of generated samples at t = T from a tiny generation spread, relative to independent
    starts (mean pairwise distance ratio), against lambda_max at the end of training, one marker per point.
    Right: distinct long-time states vs g for each generation spread (mean over seeds and T)."""
    fig = new_figure(10.0, 3.8)
    left, right = fig.subplots(1, 2)
    if "div_distance" not in points or "lambda_max_final" not in points:
        left.text(0.5, 0.5, "no diversity records or chaos probes in this store", ha="center", transform=left.transAxes)
        return fig
    spreads = [float(s) for s in host(points["spread"].values)]
    small = min(spreads)
    dist = points["div_distance"]
    if CONTROL not in dist.dims:
        dist = dist.expand_dims({CONTROL: [1.0]})
    lam = points["lambda_max_final"]
    if CONTROL not in lam.dims:
        lam = lam.expand_dims({CONTROL: [1.0]})
    ratio = dist.sel(spread=small) / dist.sel(spread=max(spreads))
    gs = host(points["g"].values)
    cmap = matplotlib.colormaps["plasma"]
    for eps in host(ratio[CONTROL].values):
        for i, g in enumerate(gs):
            x = host(lam.sel({CONTROL: eps, "g": g}).values, float).ravel()
            y = host(ratio.sel({CONTROL: eps, "g": g}).values, float).ravel()
            left.scatter(
                x,
                y,
                s=14,
                color=cmap(i / max(1, len(gs) - 1) * 0.9),
                marker="o" if eps == 1.0 else "s",
                alpha=0.8,
                label=f"g={g:g}, {_label(float(eps))}",
            )
    left.axvline(0, color="grey", lw=0.8)
    left.set_yscale("log")
    left.set_xlabel("lambda_max at the end of training (1/time)")
    left.set_ylabel(f"pairwise distance at T:\nspread {small:g} / spread {max(spreads):g}")
    left.legend(fontsize=5, ncol=2)
    if "div_distinct_long" in points:
        dl = points["div_distinct_long"]
        red = [d for d in ("seed", "T") if d in dl.dims]
        dl = dl.mean(red)
        if CONTROL not in dl.dims:
            dl = dl.expand_dims({CONTROL: [1.0]})
        for eps in host(dl[CONTROL].values):
            for s in spreads:
                right.plot(
                    gs,
                    host(dl.sel({CONTROL: eps, "spread": s}).values, float),
                    **_style(float(eps)),
                    label=f"generation spread {s:g}; trained {_label(float(eps))}",
                )
        right.set_xlabel("g")
        right.set_ylabel("distinct states at t_long (of n_long runs)")
        right.legend(fontsize=6)
    fig.suptitle("diversity from nearly equal starts vs chaos", fontsize=9)
    return fig


def plot_lambda_along_training(chaos: Any) -> Figure:
    """lambda_max of the free dynamics along training (mean ± sd over seeds), one panel per T, one colour
    per g; solid: independent starts, dashed: the common-start control."""
    if "lambda_max_mean" not in chaos:
        fig = new_figure(5, 3)
        ax = fig.subplots()
        ax.text(
            0.5, 0.5, "no chaos probes in this store (training.chaos_every = 0)", ha="center", transform=ax.transAxes
        )
        return fig
    ts, gs = host(chaos["T"].values), host(chaos["g"].values)
    age = host(chaos["t_age_chaos"].values)
    fig = new_figure(3.6 * len(ts), 3.4)
    axes = fig.subplots(1, len(ts), squeeze=False, sharey=True)[0]
    cmap = matplotlib.colormaps["plasma"]
    for ax, t in zip(axes, ts):
        for eps in _controls(chaos):
            for i, g in enumerate(gs):
                sub = chaos.sel({CONTROL: eps, "T": t, "g": g})
                ax.errorbar(
                    age,
                    host(sub["lambda_max_mean"].values, float),
                    yerr=np.nan_to_num(host(sub["lambda_max_sd"].values, float)),
                    capsize=2,
                    ms=3,
                    color=cmap(i / max(1, len(gs) - 1) * 0.9),
                    **_style(eps),
                    label=f"g={g:g}" if eps == 1.0 else None,
                )
        ax.axhline(0, color="grey", lw=0.8)
        ax.set_title(f"T = {t:g}")
        ax.set_xlabel("training step t_age")
    axes[0].set_ylabel("lambda_max (1/time)")
    axes[0].legend(fontsize=6)
    fig.suptitle("lambda_max along training (solid: independent starts, dashed: common-start control)", fontsize=9)
    return fig
