"""Sweep report: the best points and the phase diagram of each index over (g, T).

Values are the indices at the last logged training step of each point (lower is better; SPEC
"Accuracy indices"). The phase diagram puts g on the vertical and T on the horizontal axis (or,
without both, the first two grid dimensions with more than one number; one such dimension gives
curves). Other grid dimensions: ``seed`` is averaged over (NaN-aware, failed points left out);
any other dimension is fixed at its FIRST value, which the figure title states.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..errors import StoreError
from ..evaluation import INDEX_NAMES
from .store import DONE_VARIABLE, open_sweep

AVERAGED_DIMS = ("seed",)


def final_indices(ds) -> dict:
    """name -> grid-shaped NumPy array of each index at its point's last logged training step."""
    out = {}
    for n in INDEX_NAMES:
        a = np.asarray(ds[n].values, dtype=float)  # (grid..., t_age)
        ok = np.isfinite(a)
        last = np.where(ok.any(-1), a.shape[-1] - 1 - np.argmax(ok[..., ::-1], axis=-1), 0)
        vals = np.take_along_axis(a, last[..., None], axis=-1)[..., 0]
        out[n] = np.where(ok.any(-1), vals, np.nan)
    return out


def best_points_table(ds, n_best: int = 5) -> str:
    """A text table of the ``n_best`` points for each index (lower is better), plus failure counts."""
    dims = list(ds.attrs.get("grid_dims", []))
    shape = tuple(ds.sizes[d] for d in dims)
    finals = final_indices(ds)
    status = np.asarray(ds["status"].values).reshape(-1)
    coords = {d: ds[d].values for d in dims}
    lines = [f"sweep {ds.attrs.get('name', '')}: {int((status == 'done').sum())} done, "
             f"{int((status == 'failed').sum())} failed, {int((status == 'pending').sum())} pending "
             f"of {status.size} points"]
    for n in INDEX_NAMES:
        flat = finals[n].reshape(-1)
        order = [i for i in np.argsort(flat, kind="stable") if np.isfinite(flat[i])][:n_best]
        if not order:
            lines.append(f"\n{n}: no values (not defined for these models, or no point done)")
            continue
        lines.append(f"\nbest by {n} at the last training step (lower is better):")
        lines.append("  " + "  ".join(f"{d:>10}" for d in dims) + f"  {n:>12}")
        for i in order:
            idx = np.unravel_index(i, shape)
            cells = "  ".join(f"{_fmt(coords[d][j]):>10}" for d, j in zip(dims, idx))
            lines.append(f"  {cells}  {flat[i]:12.4g}")
    failed = np.flatnonzero(status == "failed")
    if failed.size:
        errors = np.asarray(ds["error"].values).reshape(-1)
        lines.append("\nfailed points:")
        for i in failed[:10]:
            idx = np.unravel_index(i, shape)
            label = ", ".join(f"{d}={_fmt(coords[d][j])}" for d, j in zip(dims, idx))
            lines.append(f"  {label}: {str(errors[i])[:200]}")
    return "\n".join(lines)


def _fmt(v) -> str:
    if isinstance(v, (float, np.floating)):
        return f"{float(v):g}"
    return str(v)


def _axes_dims(ds, dims):
    numeric = [d for d in dims if ds.sizes[d] > 1 and np.asarray(ds[d].values).dtype.kind in "iuf"
               and d not in AVERAGED_DIMS]
    if "g" in numeric and "T" in numeric:
        return "g", "T"
    return tuple(numeric[:2])


def reduce_for_plot(ds, values: np.ndarray, keep: tuple) -> tuple[np.ndarray, list[str]]:
    """Average ``values`` (grid-shaped) over seed, take the first value of other dims not in ``keep``."""
    dims = list(ds.attrs.get("grid_dims", []))
    notes = []
    arr = values
    for d in reversed(dims):
        if d in keep:
            continue
        ax = dims.index(d)
        if d in AVERAGED_DIMS:
            with np.errstate(all="ignore"):
                import warnings
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)
                    arr = np.nanmean(arr, axis=ax)
            if ds.sizes[d] > 1:
                notes.append(f"mean over {ds.sizes[d]} {d}s")
        else:
            arr = np.take(arr, 0, axis=ax)
            if ds.sizes[d] > 1:
                notes.append(f"{d}={_fmt(ds[d].values[0])}")
    order = [d for d in dims if d in keep]
    if list(keep) != order:
        arr = np.transpose(arr, [order.index(d) for d in keep])
    return arr, notes


