"""Command-line hooks: ``chaossim sweep`` and ``chaossim sweep-report`` (wired by :func:`add_parsers`)."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from ..errors import ChaossimError

SWEEP_HELP = "run a grid of training runs on a Dask cluster into one zarr store (resumable)"
SWEEP_DESCRIPTION = """\
Run every point of the grid in SPEC (a TOML file, see sweeps/quickstart.toml) on a Dask cluster and
store the results in one zarr store that `xarray.open_zarr(STORE)` reads.

Running the same command again resumes: points already done are skipped, the others continue from
their checkpoints (kept in STORE.runs/). A store made from a different spec is refused.
Points that fail (e.g. diverge) are recorded with status "failed" and their error; the sweep goes on.
At the end the report (best points, phase diagram over g and T) is printed and drawn.

examples:
  chaossim sweep sweeps/quickstart.toml                      # local CPU workers, store quickstart.zarr
  chaossim sweep sweeps/paper.toml --store paper.zarr --gpus # one worker per GPU (needs chaossim[gpu])
  chaossim sweep spec.toml --scheduler tcp://head:8786       # any running Dask scheduler (SLURM, ...)
"""


def add_parsers(subparsers) -> None:
    """Register the ``sweep`` and ``sweep-report`` subcommands on an argparse subparsers object."""
    p = subparsers.add_parser("sweep", help=SWEEP_HELP, description=SWEEP_DESCRIPTION,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("spec", metavar="SPEC", help="sweep spec (TOML): [grid], fixed settings, [record]")
    p.add_argument("--store", metavar="PATH.zarr", default=None,
                   help="zarr store to create or resume (default: <SPEC stem>.zarr in the current folder)")
    p.add_argument("--workers", type=int, default=None, metavar="N",
                   help="number of local worker processes, one thread each (default: number of CPU cores)")
    p.add_argument("--gpus", action="store_true",
                   help="one worker per GPU with dask-cuda (pip install 'chaossim[gpu]'); points run on CuPy")
    p.add_argument("--scheduler", metavar="ADDRESS", default=None,
                   help="use a running Dask scheduler, e.g. tcp://host:8786 (workers must see the store's folder)")
    p.add_argument("--backend", choices=("numpy", "cupy", "auto"), default=None,
                   help="array backend of every point (default: the spec's backend.name)")
    p.add_argument("--retries", type=int, default=2, metavar="N",
                   help="retries of a task that raised a Python error (default 2)")
    p.add_argument("--dashboard", default=":8787", metavar="ADDRESS",
                   help="address of the Dask dashboard of a local cluster (default :8787; 'none' to disable)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--no-report", action="store_true", help="do not print the report nor draw the phase diagram")
    p.add_argument("--out", metavar="DIR", default=None, help="folder of the report's figures (default: <store>-report/)")
    p.set_defaults(func=cmd_sweep)

    r = subparsers.add_parser("sweep-report", help="print the best points of a sweep store and draw its phase diagram",
                              description="Print a table of the best points (by each index at the last training "
                                          "step, lower is better) and draw the phase diagram of each index over "
                                          "(g, T) as PNG and PDF. Seeds are averaged; other grid dimensions are "
                                          "fixed at their first value.")
    r.add_argument("store", metavar="PATH.zarr", help="a sweep store made by `chaossim sweep`")
    r.add_argument("--out", metavar="DIR", default=None, help="folder of the figures (default: <store>-report/)")
    r.set_defaults(func=cmd_report)


def default_store(spec_path) -> Path:
    return Path.cwd() / (Path(spec_path).stem + ".zarr")


def cmd_sweep(args) -> int:
    from .cluster import run_sweep
    from .report import sweep_report
    from .spec import load_spec

    try:
        spec = load_spec(args.spec)
        store = Path(args.store) if args.store else default_store(args.spec)
        dashboard = None if str(args.dashboard).lower() in ("none", "") else args.dashboard
        started = time.perf_counter()
        print(f"sweep {spec.name}: {spec.n_points} points over {dict(zip(spec.dims, spec.shape))} -> {store}",
              file=sys.stderr)
        result = run_sweep(spec, store, workers=args.workers, gpus=args.gpus, scheduler=args.scheduler,
                           backend=args.backend, progress=not args.no_progress, retries=args.retries,
                           dashboard_address=dashboard)
        print(f"{len(result.done)} point(s) run, {len(result.skipped)} already done, {len(result.failed)} failed "
              f"in {time.perf_counter() - started:.1f} s; store: {store}", file=sys.stderr)
        if not args.no_report:
            sweep_report(store, args.out)
    except ChaossimError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 1 if result.failed else 0


def cmd_report(args) -> int:
    from .report import sweep_report

    try:
        sweep_report(args.store, args.out)
    except ChaossimError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0
