"""The chaos study read from its sweep store: tables and numbers (docs/chaos_study.md).

A store of ``sweeps/chaos_study.toml`` (or any sweep with grid dimensions g, T, seed and, optionally,
init_spread, recorded with ``[record] spreads``) is reduced here to NumPy/xarray tables:

- :func:`final_table`: each index at the last training step, mean and seed spread (sample standard
  deviation over the seeds, NaN-aware: failed points are left out) over g x T for each init_spread;
- :func:`diversity_table`: the diversity diagnostics at t = T for each generation spread, same reduction;
- :func:`chaos_table`: lambda_max and activity variance along training;
- :func:`markdown_tables`: the g x T tables as Markdown ("mean ± sd") with and without the control.

Command line (writes the tables and the figures of :mod:`chaossim.plotting.study`)::

    python -m chaossim.sweep.study chaos_study.zarr --out docs/chaos_study
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from ..summary import final_indices, stored_indices

SEED = "seed"
CONTROL = "init_spread"
DIVERSITY = ("div_distance", "div_pr", "div_distinct", "div_distinct_long")


def _dataset(store_or_ds: Any):
    if isinstance(store_or_ds, (str, Path)):
        from .store import open_sweep

        return open_sweep(store_or_ds)
    return store_or_ds


def _with_control(da):
    """``da`` with an ``init_spread`` dimension (length 1, value 1.0, when the sweep had no control)."""
    if CONTROL not in da.dims:
        da = da.expand_dims({CONTROL: [1.0]})
    return da


def _reduce_seeds(da):
    """(mean, seed spread, count) over ``seed``, NaN-aware; the spread is the sample std (ddof = 1)."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        if SEED not in da.dims:
            return da, da * np.nan, da.notnull().astype(int)
        n = da.notnull().sum(SEED)
        return da.mean(SEED, skipna=True), da.std(SEED, ddof=1, skipna=True), n


def _order(da):
    dims = [d for d in (CONTROL, "spread", "g", "T") if d in da.dims]
    return da.transpose(*dims, ...)


def final_table(store_or_ds: Any):
    """xarray Dataset with ``<index>_mean``, ``<index>_sd`` and ``n`` (seeds with a value) over
    (init_spread, g, T): each index at its point's last logged training step (done points only)."""
    import xarray as xr

    ds = _dataset(store_or_ds)
    dims = list(ds.attrs.get("grid_dims", []))
    done = np.asarray(ds["done"].values, dtype=bool)
    finals = final_indices(ds)
    out = {}
    for name, values in finals.items():
        arr = np.where(done, values, np.nan)
        da = _with_control(xr.DataArray(arr, dims=dims, coords={d: ds[d].values for d in dims}))
        mean, sd, n = _reduce_seeds(da)
        out[f"{name}_mean"], out[f"{name}_sd"] = _order(mean), _order(sd)
        out["n"] = _order(n)
    return xr.Dataset(out, attrs={"index_names": list(finals)})


def diversity_table(store_or_ds: Any):
    """xarray Dataset with ``<diagnostic>_mean`` and ``_sd`` over (init_spread, spread, g, T) at t = T
    (``div_distinct_long``: at t_long), done points only; empty when the store has no diversity records."""
    import xarray as xr

    ds = _dataset(store_or_ds)
    out = {}
    done = ds["done"].load()
    for name in DIVERSITY:
        if name not in ds.variables:
            continue
        da = _with_control(ds[name].load().where(done))
        mean, sd, _ = _reduce_seeds(da)
        out[f"{name}_mean"], out[f"{name}_sd"] = _order(mean), _order(sd)
    return xr.Dataset(out)


def chaos_table(store_or_ds: Any):
    """xarray Dataset with ``lambda_max`` and ``activity_var`` (mean and sd over seeds) along training
    (``t_age_chaos``) over (init_spread, g, T); empty when the sweep did not probe chaos."""
    import xarray as xr

    ds = _dataset(store_or_ds)
    out = {}
    if "t_age_chaos" not in ds.dims:
        return xr.Dataset()
    done = ds["done"].load()
    for name in ("lambda_max", "activity_var"):
        da = _with_control(ds[name].load().where(done))
        mean, sd, _ = _reduce_seeds(da)
        out[f"{name}_mean"], out[f"{name}_sd"] = _order(mean), _order(sd)
    return xr.Dataset(out)