def sweep_report(path, out_dir=None, *, n_best: int = 5, quiet: bool = False) -> list[Path]:
    """Print the best points of the sweep store ``path`` and draw the phase diagram of each index.

    Figures go to ``out_dir`` (default: ``<store name without .zarr>-report/`` next to the store) as
    ``phase_diagram.png`` and ``.pdf``. Returns the figure paths ([] when no grid dimension is numeric).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..fs import check_writable

    path = Path(path)
    ds = open_sweep(path)
    dims = list(ds.attrs.get("grid_dims", []))
    keep = _axes_dims(ds, dims)
    out_dir = Path(out_dir) if out_dir is not None else path.with_name(path.name.removesuffix(".zarr") + "-report")
    if keep:
        check_writable(out_dir, "the report folder", "give --out DIR in a writable place")
    check_intact(path, ("status", "error", *INDEX_NAMES))
    table = best_points_table(ds, n_best)
    if not quiet:
        print(table)
    if not keep:
        return []
    out_dir.mkdir(parents=True, exist_ok=True)
    finals = final_indices(ds)
    fig, axes = plt.subplots(1, len(INDEX_NAMES), figsize=(4.2 * len(INDEX_NAMES), 3.8), squeeze=False)
    notes = []
    for ax, n in zip(axes[0], INDEX_NAMES):
        arr, notes = reduce_for_plot(ds, finals[n], keep)
        if not np.isfinite(arr).any():
            ax.text(0.5, 0.5, f"{n}: no values", ha="center", va="center", transform=ax.transAxes)
            ax.set_axis_off()
            continue
        if len(keep) == 2:
            _heatmap(fig, ax, arr, ds[keep[0]].values, ds[keep[1]].values, keep, n)
        else:
            ax.plot(ds[keep[0]].values, arr, "o-")
            ax.set_xlabel(keep[0])
            ax.set_ylabel(n)
            ax.set_title(n)
    title = f"{ds.attrs.get('name', path.stem)}: indices at the last training step (lower is better)"
    if notes:
        title += " [" + ", ".join(notes) + "]"
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    paths = [out_dir / "phase_diagram.png", out_dir / "phase_diagram.pdf"]
    for p in paths:
        fig.savefig(p, dpi=120)
    plt.close(fig)
    if not quiet:
        print(f"\nphase diagram: {paths[0]} (and .pdf)")
    return paths


def check_intact(path, variables) -> None:
    """Refuse (StoreError) to report from damaged chunks or from done points whose chunks are missing:
    those would read as other numbers or as NaN, and the point would silently drop out."""
    from .verify import verify_store

    report = verify_store(path, variables=[DONE_VARIABLE, *variables])
    if report.ok:
        return
    lines = report.lines(limit=3)
    shown = "; ".join(lines[:6]) + (f"; ... ({len(lines) - 6} more)" if len(lines) > 6 else "")
    raise StoreError(f"{path} is damaged: {shown}. Run `chaossim sweep-verify {path}` for the full list and "
                     f"`chaossim sweep SPEC --store {path}` (the spec it was made with) to re-run the damaged points.")


def _heatmap(fig, ax, arr, yvals, xvals, keep, name):
    masked = np.ma.masked_invalid(arr)
    cmap = __import__("matplotlib").colormaps["viridis"].with_extremes(bad="lightgrey")
    im = ax.imshow(masked, origin="lower", aspect="auto", cmap=cmap)
    ax.set_xticks(range(len(xvals)), [_fmt(v) for v in xvals])
    ax.set_yticks(range(len(yvals)), [_fmt(v) for v in yvals])
    ax.set_xlabel(keep[1])
    ax.set_ylabel(keep[0])
    ax.set_title(name)
    finite = arr[np.isfinite(arr)]
    mid = (finite.min() + finite.max()) / 2 if finite.size else 0
    for i in range(arr.shape[0]):
        for j in range(arr.shape[1]):
            v = arr[i, j]
            text = "n/a" if not math.isfinite(v) else f"{v:.2g}"
            ax.text(j, i, text, ha="center", va="center", fontsize=7,
                    color="black" if (not math.isfinite(v) or v > mid) else "white")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
