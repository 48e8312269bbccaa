"""Sweeps: Dask-distributed grids of training runs stored as xarray datasets in one zarr store.

The only part of chaossim that imports dask, distributed, xarray and zarr (lazily: importing this
package is cheap). ``xarray.open_zarr(PATH)`` is all a notebook needs to read a sweep.
"""

from .spec import GridDim, RecordSpec, SweepSpec, load_spec, parse_spec

__all__ = [
    "GridDim",
    "RecordSpec",
    "SweepSpec",
    "load_spec",
    "parse_spec",
    "run_sweep",
    "run_point",
    "run_group",
    "compute_point",
    "plan_groups",
    "sweep_report",
    "open_sweep",
    "point_model",
    "verify_store",
]


def __getattr__(name):
    if name == "run_sweep":
        from .cluster import run_sweep

        return run_sweep
    if name in ("run_point", "run_group", "compute_point"):
        from . import point

        return getattr(point, name)
    if name == "plan_groups":
        from .groups import plan_groups

        return plan_groups
    if name == "sweep_report":
        from .report import sweep_report

        return sweep_report
    if name == "point_model":
        from .reload import point_model

        return point_model
    if name == "verify_store":
        from .verify import verify_store

        return verify_store
    if name == "open_sweep":
        from .store import open_sweep

        return open_sweep
    raise AttributeError(name)
