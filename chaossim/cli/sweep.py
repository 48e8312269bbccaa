"""``chaossim sweep``, ``sweep-report`` and ``sweep-verify`` (docs/sweeps.md), wired by :func:`add_parsers`.

Errors are reported by :func:`chaossim.cli.app.run_command` (one line, exit status 1; `chaossim --help`).
The sweep modules (and with them Dask) are imported only when one of these commands runs.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from pathlib import Path
from typing import Any

SWEEP_HELP = "run a grid of training runs on a Dask cluster into one zarr store (resumable)"
SWEEP_DESCRIPTION = """\
Run every point of the grid in SWEEP.toml (a TOML file, see sweeps/quickstart.toml) on a Dask cluster and
store the results in one zarr store that `xarray.open_zarr(PATH.zarr)` reads.

Running the same command again resumes: every chunk of the store is verified, points done and intact
are skipped, the others (pending, failed, or damaged on disk) continue from their checkpoints (kept in
PATH.zarr.runs/); missing or changed metadata is rebuilt from the spec. A store made from a different spec
(or the same grid in another order), or whose points were trained on other data than the spec now loads, is
refused. --dry-run checks the whole spec and lays the store out in a temporary folder, training nothing.
One client per store: a second one is refused while PATH.zarr.lock names a running sweep (a lock left by a
crashed client is taken over); tasks of a client that has gone write nothing more. Local clusters listen
on 127.0.0.1 only.
Points that differ only in g and seed are trained together as one ensemble (one task, one batched
step; on CuPy always, on NumPy for small models; --no-ensembles to turn off, --group-size to cap);
their results are those of the points trained alone, and each keeps its own checkpoints.
Points that fail (e.g. diverge) are recorded with status "failed" and their error; the sweep goes on,
prints one line per failed point and appends the full tracebacks to PATH.zarr.log. Exit status 1 when a
point failed. At the end the report (best points, phase diagram over g and T) is printed and drawn.

examples:
  chaossim sweep sweeps/quickstart.toml                      # local CPU workers, store quickstart.zarr
  chaossim sweep sweeps/paper.toml --store paper.zarr --gpus # one worker per GPU (needs chaossim[gpu])
  chaossim sweep spec.toml --scheduler tcp://head:8786       # any running Dask scheduler (SLURM, ...)
  chaossim sweep sweeps/paper.toml --dry-run                 # check the whole spec, train nothing
"""


def _count(minimum: int, what: str):
    """An argparse type: an integer >= ``minimum``, refused by the parser (one line, exit status 2) before
    anything is read or written."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < minimum:
            raise argparse.ArgumentTypeError(f"must be an integer >= {minimum} ({what}), got {text!r}")
        return value

    return parse


