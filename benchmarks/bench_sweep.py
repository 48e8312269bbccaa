"""Points per minute of a whole sweep, grid points grouped into ensembles against one task per point.

    python benchmarks/bench_sweep.py [--spec sweeps/quickstart.toml] [--device cpu|gpu|auto] [--workers 1,2]
                                     [--steps N] [--repeats R] [--json PATH]

For each number of workers one Dask cluster is started (CPU: ``LocalCluster`` of worker processes with one
thread each and BLAS pinned to ``--blas-threads`` threads per worker with threadpoolctl; GPU: dask-cuda's
``LocalCUDACluster``, one worker per GPU, points on CuPy), warmed up (imports, the dataset loaded in every
worker), and the same sweep is run into fresh stores with ``run_sweep(..., ensembles=False)`` (one task per
point, the reference) and ``ensembles=True`` (points equal up to g and seed trained as one Ensemble per task,
:mod:`chaossim.sweep.groups`), ``--repeats`` times, in alternating order. The time is the whole ``run_sweep`` call (lay
out the store, train every point, record and write it), as a user waits for it. Columns: ``tasks`` (Dask
tasks), ``wall s`` (median), ``points/min`` (points / median wall time), ``x alone`` (points/min over the
one-task-per-point rate of the same cluster: > 1 means grouping is faster).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

_PINNED = []  # the threadpoolctl limiter of a worker process (kept alive)


def _pin_blas(threads: int) -> str:
    """In a worker: BLAS to ``threads`` threads; returns what threadpoolctl then reports."""
    from threadpoolctl import threadpool_info, threadpool_limits

    _PINNED.append(threadpool_limits(limits=threads))
    return ", ".join(f"{p['internal_api']} {p['num_threads']}" for p in threadpool_info()) or "no BLAS found"


def _warm_up(spec_text: str, backend: str) -> int:
    """In a worker: import the sweep layer and load the spec's dataset (cached per process, as in a sweep)."""
    import chaossim.sweep.point  # noqa: F401  (the sweep layer, as a task imports it)
    from chaossim.sweep.spec import parse_spec
    from chaossim.sweep.store import dataset_for

    spec = parse_spec(spec_text)
    return dataset_for(spec.config(0, backend)).n_features


def cluster(device: str, workers: int):
    import logging

    from distributed import Client, LocalCluster

    if device == "gpu":
        from dask_cuda import LocalCUDACluster

        c = LocalCUDACluster(n_workers=workers or None, dashboard_address=":0", silence_logs=logging.ERROR)
    else:
        c = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0",
                         host="127.0.0.1", silence_logs=logging.ERROR)
    return c, Client(c)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--spec", default=os.path.join(os.path.dirname(__file__), "..", "sweeps", "quickstart.toml"))
    ap.add_argument("--device", choices=("cpu", "gpu", "auto"), default="auto")
    ap.add_argument("--workers", default=None, help="comma-separated worker counts (default: CPU cores; GPU: all GPUs)")
    ap.add_argument("--blas-threads", type=int, default=1, help="BLAS threads per worker process (CPU, default 1)")
    ap.add_argument("--steps", type=int, default=None, help="override training.steps (default: the spec's)")
    ap.add_argument("--repeats", type=int, default=1, help="sweeps per mode and cluster (median reported)")
    ap.add_argument("--json", default=None, help="write every timing and the setup to this file")
    args = ap.parse_args(argv)

    from threadpoolctl import threadpool_limits

    from chaossim.backend import gpu_available
    from chaossim.sweep.cluster import run_sweep
    from chaossim.sweep.spec import load_spec, parse_spec, with_backend

    device = args.device if args.device != "auto" else ("gpu" if gpu_available() else "cpu")
    backend = "cupy" if device == "gpu" else "numpy"
    text = Path(args.spec).read_text()
    spec = load_spec(args.spec)
    if args.steps:
        import re

        text = re.sub(r"(?m)^steps\s*=.*$", f"steps = {args.steps}", text)
        spec = parse_spec(text, spec.name)
    spec = with_backend(spec, backend)
    counts = [int(w) for w in args.workers.split(",")] if args.workers else [0 if device == "gpu" else os.cpu_count()]
    threadpool_limits(limits=args.blas_threads)  # the client too (it lays out the store)
    print(f"sweep {spec.name}: {spec.n_points} points ({dict(zip(spec.dims, spec.shape))}), "
          f"training.steps = {spec.base.training.steps}, device {device} "
          f"({platform.processor() or platform.machine()}, {os.cpu_count()} cores), backend {backend}, BLAS env "
          f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', '-')} "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '-')}")
    rows, raw = [], []
    for n in counts:
        cl, client = cluster(device, n)
        try:
            n_workers = len(client.scheduler_info()["workers"])
            blas = set(client.run(_pin_blas, args.blas_threads).values()) if device == "cpu" else {"cuBLAS"}
            client.run(_warm_up, text, backend)
            times = {False: [], True: []}
            tasks = {}
            for rep in range(args.repeats):
                for grouped in ((False, True) if rep % 2 == 0 else (True, False)):  # alternate the order
                    with tempfile.TemporaryDirectory(prefix="bench-sweep-") as d:
                        t0 = time.perf_counter()
                        r = run_sweep(spec, Path(d) / "s.zarr", client=client, progress=False, ensembles=grouped)
                        wall = time.perf_counter() - t0
                    if not r.complete:
                        raise SystemExit(f"the sweep did not complete: {r.failed}")
                    times[grouped].append(wall)
                    tasks[grouped] = len(r.groups)
                    raw.append({"workers": n_workers, "grouped": grouped, "repeat": rep, "wall_s": wall,
                                "groups": r.groups})
                    print(f"  workers={n_workers} {'grouped' if grouped else 'alone  '} repeat {rep}: {wall:.1f} s "
                          f"({len(r.groups)} tasks)", file=sys.stderr)
        finally:
            client.close()
            cl.close()
        alone = statistics.median(times[False])
        for grouped in (False, True):
            wall = statistics.median(times[grouped])
            rows.append({"device": device, "workers": n_workers,
                         "threads": "1 per worker, BLAS " + "; ".join(sorted(blas)) if device == "cpu" else "1 per GPU",
                         "mode": "ensembles" if grouped else "one per point", "tasks": tasks[grouped],
                         "points": spec.n_points, "wall_s": wall, "points_per_min": spec.n_points / wall * 60,
                         "x_alone": alone / wall})
    head = ["device", "workers", "threads", "mode", "tasks", "points", "wall s", "points/min", "x alone"]
    print("| " + " | ".join(head) + " |\n|" + "---|" * len(head))
    for r in rows:
        print(f"| {r['device']} | {r['workers']} | {r['threads']} | {r['mode']} | {r['tasks']} | {r['points']} | "
              f"{r['wall_s']:.1f} | {r['points_per_min']:.1f} | {r['x_alone']:.2f} |")
    if args.json:
        Path(args.json).write_text(json.dumps({"spec": spec.name, "device": device, "rows": rows, "raw": raw},
                                              indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
