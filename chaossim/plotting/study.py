"""The chaos study drawn (docs/chaos_study.md): indices vs g with seed spread, the common-start control
against normal training, diversity against lambda_max, lambda_max along training; with the finite-time records,
the finite-time exponent along training, finite-time against asymptotic exponents, perturbation growth and the
detectability line.

Each function takes the tables of :mod:`chaossim.sweep.study` (xarray Datasets) and returns a Figure;
:func:`chaossim.sweep.study.study_figures` makes all of them from a sweep store's dataset. A grid dimension
``arch`` is drawn as the line style (solid: the first architecture, e.g. random couplings; dashed: the second,
e.g. symmetric ones).
"""

from __future__ import annotations

from typing import Any

import matplotlib
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from ..metrics import index_names
from .figure import host, new_figure
from .paper import index_log_scale

CONTROL = "init_spread"
ARCH = "arch"
LINESTYLES = ("-", "--", ":", "-.")


def _indices(final: Any) -> list[str]:
    """The indices of a study table (its ``index_names`` attribute, else the registered ones it holds)."""
    names = final.attrs.get("index_names", index_names())
    return [str(n) for n in names if f"{n}_mean" in final.data_vars]


def _controls(tab: Any) -> list[float]:
    return [float(e) for e in host(tab[CONTROL].values)]


def _shown_control(values: Any) -> float:
    """The init_spread a figure shows when it has room for one: 1 (independent starts) when the sweep has it,
    else its last value."""
    values = [float(e) for e in host(values)]
    return 1.0 if 1.0 in values else values[-1]


def _at_shown_control(*arrays: Any) -> tuple:
    """``arrays`` at :func:`_shown_control` of the first one's init_spread (unchanged without that dimension)."""
    if CONTROL not in arrays[0].dims:
        return arrays
    eps = _shown_control(arrays[0][CONTROL].values)
    return tuple(a.sel({CONTROL: eps}) for a in arrays)


def _style(eps: float) -> dict:
    return {"linestyle": "-", "marker": "o"} if eps == 1.0 else {"linestyle": "--", "marker": "s"}


def _label(eps: float) -> str:
    return "independent starts" if eps == 1.0 else f"common start, eps={eps:g}"


def _arches(tab: Any) -> list:
    """The architectures of a table, or [None] when it has no ``arch`` dimension."""
    return [str(a) for a in host(tab[ARCH].values)] if ARCH in tab.dims else [None]


def _at(tab: Any, arch: Any, **sel: Any) -> Any:
    """``tab`` at ``arch`` (when given) and the other selections."""
    if arch is not None:
        sel[ARCH] = arch
    return tab.sel(sel)


def _arch_style(tab: Any, arch: Any) -> dict:
    """Line style and marker of an architecture (solid circles for the first, then dashed squares...)."""
    if arch is None:
        return {}
    i = _arches(tab).index(arch)
    return {"linestyle": LINESTYLES[i % len(LINESTYLES)], "marker": "os^v"[i % 4]}


def _arch_label(arch: Any) -> str:
    return "" if arch is None else f"{arch}, "


