"""The chaos study read from its sweep store: tables and numbers (docs/chaos_study.md).

A store of ``sweeps/chaos_study.toml`` (or any sweep with grid dimensions g, T, seed and, optionally,
init_spread, recorded with ``[record] spreads``) is reduced here to NumPy/xarray tables:

- :func:`final_table`: each index at the last training step, mean and seed spread (sample standard
  deviation over the seeds, NaN-aware: failed points are left out) over g x T for each init_spread;
- :func:`diversity_table`: the diversity diagnostics at t = T for each generation spread, same reduction;
- :func:`chaos_table`: lambda_max and activity variance along training (:func:`ftle_table`: the finite-time
  exponent along training);
- :func:`markdown_tables`: the g x T tables as Markdown ("mean ± sd") with and without the control;
- with the finite-time records (:mod:`chaossim.sweep.ftle`): :func:`exponent_table` (finite-time and asymptotic
  exponents of the trained models and of their untrained twins), :func:`exponent_markdown` and
  :func:`detectability_markdown` (lambda T against ln(1/eps): where the shared-start control can see chaos).

A grid dimension ``arch`` (e.g. random against symmetric couplings, ``restricted-symmetric``) gives one table
per architecture.

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
ARCH = "arch"
DIVERSITY = ("div_distance", "div_pr", "div_distinct", "div_distinct_long")
EXPONENTS = ("ftle", "ftle_spread", "lyap_asym", "lyap_asym_converged", "growth_T")


def _arches(da) -> list:
    """The architectures of a table (its ``arch`` coordinate), or [None] when it has none."""
    return [str(a) for a in da[ARCH].values] if ARCH in da.dims else [None]


def _at_arch(da, arch):
    return da if arch is None else da.sel({ARCH: arch})


def _arch_title(arch) -> str:
    if arch is None:
        return ""
    from ..archs import lookup

    try:
        return f", {lookup(arch).display}"
    except Exception:  # an architecture of a user's file that is not importable here
        return f", {arch}"


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
    dims = [d for d in (ARCH, CONTROL, "spread", "g", "T") if d in da.dims]
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


def ftle_table(store_or_ds: Any):
    """xarray Dataset with ``ftle_mean`` and ``ftle_sd`` (mean and sd over seeds of the finite-time exponent over
    [0, T]) along training (``t_age_ftle``) over (arch, init_spread, g, T); empty without finite-time records."""
    import xarray as xr

    ds = _dataset(store_or_ds)
    if "ftle" not in ds.variables:
        return xr.Dataset()
    mean, sd, _ = _reduce_seeds(_with_control(ds["ftle"].load().where(ds["done"].load())))
    return xr.Dataset({"ftle_mean": _order(mean), "ftle_sd": _order(sd)})


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
    out.update(_exponent_points(ds, done))
    return xr.Dataset(out)


def _exponent_points(ds, done) -> dict:
    """The finite-time records per point with a ``twin`` dimension (trained, untrained): ``ftle`` and
    ``ftle_spread`` (its sd over starts) at the last step and at step 0, ``lyap_asym``, ``lyap_asym_converged``
    and ``growth_T`` (d(T)/d(0), over ``growth_spread``); nothing for a store without them."""
    import xarray as xr

    out = {}
    if "ftle" in ds.variables:
        for name, var in (("ftle", "ftle"), ("ftle_spread", "ftle_sd")):
            a = ds[var].load()
            ok = np.isfinite(a.values)
            last = np.where(ok.any(-1), a.shape[-1] - 1 - np.argmax(ok[..., ::-1], axis=-1), 0)
            trained = np.take_along_axis(a.values, last[..., None], axis=-1)[..., 0]
            untrained = a.sel(t_age_ftle=0).values if 0 in a["t_age_ftle"].values else np.full(trained.shape, np.nan)
            dims = a.dims[:-1]
            both = xr.DataArray(
                np.stack([trained, untrained], axis=-1),
                dims=(*dims, "twin"),
                coords={**{d: ds[d].values for d in dims}, "twin": ds["twin"].values},
            )
            out[name] = both.where(done)
        for name in ("lyap_asym", "lyap_asym_converged"):
            out[name] = ds[name].load().where(done)
    if "growth" in ds.variables and 1.0 in ds["growth_at"].values:
        out["growth_T"] = ds["growth"].sel(growth_at=1.0, drop=True).load().where(done)
    return out


def exponent_table(store_or_ds: Any):
    """xarray Dataset over (arch, init_spread, g, T, twin): ``ftle_mean``/``_sd`` (the finite-time exponent over
    [0, T]: mean and sd over seeds of each point's mean over starts), ``ftle_spread`` (the mean over seeds of the
    sd over starts), ``lyap_asym_mean``/``_sd``, ``converged`` and ``n`` (seeds with a converged asymptotic
    estimate, and with a value); empty for a store without finite-time records."""
    import xarray as xr

    pts = point_table(store_or_ds)
    if "ftle" not in pts:
        return xr.Dataset()
    out = {}
    for name in ("ftle", "lyap_asym"):
        mean, sd, n = _reduce_seeds(_with_control(pts[name]))
        out[f"{name}_mean"], out[f"{name}_sd"] = _order(mean), _order(sd)
        out["n"] = _order(n)
    out["ftle_spread"] = _order(_reduce_seeds(_with_control(pts["ftle_spread"]))[0])
    conv = _with_control(pts["lyap_asym_converged"])
    out["converged"] = _order(conv.sum(SEED) if SEED in conv.dims else conv)
    return xr.Dataset(out)


def exponent_markdown(store_or_ds: Any, init_spread: float = 1.0) -> str:
    """Markdown: per T, rows (architecture, g), the finite-time exponent over [0, T] and the asymptotic exponent of
    the untrained twins and of the trained models (trained with ``init_spread``), per unit time, mean ± sd over
    seeds; an asymptotic cell says how many seeds converged when not all did."""
    tab = exponent_table(store_or_ds)
    if "ftle_mean" not in tab:
        return ""
    tab = tab.sel({CONTROL: init_spread}) if init_spread in tab[CONTROL].values else tab.isel({CONTROL: -1})
    lines = []
    for t in tab["T"].values:
        lines.append(
            f"**Lyapunov exponents at T = {t:g}** (per unit time; training with init_spread = "
            f"{float(tab[CONTROL]):g}; FTLE over [0, T]; asymptotic after the burn-in):\n"
        )
        lines.append("| couplings | g | FTLE untrained | FTLE trained | asymptotic untrained | asymptotic trained |")
        lines.append("|---|---|---|---|---|---|")
        for arch in _arches(tab):
            for g in tab["g"].values:
                sub = _at_arch(tab, arch).sel(g=g, T=t)
                cells = []
                for name in ("ftle", "lyap_asym"):
                    for twin in ("untrained", "trained"):
                        c = sub.sel(twin=twin)
                        n = int(c["n"])
                        text = _fmt(float(c[f"{name}_mean"]), float(c[f"{name}_sd"]), n, signed=True)
                        if name == "lyap_asym" and int(c["converged"]) < n:
                            text += f" ({int(c['converged'])}/{n} converged)"
                        cells.append(text)
                lines.append(f"| {_arch_title(arch)[2:] or '-'} | {g:g} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def detectability_markdown(store_or_ds: Any, init_spread: float = 1.0) -> str:
    """Markdown: per (architecture, g, T), lambda_FTLE T of the untrained twin and the trained model against
    ln(1/eps) for each perturbation size eps of ``growth_spreads``, and the measured ln(d(T)/d(0)) (means over
    seeds): a perturbation of size eps reaches O(1) by t = T only where lambda T >= ln(1/eps)."""
    pts = point_table(store_or_ds)
    if "ftle" not in pts or "growth_T" not in pts:
        return ""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        lam_t = _with_control(pts["ftle"] * pts["T"]).mean(SEED)
        grow = _with_control(np.log(pts["growth_T"])).mean(SEED)
    eps = init_spread if init_spread in lam_t[CONTROL].values else float(lam_t[CONTROL][-1])
    lam_t, grow = lam_t.sel({CONTROL: eps}), grow.sel({CONTROL: eps})
    spreads = [float(e) for e in grow["growth_spread"].values]
    head = " | ".join(
        f"ln d(T)/d(0), eps = {e:g} (ln 1/eps = {np.log(1 / e):.1f}): untrained, trained" for e in spreads
    )
    lines = [
        f"**Detectability** (training with init_spread = {eps:g}; means over seeds):\n",
        f"| couplings | g | T | lambda T untrained | lambda T trained | {head} |",
        "|---" * (5 + len(spreads)) + "|",
    ]
    for arch in _arches(lam_t):
        for g in lam_t["g"].values:
            for t in lam_t["T"].values:
                lt = _at_arch(lam_t, arch).sel(g=g, T=t)
                gt = _at_arch(grow, arch).sel(g=g, T=t)
                cells = [f"{float(lt.sel(twin=w)):+.2f}" for w in ("untrained", "trained")]
                cells += [
                    ", ".join(f"{float(gt.sel(twin=w, growth_spread=e)):+.2f}" for w in ("untrained", "trained"))
                    for e in spreads
                ]
                lines.append(f"| {_arch_title(arch)[2:] or '-'} | {g:g} | {t:g} | " + " | ".join(cells) + " |")
    lines.append("")
    return "\n".join(lines)


def _fmt(mean: float, sd: float, n: int, signed: bool = False) -> str:
    if not np.isfinite(mean):
        return "n/a"
    digits = 3
    text = f"{mean:+.{digits}g}" if signed else f"{mean:.{digits}g}"
    if n > 1 and np.isfinite(sd):
        text += f" ± {sd:.2g}"
    return text


def _g_by_t(lines: list, title: str, sub, name: str, n=None) -> None:
    """A Markdown table of ``name`` ("mean ± sd") with rows g and columns T, under ``title``."""
    lines.append(f"{title}:\n")
    lines.append("| g \\ T | " + " | ".join(f"{t:g}" for t in sub["T"].values) + " |")
    lines.append("|---" * (len(sub["T"]) + 1) + "|")
    for g in sub["g"].values:
        row = sub.sel(g=g)
        cells = [
            _fmt(
                float(row[f"{name}_mean"].sel(T=t)),
                float(row[f"{name}_sd"].sel(T=t)),
                int(row["n"].sel(T=t)) if n is None else n,
            )
            for t in sub["T"].values
        ]
        lines.append(f"| {g:g} | " + " | ".join(cells) + " |")
    lines.append("")


def markdown_tables(store_or_ds: Any, indices=None) -> str:
    """One Markdown table per index (default: every index of the store), architecture and init_spread: rows g,
    columns T, cells "mean ± sd over seeds"."""
    tab = final_table(store_or_ds)
    lines: list[str] = []
    for name in indices or tab.attrs["index_names"]:
        for arch in _arches(tab):
            for eps in sorted(tab[CONTROL].values, reverse=True):
                what = "independent starts (init_spread = 1)" if eps == 1.0 else f"common start, init_spread = {eps:g}"
                sub = _at_arch(tab, arch).sel({CONTROL: eps})
                _g_by_t(lines, f"**{name}**{_arch_title(arch)}, training with {what}", sub, name)
    return "\n".join(lines)


def diversity_markdown(store_or_ds: Any, name: str = "div_distance") -> str:
    """Markdown: ``name`` at t = T (mean ± sd over seeds) over g x T for each architecture, generation spread and
    init_spread."""
    tab = diversity_table(store_or_ds)
    if f"{name}_mean" not in tab:
        return ""
    lines: list[str] = []
    for arch in _arches(tab):
        for eps in sorted(tab[CONTROL].values, reverse=True):
            for spread in tab["spread"].values:
                sub = _at_arch(tab, arch).sel({CONTROL: eps, "spread": spread})
                title = (
                    f"**{name}**{_arch_title(arch)}, trained with init_spread = {eps:g}, generation spread = {spread:g}"
                )
                _g_by_t(lines, title, sub, name, n=3)
    return "\n".join(lines)


def _key(v) -> str:
    return str(v) if isinstance(v, str) else f"{float(v):g}"


def _nested(da, order) -> Any:
    """``da`` as nested dicts over the dimensions ``order`` (those it has), keys the coordinate values."""
    order = [d for d in order if d in da.dims]
    if not order:
        return float(da)
    d = order[0]
    return {_key(v): _nested(da.sel({d: v}), order[1:]) for v in da[d].values}


NESTING = (ARCH, CONTROL, "twin", "spread", "growth_spread", "g", "T")


def headline(store_or_ds: Any) -> dict:
    """The numbers the conclusion is stated with (plain floats, JSON-ready), means over seeds, nested by
    architecture (when on the grid), init_spread, [twin | generation spread], g and T: the final indices,
    lambda_max at the start and end of training, the diversity at t = T (and relative to independent starts),
    and, with the finite-time records, the finite-time and asymptotic exponents of the trained models and their
    untrained twins, the fraction of converged asymptotic estimates, lambda_FTLE T and ln(d(T)/d(0))."""
    ds = _dataset(store_or_ds)
    pts = point_table(ds)
    out: dict = {"points_done": int(np.asarray(ds["done"].values).sum()), "points": int(ds["done"].size)}
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        names = [*stored_indices(ds), "lambda_max_start", "lambda_max_final", *DIVERSITY, *EXPONENTS]
        for name in names:
            if name in pts:
                out[name] = _nested(
                    _with_control(pts[name]).mean(SEED) if SEED in pts[name].dims else pts[name], NESTING
                )
        if "div_distance" in pts and 1.0 in pts["spread"].values:
            dist = _with_control(pts["div_distance"])
            ratio = dist / dist.sel(spread=1.0)
            out["distance_ratio"] = _nested(ratio.mean(SEED) if SEED in ratio.dims else ratio, NESTING)
        if "ftle" in pts:
            out["ftle_T"] = _nested(_with_control(pts["ftle"] * pts["T"]).mean(SEED), NESTING)
        if "growth_T" in pts:
            out["ln_growth_T"] = _nested(_with_control(np.log(pts["growth_T"])).mean(SEED), NESTING)
    return out


def study_figures(store_or_ds: Any) -> dict:
    """name -> matplotlib Figure of every study figure (:mod:`chaossim.plotting.study`) of a store."""
    from ..plotting import study as plots

    ds = _dataset(store_or_ds)
    final, points = final_table(ds), point_table(ds)
    figures = {
        "indices_vs_g": plots.plot_indices_vs_g(final),
        "control_vs_normal": plots.plot_control_vs_normal(final),
        "diversity_vs_lambda": plots.plot_diversity_vs_lambda(points),
        "lambda_along_training": plots.plot_lambda_along_training(chaos_table(ds)),
    }
    if "ftle" in ds.variables:
        figures["ftle_along_training"] = plots.plot_ftle_along_training(ftle_table(ds))
        figures["exponents"] = plots.plot_exponents(points)
    if "growth" in ds.variables:
        figures["detectability"] = plots.plot_detectability(points)
        figures["growth"] = plots.plot_growth(ds["growth"].load().where(ds["done"].load()))
    return figures


def write_report(store, out_dir) -> list[Path]:
    """Tables (``tables.md``), headline numbers (``numbers.json``) and the figures of
    :mod:`chaossim.plotting.study` (PNG) of the study in ``store``, written into ``out_dir``."""
    from ..io import atomic_write_bytes, atomic_write_text

    ds = _dataset(store)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    text = "# Indices at the last training step (mean ± sd over seeds)\n\n" + markdown_tables(ds)
    ex = exponent_markdown(ds)
    if ex:
        text = "# Lyapunov exponents: trained and untrained, finite-time and asymptotic\n\n" + ex + "\n"
        text += detectability_markdown(ds) + "\n" + "# Indices at the last training step (mean ± sd over seeds)\n\n"
        text += markdown_tables(ds)
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