def point_table(store_or_ds: Any):
    """Per point (no seed reduction): final indices, final lambda_max, diversity at T, for scatter plots."""
    import xarray as xr

    ds = _dataset(store_or_ds)
    dims = list(ds.attrs.get("grid_dims", []))
    done = ds["done"].load()
    finals = final_indices(ds)
    out = {n: xr.DataArray(v, dims=dims, coords={d: ds[d].values for d in dims}).where(done) for n, v in finals.items()}
    if "t_age_chaos" in ds.dims:
        lam = ds["lambda_max"].load()
        out["lambda_max_final"] = lam.isel(t_age_chaos=-1, drop=True).where(done)
        out["lambda_max_start"] = lam.isel(t_age_chaos=0, drop=True).where(done)
    for name in DIVERSITY:
        if name in ds.variables:
            out[name] = ds[name].load().where(done)
    return xr.Dataset(out)


def _fmt(mean: float, sd: float, n: int) -> str:
    if not np.isfinite(mean):
        return "n/a"
    digits = 3
    text = f"{mean:.{digits}g}"
    if n > 1 and np.isfinite(sd):
        text += f" ± {sd:.2g}"
    return text


def markdown_tables(store_or_ds: Any, indices=None) -> str:
    """One Markdown table per index (default: every index of the store) and init_spread: rows g, columns T,
    cells "mean ± sd over seeds"."""
    tab = final_table(store_or_ds)
    lines = []
    for name in indices or tab.attrs["index_names"]:
        for eps in sorted(tab[CONTROL].values, reverse=True):
            sub = tab.sel({CONTROL: eps})
            what = "independent starts (init_spread = 1)" if eps == 1.0 else f"common start, init_spread = {eps:g}"
            lines.append(f"**{name}**, training with {what}:\n")
            lines.append("| g \\ T | " + " | ".join(f"{t:g}" for t in sub["T"].values) + " |")
            lines.append("|---" * (len(sub["T"]) + 1) + "|")
            for g in sub["g"].values:
                row = sub.sel(g=g)
                cells = [
                    _fmt(float(row[f"{name}_mean"].sel(T=t)), float(row[f"{name}_sd"].sel(T=t)), int(row["n"].sel(T=t)))
                    for t in sub["T"].values
                ]
                lines.append(f"| {g:g} | " + " | ".join(cells) + " |")
            lines.append("")
    return "\n".join(lines)


def diversity_markdown(store_or_ds: Any, name: str = "div_distance") -> str:
    """Markdown: ``name`` at t = T (mean ± sd over seeds) over g x T for each generation spread and init_spread."""
    tab = diversity_table(store_or_ds)
    if f"{name}_mean" not in tab:
        return ""
    lines = []
    for eps in sorted(tab[CONTROL].values, reverse=True):
        for spread in tab["spread"].values:
            sub = tab.sel({CONTROL: eps, "spread": spread})
            lines.append(f"**{name}**, trained with init_spread = {eps:g}, generation spread = {spread:g}:\n")
            lines.append("| g \\ T | " + " | ".join(f"{t:g}" for t in sub["T"].values) + " |")
            lines.append("|---" * (len(sub["T"]) + 1) + "|")
            for g in sub["g"].values:
                row = sub.sel(g=g)
                cells = [
                    _fmt(float(row[f"{name}_mean"].sel(T=t)), float(row[f"{name}_sd"].sel(T=t)), 3)
                    for t in sub["T"].values
                ]
                lines.append(f"| {g:g} | " + " | ".join(cells) + " |")
            lines.append("")
    return "\n".join(lines)