def _bottom_legend(fig: Figure, axes: Any, ncol: int = 4) -> None:
    """One legend for the figure, below the panels (never over a curve), from the first panel's entries: at most
    ``ncol`` columns, fewer when its longest label would not fit the figure's width (8 pt text)."""
    handles, labels = axes[0].get_legend_handles_labels()
    if handles:
        column = 0.6 + 0.062 * max(len(label) for label in labels)  # inches: marker, gap and text at 8 pt
        fits = max(1, int(fig.get_figwidth() // column))
        fig.legend(handles, labels, loc="outside lower center", ncol=min(ncol, len(labels), fits), fontsize=8)


def plot_indices_vs_g(final: Any) -> Figure:
    """Each index at the end of training vs g, one colour per T, error bars the seed spread (sd) (``final``:
    :func:`chaossim.sweep.study.final_table`). Without an ``arch`` dimension: solid, training with independent
    starts; dashed, with the common-start control. With one: training with independent starts only, one line
    style per architecture."""
    ts = host(final["T"].values)
    gs = host(final["g"].values)
    colors = matplotlib.colormaps["viridis"](np.linspace(0, 0.9, len(ts)))
    names = _indices(final)
    arches = _arches(final)
    controls = _controls(final) if arches == [None] else [_shown_control(final[CONTROL].values)]
    fig = new_figure(4.0 * len(names), 4.2)
    axes = fig.subplots(1, len(names), squeeze=False)[0]
    for ax, name in zip(axes, names):
        for arch in arches:
            for eps in controls:
                for c, t in zip(colors, ts):
                    sub = _at(final, arch, **{CONTROL: eps, "T": t})
                    mean, sd = host(sub[f"{name}_mean"].values, float), host(sub[f"{name}_sd"].values, float)
                    if not np.isfinite(mean).any():
                        continue
                    style = _style(eps) if arch is None else _arch_style(final, arch)
                    label = f"{_arch_label(arch)}T={t:g}" + ("" if eps == 1.0 or arch is not None else f", eps={eps:g}")
                    ax.errorbar(gs, mean, yerr=np.nan_to_num(sd), color=c, capsize=2, ms=4, **style, label=label)
        ax.set_xlabel("g")
        ax.set_title(name)
        if index_log_scale(name):
            ax.set_yscale("log")
    _bottom_legend(fig, axes, ncol=len(ts))
    what = (
        "solid: independent starts, dashed: common-start control"
        if arches == [None]
        else f"training with independent starts; line style: {', '.join(f'{a}' for a in arches)}"
    )
    fig.suptitle(f"indices at the end of training vs g (mean ± sd over seeds; {what})", fontsize=9)
    return fig


def plot_control_vs_normal(final: Any) -> Figure:
    """Each index trained with the common-start control (vertical; its smallest init_spread) against normal
    training (horizontal), one point per (g, T[, arch]), colour g, size T, marker the architecture; points above
    the diagonal: the control learned worse."""
    eps_all = _controls(final)
    ctrl = [e for e in eps_all if e != 1.0]
    names = _indices(final)
    fig = new_figure(4.0 * len(names), 4.2)
    axes = fig.subplots(1, len(names), squeeze=False)[0]
    if 1.0 not in eps_all or not ctrl:
        axes[0].text(
            0.5, 0.5, "the sweep has no common-start control (init_spread)", ha="center", transform=axes[0].transAxes
        )
        return fig
    gs, ts = host(final["g"].values), host(final["T"].values)
    cmap = matplotlib.colormaps["plasma"]
    arches = _arches(final)
    for ax, name in zip(axes, names):
        lo, hi = np.inf, -np.inf
        for k, arch in enumerate(arches):
            x = host(_at(final, arch, **{CONTROL: 1.0})[f"{name}_mean"].transpose("g", "T").values, float)
            y = host(_at(final, arch, **{CONTROL: min(ctrl)})[f"{name}_mean"].transpose("g", "T").values, float)
            xe = host(_at(final, arch, **{CONTROL: 1.0})[f"{name}_sd"].transpose("g", "T").values, float)
            ye = host(_at(final, arch, **{CONTROL: min(ctrl)})[f"{name}_sd"].transpose("g", "T").values, float)
            ok = np.isfinite(x) & np.isfinite(y)
            if not ok.any():
                continue
            lo, hi = min(lo, x[ok].min(), y[ok].min()), max(hi, x[ok].max(), y[ok].max())
            for i, g in enumerate(gs):
                for j in range(len(ts)):
                    if ok[i, j]:
                        ax.errorbar(
                            x[i, j],
                            y[i, j],
                            xerr=np.nan_to_num(xe[i, j]),
                            yerr=np.nan_to_num(ye[i, j]),
                            fmt="os^v"[k % 4],
                            ms=3 + 2 * j,
                            color=cmap(i / max(1, len(gs) - 1) * 0.9),
                            alpha=0.8,
                            label=f"{_arch_label(arch)}g={g:g}" if j == len(ts) - 1 else None,
                        )
        if not np.isfinite(lo):
            ax.set_title(f"{name}: no values")
            continue
        ax.plot([lo, hi], [lo, hi], color="grey", lw=0.8)
        if index_log_scale(name):
            ax.set_xscale("log")
            ax.set_yscale("log")
        ax.set_xlabel(f"{name}, independent starts")
        ax.set_ylabel(f"{name}, common start eps={min(ctrl):g}")
        ax.set_title(name)
    _bottom_legend(fig, axes, ncol=len(gs))
    fig.suptitle(
        "control vs normal training (one point per g, T; marker size grows with T; mean ± sd over seeds)", fontsize=9
    )
    return fig


def plot_diversity_vs_lambda(points: Any) -> Figure:
    """Left: diversity of generated samples at t = T from a tiny generation spread, relative to independent
    starts (mean pairwise distance ratio), against lambda_max at the end of training, one marker per point.
    Right: distinct long-time states vs g for each generation spread (mean over seeds and T; training with
    independent starts when the grid has an ``arch`` dimension). The legends sit below the panels."""
    fig = new_figure(11.0, 4.8)
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
    arches = _arches(points)
    markers = "os^v"
    trainings = host(ratio[CONTROL].values)
    for k, arch in enumerate(arches):
        for m, eps in enumerate(trainings):
            for i, g in enumerate(gs):
                x = host(_at(lam, arch, **{CONTROL: eps, "g": g}).values, float).ravel()
                y = host(_at(ratio, arch, **{CONTROL: eps, "g": g}).values, float).ravel()
                color = cmap(i / max(1, len(gs) - 1) * 0.9)
                left.scatter(
                    x,
                    y,
                    s=14,
                    marker=markers[(k if arch is not None else m) % 4],
                    color=color if (arch is None or float(eps) == 1.0) else "none",
                    edgecolors=color,
                    alpha=0.8,
                )
    # a compact legend of proxies: colour is g, marker the architecture (or the training spread), fill the training
    proxy: list = [
        Line2D([], [], ls="", marker="o", color=cmap(i / max(1, len(gs) - 1) * 0.9), label=f"g={g:g}")
        for i, g in enumerate(gs)
    ]
    if arches != [None]:
        proxy += [
            Line2D([], [], ls="", marker=markers[k % 4], color="grey", label=str(arch)) for k, arch in enumerate(arches)
        ]
        proxy += [
            Line2D([], [], ls="", marker="o", color="grey", label="filled: trained with independent starts"),
            Line2D([], [], ls="", marker="o", mfc="none", color="grey", label="open: trained from a common start"),
        ]
    else:
        proxy += [
            Line2D([], [], ls="", marker=markers[m % 4], color="grey", label=f"trained {_label(float(eps))}")
            for m, eps in enumerate(trainings)
        ]
    left.axvline(0, color="grey", lw=0.8)
    left.set_yscale("log")
    left.set_xlabel("lambda_max at the end of training (1/time)")
    left.set_ylabel(f"pairwise distance at T:\nspread {small:g} / spread {max(spreads):g}")
    left.legend(handles=proxy, fontsize=7, ncol=2, loc="upper left", bbox_to_anchor=(0.0, -0.14), frameon=False)
    if "div_distinct_long" in points:
        dl = points["div_distinct_long"]
        red = [d for d in ("seed", "T") if d in dl.dims]
        dl = dl.mean(red)
        if CONTROL not in dl.dims:
            dl = dl.expand_dims({CONTROL: [1.0]})
        controls = host(dl[CONTROL].values) if arches == [None] else [_shown_control(dl[CONTROL].values)]
        for arch in arches:
            for eps in controls:
                for s in spreads:
                    style = _style(float(eps)) if arch is None else _arch_style(points, arch)
                    right.plot(
                        gs,
                        host(_at(dl, arch, **{CONTROL: eps, "spread": s}).values, float),
                        **style,
                        label=f"{_arch_label(arch)}generation spread {s:g}"
                        + ("" if arch is not None else f"; trained {_label(float(eps))}"),
                    )
        right.set_xlabel("g")
        right.set_ylabel("distinct states at t_long (of n_long runs)")
        right.legend(fontsize=7, loc="upper left", bbox_to_anchor=(0.0, -0.14), frameon=False)
    fig.suptitle("diversity from nearly equal starts vs chaos", fontsize=9)
    return fig


def plot_lambda_along_training(chaos: Any) -> Figure:
    """lambda_max of the free dynamics along training (mean ± sd over seeds), one panel per T, one colour
    per g; solid: independent starts, dashed: the common-start control (with an ``arch`` dimension: training with
    independent starts, one line style per architecture)."""
    return _along_training(chaos, "lambda_max", "t_age_chaos", "lambda_max (1/time)", "lambda_max along training")


def plot_ftle_along_training(exps: Any) -> Figure:
    """The finite-time exponent over [0, T] along training (mean ± sd over seeds; ``exps``: the ``ftle_mean`` and
    ``ftle_sd`` of :func:`chaossim.sweep.study.ftle_table`), panels and styles as :func:`plot_lambda_along_training`."""
    return _along_training(
        exps, "ftle", "t_age_ftle", "FTLE over [0, T] (1/time)", "finite-time exponent over [0, T] along training"
    )


def _along_training(tab: Any, name: str, age_dim: str, ylabel: str, title: str) -> Figure:
    if f"{name}_mean" not in tab:
        fig = new_figure(5, 3)
        ax = fig.subplots()
        ax.text(0.5, 0.5, f"no {name} records in this store", ha="center", transform=ax.transAxes)
        return fig
    ts, gs = host(tab["T"].values), host(tab["g"].values)
    age = host(tab[age_dim].values)
    fig = new_figure(3.6 * len(ts), 4.0)
    axes = fig.subplots(1, len(ts), squeeze=False, sharey=True)[0]
    cmap = matplotlib.colormaps["plasma"]
    arches = _arches(tab)
    controls = _controls(tab) if arches == [None] else [_shown_control(tab[CONTROL].values)]
    for ax, t in zip(axes, ts):
        for arch in arches:
            for eps in controls:
                for i, g in enumerate(gs):
                    sub = _at(tab, arch, **{CONTROL: eps, "T": t, "g": g})
                    mean = host(sub[f"{name}_mean"].values, float)
                    ok = np.isfinite(mean)
                    style = _style(eps) if arch is None else _arch_style(tab, arch)
                    ax.errorbar(
                        age[ok],
                        mean[ok],
                        yerr=np.nan_to_num(host(sub[f"{name}_sd"].values, float)[ok]),
                        capsize=2,
                        ms=3,
                        color=cmap(i / max(1, len(gs) - 1) * 0.9),
                        **style,
                        label=f"{_arch_label(arch)}g={g:g}" if (eps == 1.0 or arch is not None) else None,
                    )
        ax.axhline(0, color="grey", lw=0.8)
        ax.set_title(f"T = {t:g}")
        ax.set_xlabel("training step t_age")
    axes[0].set_ylabel(ylabel)
    _bottom_legend(fig, axes, ncol=len(gs))
    what = (
        "solid: independent starts, dashed: common-start control"
        if arches == [None]
        else "training with independent starts"
    )
    fig.suptitle(f"{title} (mean ± sd over seeds; {what})", fontsize=9)
    return fig


def plot_exponents(points: Any) -> Figure:
    """The finite-time exponent over [0, T] against the asymptotic exponent, one marker per point (``points``:
    :func:`chaossim.sweep.study.point_table`), filled: trained, open: untrained twin; colour g, marker the
    architecture, size T. On the diagonal the generation window sees the stationary dynamics."""
    fig = new_figure(5.6, 5.2)
    ax = fig.subplots()
    if "ftle" not in points:
        ax.text(0.5, 0.5, "no finite-time records in this store", ha="center", transform=ax.transAxes)
        return fig
    ftle, asym = _at_shown_control(points["ftle"], points["lyap_asym"])
    gs, ts = host(points["g"].values), host(points["T"].values)
    cmap = matplotlib.colormaps["plasma"]
    for k, arch in enumerate(_arches(points)):
        for i, g in enumerate(gs):
            for j, t in enumerate(ts):
                for twin in ("trained", "untrained"):
                    x = host(_at(asym, arch, g=g, T=t, twin=twin).values, float).ravel()
                    y = host(_at(ftle, arch, g=g, T=t, twin=twin).values, float).ravel()
                    _point_markers(ax, x, y, cmap(i / max(1, len(gs) - 1) * 0.9), k, arch, g, j, twin)
    lims = np.array([ax.get_xlim(), ax.get_ylim()])
    lo, hi = lims[:, 0].min(), lims[:, 1].max()
    ax.plot([lo, hi], [lo, hi], color="grey", lw=0.8)
    ax.axhline(0, color="grey", lw=0.5)
    ax.axvline(0, color="grey", lw=0.5)
    ax.set_xlabel("asymptotic exponent (1/time)")
    ax.set_ylabel("finite-time exponent over [0, T] (1/time)")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(0.0, -0.12), ncol=2, frameon=False)
    ax.set_title("FTLE vs asymptotic (filled: trained, open: untrained; size: T)", fontsize=9)
    return fig


def _point_markers(ax: Axes, x: Any, y: Any, color: Any, k: int, arch: Any, g: float, j: int, twin: str) -> None:
    """One grid cell's markers in the exponent scatter plots: colour ``color`` (from g), marker the ``k``-th
    architecture, size the ``j``-th T, filled when trained and open when untrained; labelled once per (arch, g)."""
    ax.scatter(
        x,
        y,
        s=10 + 12 * j,
        marker="os^v"[k % 4],
        color=color if twin == "trained" else "none",
        edgecolors=color,
        alpha=0.8,
        label=f"{_arch_label(arch)}g={g:g}" if (j == 0 and twin == "trained") else None,
    )


def plot_detectability(points: Any) -> Figure:
    """The detectability line: ln(d(T)/d(0)) measured from one shared start plus perturbations of size eps (one
    panel per eps) against lambda_FTLE T, one marker per point (filled: trained, open: untrained; colour g,
    marker the architecture, size T). The dotted line y = x is linear growth at the FTLE; the horizontal line
    ln(1/eps) is where a perturbation of size eps reaches O(1) by t = T: only points to its right can give
    variety from nearly equal starts."""
    if "ftle" not in points or "growth_T" not in points:
        fig = new_figure(5, 3)
        ax = fig.subplots()
        ax.text(0.5, 0.5, "no finite-time or growth records in this store", ha="center", transform=ax.transAxes)
        return fig
    ftle, grow = _at_shown_control(points["ftle"], points["growth_T"])
    spreads = [float(e) for e in host(grow["growth_spread"].values)]
    gs, ts = host(points["g"].values), host(points["T"].values)
    cmap = matplotlib.colormaps["plasma"]
    fig = new_figure(5.0 * len(spreads), 5.0)
    axes = fig.subplots(1, len(spreads), squeeze=False, sharex=True)[0]
    for ax, eps in zip(axes, spreads):
        xs, ys = [], []
        for k, arch in enumerate(_arches(points)):
            for i, g in enumerate(gs):
                for j, t in enumerate(ts):
                    for twin in ("trained", "untrained"):
                        x = t * host(_at(ftle, arch, g=g, T=t, twin=twin).values, float).ravel()
                        y = np.log(host(_at(grow, arch, g=g, T=t, twin=twin, growth_spread=eps).values, float).ravel())
                        xs.append(x)
                        ys.append(y)
                        _point_markers(ax, x, y, cmap(i / max(1, len(gs) - 1) * 0.9), k, arch, g, j, twin)
        allx = np.concatenate(xs)
        allx = allx[np.isfinite(allx)]
        span = (
            np.array([min(allx.min(), -1.0), max(allx.max(), np.log(1 / eps) + 1.0)])
            if allx.size
            else np.array([-1, 8])
        )
        ax.plot(span, span, ":", color="grey", lw=0.8, label="ln d(T)/d(0) = lambda T")
        ax.axhline(np.log(1 / eps), color="black", lw=1.0, label="ln(1/eps): d(T) = O(1)")
        ax.axvline(np.log(1 / eps), color="black", lw=0.6, linestyle="--")
        ally = np.concatenate(ys)
        ally = ally[np.isfinite(ally)]
        if ally.size:  # the measured range (the diagonal may reach far below: d(t) stops at round-off)
            ax.set_ylim(min(ally.min(), -1.0) - 1.0, max(ally.max(), np.log(1 / eps)) + 1.5)
        ax.set_xlabel("lambda_FTLE T")
        ax.set_title(f"perturbation eps = {eps:g}")
    axes[0].set_ylabel("ln d(T)/d(0), measured")
    _bottom_legend(fig, axes, ncol=6)
    fig.suptitle(
        "where the shared-start control can see chaos (filled: trained, open: untrained twin; size: T)", fontsize=9
    )
    return fig


def plot_growth(growth: Any) -> Figure:
    """d(t)/d(0) against t/T (log scale), mean over seeds (geometric), one panel per (perturbation size, T), one
    colour per g; solid: trained, dotted: untrained twin; marker the architecture (``growth``: the store's
    ``growth`` variable, training with independent starts)."""
    if "growth_at" not in growth.dims:
        fig = new_figure(5, 3)
        ax = fig.subplots()
        ax.text(0.5, 0.5, "no growth records in this store", ha="center", transform=ax.transAxes)
        return fig
    (growth,) = _at_shown_control(growth)
    if "seed" in growth.dims:
        growth = np.exp(np.log(growth).mean("seed"))
    spreads, ts, gs = host(growth["growth_spread"].values), host(growth["T"].values), host(growth["g"].values)
    at = host(growth["growth_at"].values, float)
    cmap = matplotlib.colormaps["plasma"]
    fig = new_figure(3.6 * len(ts), 3.2 * len(spreads) + 0.8)
    axes = fig.subplots(len(spreads), len(ts), squeeze=False, sharex=True, sharey=True)
    for r, eps in enumerate(spreads):
        for c, t in enumerate(ts):
            ax = axes[r, c]
            for k, arch in enumerate(_arches(growth)):
                for i, g in enumerate(gs):
                    for twin, ls in (("trained", "-"), ("untrained", ":")):
                        y = host(_at(growth, arch, growth_spread=eps, T=t, g=g, twin=twin).values, float)
                        ax.plot(
                            at,
                            y,
                            linestyle=ls,
                            marker="os^v"[k % 4],
                            ms=3,
                            color=cmap(i / max(1, len(gs) - 1) * 0.9),
                            label=f"{_arch_label(arch)}g={g:g}, {twin}",
                        )
            ax.axhline(1.0 / eps, color="black", lw=0.8)
            ax.set_yscale("log")
            ax.set_title(f"eps = {eps:g}, T = {t:g}", fontsize=8)
            if r == len(spreads) - 1:
                ax.set_xlabel("t / T")
        axes[r, 0].set_ylabel("d(t) / d(0)")
    _bottom_legend(fig, axes[0], ncol=4)
    fig.suptitle("perturbation growth from one shared start (black: d = O(1); geometric mean over seeds)", fontsize=9)
    return fig