def add_parsers(subparsers) -> None:
    """Register the ``sweep`` and ``sweep-report`` subcommands on an argparse subparsers object."""
    p = subparsers.add_parser(
        "sweep", help=SWEEP_HELP, description=SWEEP_DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("spec", metavar="SWEEP.toml", help="sweep spec (TOML): [grid], fixed settings, [record]")
    p.add_argument(
        "--store",
        metavar="PATH.zarr",
        default=None,
        help="zarr store to create or resume (default: <SWEEP.toml stem>.zarr in the current folder)",
    )
    p.add_argument(
        "--workers",
        type=_count(1, "local worker processes"),
        default=None,
        metavar="N",
        help="number of local worker processes, one thread each (default: number of CPU cores)",
    )
    p.add_argument(
        "--gpus",
        action="store_true",
        help="one worker per GPU with dask-cuda (pip install 'chaossim[gpu]'); points run on CuPy",
    )
    p.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        default=None,
        help="use a running Dask scheduler, e.g. tcp://host:8786 (workers must see the store's folder)",
    )
    p.add_argument(
        "--backend",
        choices=("numpy", "cupy", "auto"),
        default=None,
        help="array backend of every point (default: the spec's backend.name)",
    )
    ens = p.add_mutually_exclusive_group()
    ens.add_argument(
        "--no-ensembles",
        dest="ensembles",
        action="store_false",
        default=None,
        help="train every point in its own task (default: points equal up to g and seed are trained "
        "together as one ensemble, in one task, on CuPy, and on NumPy for small models, where "
        "that measured faster)",
    )
    ens.add_argument(
        "--ensembles",
        dest="ensembles",
        action="store_true",
        default=None,
        help="group points into ensembles whatever the model size, also on NumPy",
    )
    p.add_argument(
        "--group-size",
        type=_count(1, "points per ensemble"),
        default=None,
        metavar="N",
        help="at most N points per ensemble (default: what fits 4 GiB of device memory, at most 128)",
    )
    p.add_argument(
        "--retries",
        type=_count(0, "retries per task"),
        default=2,
        metavar="N",
        help="retries of a task that raised a Python error (default 2)",
    )
    p.add_argument(
        "--dashboard",
        default="127.0.0.1:8787",
        metavar="ADDRESS",
        help="address of the Dask dashboard of a local cluster (default 127.0.0.1:8787: this machine only, another "
        "port if it is taken; ':8787' listens on every interface; 'none': no dashboard). The address it really "
        "listens on is printed",
    )
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="check the whole spec (every point, every dataset, every model shape), lay the store out in a "
        "temporary folder and verify it, group the points; with an existing --store, check that a re-run would "
        "be accepted. Trains and writes nothing",
    )
    _storage_option(p)
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--no-report", action="store_true", help="do not print the report nor draw the phase diagram")
    p.add_argument(
        "--out", metavar="DIR", default=None, help="folder of the report's figures (default: PATH.zarr.report/)"
    )
    p.set_defaults(func=cmd_sweep)

    r = subparsers.add_parser(
        "sweep-report",
        help="print the best points of a sweep store and draw its phase diagram",
        description="Print a table of the best points (by each index at the last training "
        "step, lower is better) and draw the phase diagram of each index over "
        "(g, T) as PNG and PDF. Seeds are averaged; other grid dimensions are "
        "fixed at their first value.",
    )
    r.add_argument("store", metavar="PATH.zarr", help="a sweep store made by `chaossim sweep`")
    r.add_argument("--out", metavar="DIR", default=None, help="folder of the figures (default: PATH.zarr.report/)")
    _storage_option(r)
    r.set_defaults(func=cmd_report)

    v = subparsers.add_parser(
        "sweep-verify",
        help="read every chunk of a sweep store and list damaged or missing ones",
        description="Read every chunk of every point of a sweep store and check it against its "
        "crc32c checksum; a point marked done must have all its chunks. Prints the "
        "damaged or missing chunks per point; exit status 1 if there are any. "
        "`chaossim sweep SWEEP.toml --store PATH.zarr` re-runs the damaged points (from "
        "their checkpoints in PATH.zarr.runs/ where those are intact).",
    )
    v.add_argument("store", metavar="PATH.zarr", help="a sweep store made by `chaossim sweep`")
    v.add_argument("--limit", type=int, default=10, metavar="N", help="problems shown per point (default 10)")
    _storage_option(v)
    v.set_defaults(func=cmd_verify)


