"""Sweep report: the best points as a text table, and the phase diagram of each index over (g, T) saved
beside the store.

Figures go to ``PATH.zarr.report/`` beside the store by default (as its checkpoints go to ``PATH.zarr.runs/``
and its lock to ``PATH.zarr.lock``), so one prefix holds everything a sweep writes and ``*.zarr.report/``
is ignored by git like the store itself.

Values are the indices at the last logged training step of each point (lower is better; docs/indices.md),
see :mod:`chaossim.summary`; the figure is
:func:`chaossim.plotting.plot_phase_diagram` (g on the vertical and T on the horizontal axis, seeds
averaged over, any other grid dimension fixed at its first value, which the figure title states).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import StoreError
from ..metrics import index
from ..summary import final_indices, fmt_value, initial_indices, phase_axes, stored_indices
from .store import DONE_VARIABLE, open_sweep

__all__ = ["best_points_table", "change_lines", "check_intact", "report_dir", "sweep_report"]


def _lower_is_better(name: str) -> bool:
    ix = index(name)
    return ix is None or ix.lower_is_better


def _direction(name: str) -> str:
    return "lower is better" if _lower_is_better(name) else "higher is better"


def best_points_table(ds, n_best: int = 5) -> str:
    """A text table of the ``n_best`` points for each index (best first: lowest, or highest for an index
    registered with ``lower_is_better=False``), plus failure counts."""
    dims = list(ds.attrs.get("grid_dims", []))
    shape = tuple(ds.sizes[d] for d in dims)
    finals = final_indices(ds)
    status = np.asarray(ds["status"].values).reshape(-1)
    coords = {d: ds[d].values for d in dims}
    lines = [
        f"sweep {ds.attrs.get('name', '')}: {int((status == 'done').sum())} done, "
        f"{int((status == 'failed').sum())} failed, {int((status == 'pending').sum())} pending "
        f"of {status.size} points"
    ]
    for n, values in finals.items():
        flat = values.reshape(-1)
        key = flat if _lower_is_better(n) else -flat
        order = [i for i in np.argsort(key, kind="stable") if np.isfinite(flat[i])][:n_best]
        if not order:
            lines.append(f"\n{n}: no values (not defined for these models, or no point done)")
            continue
        lines.append(f"\nbest by {n} at the last training step ({_direction(n)}):")
        lines.append("  " + "  ".join(f"{d:>10}" for d in dims) + f"  {n:>12}")
        for i in order:
            idx = np.unravel_index(i, shape)
            cells = "  ".join(f"{fmt_value(coords[d][j]):>10}" for d, j in zip(dims, idx))
            lines.append(f"  {cells}  {flat[i]:12.4g}")
    failed = np.flatnonzero(status == "failed")
    if failed.size:
        errors = np.asarray(ds["error"].values).reshape(-1)
        lines.append("\nfailed points:")
        for i in failed[:10]:
            idx = np.unravel_index(i, shape)
            label = ", ".join(f"{d}={fmt_value(coords[d][j])}" for d, j in zip(dims, idx))
            lines.append(f"  {label}: {str(errors[i])[:200]}")
    return "\n".join(lines)


def sweep_report(path, out_dir=None, *, n_best: int = 5, quiet: bool = False) -> list[Path]:
    """Print the best points of the sweep store ``path`` and save the phase diagram of each index.

    Figures go to ``out_dir`` (default: :func:`report_dir`, ``PATH.zarr.report/`` beside the store) as
    ``phase_diagram.png`` and ``.pdf`` (written atomically). Returns the figure paths ([] when no grid
    dimension is numeric).
    """
    from ..fs import check_writable
    from ..plotting import plot_phase_diagram, save_figure
    from .location import target

    path = Path(path) if target(path).local else target(path)
    ds = open_sweep(path)
    keep = phase_axes(ds)
    out_dir = Path(out_dir) if out_dir is not None else report_dir(path)
    if keep:
        check_writable(out_dir, "the report folder", "give --out DIR in a writable place")
    check_intact(path, ("status", "error", *stored_indices(ds)))
    table = best_points_table(ds, n_best)
    if not quiet:
        print(table)
    if not keep:
        return []
    fig = plot_phase_diagram(ds, name=ds.attrs.get("name") or Path(path.name).stem)
    paths = save_figure(fig, out_dir / "phase_diagram")
    if not quiet:
        print(f"\nphase diagram: {paths[0]} (and .pdf)")
    return paths


def change_lines(ds) -> list[str]:
    """Per index, how the points changed from step 0 to their last logged step: the median over the points and
    the best point, e.g. '  E2  median 0.012 -> 0.0051 (-58%); best g=1.5, T=50: 0.0038'."""
    dims = list(ds.attrs.get("grid_dims", []))
    finals, starts = final_indices(ds), initial_indices(ds)
    lines = []
    for n in finals:
        f, s0 = finals[n].reshape(-1), starts[n].reshape(-1)
        ok = np.isfinite(f) & np.isfinite(s0)
        if not ok.any():
            lines.append(f"  {n:<5} no values")
            continue
        a, b = float(np.median(s0[ok])), float(np.median(f[ok]))
        rel = f" ({(b - a) / abs(a) * 100:+.0f}%)" if a else ""
        best = np.argmin(f[ok]) if _lower_is_better(n) else np.argmax(f[ok])
        i = int(np.flatnonzero(ok)[best])
        idx = np.unravel_index(i, tuple(ds.sizes[d] for d in dims))
        where = ", ".join(f"{d}={fmt_value(ds[d].values[j])}" for d, j in zip(dims, idx) if ds.sizes[d] > 1)
        lines.append(
            f"  {n:<5} median over {int(ok.sum())} points {a:.4g} -> {b:.4g}{rel}; best ({where}): "
            f"{float(s0[i]):.4g} -> {float(f[i]):.4g}"
        )
    return lines


def report_dir(store) -> Path:
    """The default folder of a store's report figures: ``PATH.zarr.report/`` beside the store (for a store on an
    object store: ``NAME.zarr.report/`` in the current folder)."""
    from .location import target

    t = target(store)
    if not t.local:
        return Path.cwd() / (t.name + ".report")
    store = Path(store)
    return store.with_name(store.name + ".report")


def check_intact(path, variables) -> None:
    """Refuse (StoreError) to report from damaged chunks or from done points whose chunks are missing:
    those would read as other numbers or as NaN, and the point would silently drop out."""
    from .verify import verify_store

    report = verify_store(path, variables=[DONE_VARIABLE, *variables])
    if report.ok:
        return
    lines = report.lines(limit=3)
    shown = "; ".join(lines[:6]) + (f"; ... ({len(lines) - 6} more)" if len(lines) > 6 else "")
    raise StoreError(
        f"{path} is damaged: {shown}. Run `chaossim sweep-verify {path}` for the full list and "
        f"`chaossim sweep SWEEP.toml --store {path}` (SWEEP.toml: the spec it was made with) to re-run "
        "the damaged points."
    )