def headline(store_or_ds: Any) -> dict:
    """The numbers the conclusion is stated with (plain floats, JSON-ready), averaged over seeds and T:
    per g and init_spread the final indices, lambda_max at the start and end of training, and the
    diversity at t = T from generation spreads relative to independent starts."""
    ds = _dataset(store_or_ds)
    pts = point_table(ds)
    out: dict = {"points_done": int(np.asarray(ds["done"].values).sum()), "points": int(ds["done"].size)}
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        for name in [*stored_indices(ds), "lambda_max_start", "lambda_max_final"]:
            if name not in pts:
                continue
            da = _with_control(pts[name]).mean([d for d in ("seed", "T") if d in pts[name].dims])
            out[name] = {
                f"{float(e):g}": {f"{float(g):g}": float(da.sel({CONTROL: e, "g": g})) for g in da["g"].values}
                for e in da[CONTROL].values
            }
        if "div_distance" in pts:
            dist = _with_control(pts["div_distance"])
            ref = dist.sel(spread=1.0) if 1.0 in dist["spread"].values else None
            for name in ("div_distance", "div_distinct", "div_distinct_long", "div_pr"):
                da = _with_control(pts[name]).mean([d for d in ("seed", "T") if d in pts[name].dims])
                out[name] = {
                    f"{float(e):g}": {
                        f"{float(s):g}": {
                            f"{float(g):g}": float(da.sel({CONTROL: e, "spread": s, "g": g})) for g in da["g"].values
                        }
                        for s in da["spread"].values
                    }
                    for e in da[CONTROL].values
                }
            if ref is not None:
                ratio = (dist / ref).mean([d for d in ("seed", "T") if d in dist.dims])
                out["distance_ratio"] = {
                    f"{float(e):g}": {
                        f"{float(s):g}": {
                            f"{float(g):g}": float(ratio.sel({CONTROL: e, "spread": s, "g": g}))
                            for g in ratio["g"].values
                        }
                        for s in ratio["spread"].values
                    }
                    for e in ratio[CONTROL].values
                }
    return out


def study_figures(store_or_ds: Any) -> dict:
    """name -> matplotlib Figure of every study figure (:mod:`chaossim.plotting.study`) of a store."""
    from ..plotting import study as plots

    ds = _dataset(store_or_ds)
    final = final_table(ds)
    return {
        "indices_vs_g": plots.plot_indices_vs_g(final),
        "control_vs_normal": plots.plot_control_vs_normal(final),
        "diversity_vs_lambda": plots.plot_diversity_vs_lambda(point_table(ds)),
        "lambda_along_training": plots.plot_lambda_along_training(chaos_table(ds)),
    }


def write_report(store, out_dir) -> list[Path]:
    """Tables (``tables.md``), headline numbers (``numbers.json``) and the figures of
    :mod:`chaossim.plotting.study` (PNG) of the study in ``store``, written into ``out_dir``."""
    from ..io import atomic_write_bytes, atomic_write_text

    ds = _dataset(store)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    text = "# Indices at the last training step (mean ± sd over seeds)\n\n" + markdown_tables(ds)
    div = diversity_markdown(ds)
    if div:
        text += "\n# Diversity at t = T (mean pairwise distance of phi(v))\n\n" + div
    atomic_write_text(out_dir / "tables.md", text)
    written.append(out_dir / "tables.md")
    atomic_write_text(out_dir / "numbers.json", json.dumps(headline(ds), indent=1, sort_keys=True) + "\n")
    written.append(out_dir / "numbers.json")
    import io

    for name, fig in study_figures(ds).items():
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=110)
        atomic_write_bytes(out_dir / f"{name}.png", buf.getvalue())
        written.append(out_dir / f"{name}.png")
    return written


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m chaossim.sweep.study",
        description="Tables (tables.md), headline numbers (numbers.json) and figures (PNG) of the chaos study "
        "(docs/chaos_study.md) from its sweep store.",
    )
    parser.add_argument("store", help="the sweep store, e.g. chaos_study.zarr")
    parser.add_argument("--out", default=None, help="folder for the outputs (default: STORE's name + '-study')")
    args = parser.parse_args(argv)
    from ..errors import ChaossimError

    store = Path(args.store)
    out = Path(args.out) if args.out else store.with_name(store.stem + "-study")
    try:
        for path in write_report(store, out):
            print(path)
    except ChaossimError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