def _storage_option(p) -> None:
    p.add_argument(
        "--storage-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="for a store given as a URL (s3://bucket/path.zarr): an fsspec storage option, e.g. "
        "endpoint_url=http://127.0.0.1:9000 or anon=false (a JSON value or text; repeatable). Without them "
        "the standard AWS variables (AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, ...) are used",
    )


def store_of(text, options) -> Any:
    """The store the command line names: a local path, or a URL with its storage options (a Target)."""
    from ..errors import ConfigError
    from ..sweep.location import is_url, target

    parsed: dict = {}
    for item in options or []:
        key, sep, value = str(item).partition("=")
        if not sep or not key:
            raise ConfigError(f"--storage-option takes KEY=VALUE, got {item!r}.")
        try:
            parsed[key] = json.loads(value)
        except ValueError:
            parsed[key] = value
    if not is_url(text):
        if parsed:
            raise ConfigError(f"--storage-option is for a store given as a URL (s3://...), not the path {text}.")
        return Path(text)
    return target(text, parsed)


def default_store(spec_path) -> Path:
    return Path.cwd() / (Path(spec_path).stem + ".zarr")


def cmd_sweep(args) -> int:
    from ..sweep.cluster import run_sweep
    from ..sweep.report import sweep_report
    from ..sweep.spec import load_spec

    spec = load_spec(args.spec)
    store = store_of(args.store, args.storage_option) if args.store else default_store(args.spec)
    dashboard = None if str(args.dashboard).lower() in ("none", "") else args.dashboard
    if args.dry_run:
        from ..sweep.plan import plan_sweep

        plan = plan_sweep(
            spec,
            store,
            backend="cupy" if args.gpus else args.backend,
            ensembles=args.ensembles,
            group_size=args.group_size,
            n_workers=args.workers or os.cpu_count() or 1,
        )
        for line in plan.lines():
            print(line)
        print(f"nothing was trained or written; to run it: chaossim sweep {args.spec} --store {store}")
        return 0
    started = time.perf_counter()
    print(
        f"sweep {spec.name}: {spec.n_points} points over {dict(zip(spec.dims, spec.shape))} -> {store}", file=sys.stderr
    )
    result = run_sweep(
        spec,
        store,
        workers=args.workers,
        gpus=args.gpus,
        scheduler=args.scheduler,
        backend=args.backend,
        progress=not args.no_progress,
        retries=args.retries,
        dashboard_address=dashboard,
        ensembles=args.ensembles,
        group_size=args.group_size,
    )
    repaired = f", {len(result.repaired)} of them repaired" if result.repaired else ""
    print(
        f"{len(result.done)} point(s) run{repaired}, {len(result.skipped)} already done, {len(result.failed)} "
        f"failed in {time.perf_counter() - started:.1f} s; store: {store}",
        file=sys.stderr,
    )
    if result.failed and result.log:
        print(f"full tracebacks of the failed points: {result.log}", file=sys.stderr)
    figures = sweep_report(store, args.out) if not args.no_report else []
    _summary(store, figures)
    return 1 if result.failed else 0


def _summary(store: Path, figures) -> None:
    """What the sweep wrote, how the indices changed from step 0, what to run next (chaossim.runs.progress)."""
    from ..runs.progress import summary
    from ..sweep.report import change_lines
    from ..sweep.store import open_sweep, runs_dir

    changes = change_lines(open_sweep(store, check=False))
    print(
        "\n"
        + summary(
            [store, f"{runs_dir(store)}/ (each point's run directory and checkpoints)", *figures],
            changes,
            [
                f"chaossim sweep-report {shlex.quote(str(store))}",
                "python -c " + shlex.quote(f"import xarray; print(xarray.open_zarr({json.dumps(str(store))}))"),
            ],
        )
    )


def cmd_report(args) -> int:
    from ..sweep.report import sweep_report

    sweep_report(store_of(args.store, args.storage_option), args.out)
    return 0


def cmd_verify(args) -> int:
    from ..sweep.lock import holder_of, real_path
    from ..sweep.store import runs_dir
    from ..sweep.verify import summary_line, verify_store

    store = store_of(args.store, args.storage_option)
    if isinstance(store, Path) and real_path(args.store) != Path(args.store).absolute():
        print(f"note: {args.store} is {real_path(args.store)}", file=sys.stderr)
    holder, alive = holder_of(args.store) if isinstance(store, Path) else (None, None)
    if holder is not None and alive is not False:
        from ..process import describe

        print(
            f"note: a sweep is running on this store ({describe(holder)}); points being written may show as "
            "damaged until it ends",
            file=sys.stderr,
        )
    report = verify_store(store)
    for line in report.lines(limit=args.limit):
        print(line)
    if len(report.versions) > 1:
        print(
            "note: the done points ran with different package versions: "
            + " | ".join(f"{v} (points {pts})" for v, pts in report.versions.items()),
            file=sys.stderr,
        )
    spec = _stored_spec(store) if report.damaged_points else None
    if spec is not None:
        from ..sweep.verify import checkpoint_state

        for i in report.damaged_points:
            print(f"point {i} re-run: {checkpoint_state(store, spec, i)}")
    if report.unchecked:
        print(
            f"note: {len(report.unchecked)} arrays carry no checksum (a store of an older chaossim): changed bytes "
            "in them cannot be detected, only missing chunks",
            file=sys.stderr,
        )
    print(f"{args.store}: {summary_line(report)}")
    if report.ok:
        return 0
    quoted = shlex.quote(args.store)
    if report.attributes:
        print(
            f"the store's attributes changed: move it away and run `chaossim sweep SWEEP.toml --store "
            f"{quoted}` again; every point continues from its checkpoint in {runs_dir(args.store).name}/",
            file=sys.stderr,
        )
    elif report.inputs and not (report.problems or report.metadata or report.store_wide):
        print(
            "the store mixes points trained on different data: a re-run is refused until the data are those of "
            "its points; keep the points of one dataset (a new --store for the others)",
            file=sys.stderr,
        )
    else:
        print(
            f"repair: `chaossim sweep SWEEP.toml --store {quoted}` (SWEEP.toml: the spec the sweep was made "
            "with, also in the store's spec_toml attribute) rebuilds missing or changed metadata from the spec and "
            "re-runs the damaged points",
            file=sys.stderr,
        )
    return 1


def _stored_spec(store):
    """The spec a store was made with (from its attributes), or None when it cannot be read."""
    try:
        from ..sweep.spec import parse_spec
        from ..sweep.store import open_sweep

        ds = open_sweep(store, check=False)
        return parse_spec(ds.attrs["spec_toml"], ds.attrs.get("name", "sweep"))
    except Exception:
        return None
