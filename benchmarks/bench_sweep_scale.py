"""A sweep at scale, end to end: 2 000 tiny points on local workers, and a 100 000-point layout and plan.

    python benchmarks/bench_sweep_scale.py                       # both parts, 2 local workers
    python benchmarks/bench_sweep_scale.py --part sweep --points 2000 --workers 2 --json out.json
    python benchmarks/bench_sweep_scale.py --part plan --plan-points 100000

Part ``sweep``: a grid of 20 g x 10 T x (points / 200) seeds of tiny restricted models (n_hidden 8, one
training step, the bundled digits) is swept with :func:`chaossim.sweep.run_sweep` from this process (the
client) on a ``LocalCluster`` of ``--workers`` processes, one thread each, BLAS pinned to one thread with
threadpoolctl in every process. Measured from the call's start: the store laid out (its top ``zarr.json``
appears: the layout is renamed into place whole), every task submitted ("planned"), the first point stored (the
first chunk of the store's ``done`` array appears), the first task done (a done-callback on each future), the
call's end. Then, each as the user types it, in a new process:
``chaossim sweep-verify``, ``chaossim sweep-report``, and the same ``chaossim sweep`` again with every point
done. Also: the client's peak resident memory (psutil, sampled every 50 ms, this process only: the workers are
other processes), and the files in the store and in ``PATH.zarr.runs/``.

Part ``plan``: the same kind of grid with ``--plan-points`` points, laid out and planned without training
(:func:`layout_and_plan`): the time to lay the store out, the time to form the tasks, the client's peak memory.

The table states the load average before and after, the worker and BLAS thread counts. Timings of a whole
sweep on a shared 2-core machine move with the load: read them with the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # inherited by the worker processes and the CLI runs

SPEC = """\
[sweep]
name = "scale"

[grid]
g = {g}
T = {T}
seed = {seeds}

[model]
arch = "restricted"
n_hidden = 8

[dynamics]
dt = 1.0
tau = 10.0

[training]
steps = 1
batch_size = 50
k = 0.1
log_every = 1
checkpoint_every = 1
n_eval = 100

[data]
name = "digits"

[record]
times = [0, 10, 20]
n_samples = 4
n_trajectories = 2
trajectory_every = 5
trajectory_t_max = 20.0
n_data_samples = 4
"""


def spec_text(n_points: int) -> str:
    """A grid of 20 g x 10 T x n_points / 200 seeds (n_points a multiple of 200)."""
    if n_points % 200:
        raise SystemExit(f"--points must be a multiple of 200 (20 g x 10 T x seeds), got {n_points}")
    g = [round(0.25 + 0.25 * i, 2) for i in range(20)]
    T = [float(5 * (i + 1)) for i in range(10)]
    return SPEC.format(g=g, T=T, seeds=list(range(n_points // 200)))


class PeakRSS:
    """The peak resident memory of this process, sampled every ``every`` seconds in a thread."""

    def __init__(self, every: float = 0.05):
        import psutil

        self._proc = psutil.Process()
        self.every = every
        self.peak = self._proc.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.wait(self.every):
            self.peak = max(self.peak, self._proc.memory_info().rss)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._proc.memory_info().rss)


def count_files(path: Path) -> int:
    return sum(len(files) for _, _, files in os.walk(path)) if path.exists() else 0


def runs_of(store: Path) -> Path:
    return store.with_name(store.name + ".runs")


def timed_cli(args: list[str]) -> tuple[float, int, str]:
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "chaossim", *args], capture_output=True, text=True)
    return time.perf_counter() - t0, proc.returncode, (proc.stdout + proc.stderr).strip().splitlines()[-1:]


class Watch:
    """Instruments a ``distributed.Client`` for one sweep: the time of the last ``submit`` (every task
    formed and handed to the scheduler) and of the first task done. A wrapper around the real client: the
    calls go through unchanged."""

    def __init__(self, client, t0: float):
        self._client = client
        self.t0 = t0
        self.last_submit: float | None = None
        self.first_done: float | None = None
        self.tasks = 0

    def __getattr__(self, name):
        return getattr(self._client, name)

    def _on_done(self, _fut):
        if self.first_done is None:
            self.first_done = time.perf_counter() - self.t0

    def submit(self, *args, **kwargs):
        fut = self._client.submit(*args, **kwargs)
        self.tasks += 1
        self.last_submit = time.perf_counter() - self.t0
        fut.add_done_callback(self._on_done)
        return fut

    def map(self, *args, **kwargs):
        futs = self._client.map(*args, **kwargs)
        self.tasks += len(futs)
        self.last_submit = time.perf_counter() - self.t0
        for fut in futs:
            fut.add_done_callback(self._on_done)
        return futs


def watch_layout(store: Path, t0: float, out: dict, stop: threading.Event) -> None:
    """The time the store's layout appears (its top ``zarr.json``), then the first point stored: the first chunk
    of the ``done`` array (the layout writes none; a task writes its points' ``done`` flags last)."""
    marker, done = store / "zarr.json", store / "done" / "c"
    while not stop.wait(0.02):
        if "layout" not in out and marker.exists():
            out["layout"] = time.perf_counter() - t0
        if "layout" in out and done.is_dir() and any(f for _, _, f in os.walk(done)):
            out["first_point"] = time.perf_counter() - t0
            return


def pin_blas() -> str:
    from threadpoolctl import threadpool_info, threadpool_limits

    threadpool_limits(limits=1)
    return ", ".join(f"{p['internal_api']} {p['num_threads']}" for p in threadpool_info()) or "no BLAS found"


def part_sweep(n_points: int, workers: int, folder: Path) -> dict:
    import logging

    from distributed import Client, LocalCluster

    from chaossim.sweep import parse_spec, run_sweep

    spec_path = folder / "scale.toml"
    spec_path.write_text(spec_text(n_points))
    spec = parse_spec(spec_path.read_text(), "scale")
    store = folder / "scale.zarr"
    row: dict = {"points": spec.n_points, "workers": workers}
    with (
        LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=logging.ERROR
        ) as cluster,
        Client(cluster) as client,
    ):
        row["blas"] = sorted(set(client.run(pin_blas).values()))
        marks: dict = {}
        stop = threading.Event()
        with PeakRSS() as rss:
            t0 = time.perf_counter()
            watcher = threading.Thread(target=watch_layout, args=(store, t0, marks, stop), daemon=True)
            watcher.start()
            watch = Watch(client, t0)
            result = run_sweep(spec, store, client=watch, progress=False)
            row["total"] = time.perf_counter() - t0
            stop.set()
            watcher.join()
        row.update(
            layout=marks.get("layout"),
            planned=watch.last_submit,
            first_point=marks.get("first_point"),
            first_done=watch.first_done,
            tasks=watch.tasks,
            done=len(result.done) + len(result.skipped),
            failed=len(result.failed),
            client_peak_mb=rss.peak / 2**20,
        )
    row["store_files"] = count_files(store)
    row["runs_files"] = count_files(runs_of(store))
    row["verify"], rc, last = timed_cli(["sweep-verify", str(store)])
    row["verify_ok"] = rc == 0
    row["report"], rc, _ = timed_cli(["sweep-report", str(store), "--out", str(folder / "report")])
    row["report_ok"] = rc == 0
    row["rerun"], rc, _ = timed_cli(
        ["sweep", str(spec_path), "--store", str(store), "--workers", str(workers), "--no-progress", "--no-report"]
    )
    row["rerun_ok"] = rc == 0
    return row


def layout_and_plan(spec, store: Path) -> tuple[float, float, int]:
    """Lay ``spec``'s store out and form its tasks without running them: (seconds to lay out, seconds to
    plan, tasks). Uses the sweep layer's own layout and grouping functions."""
    from chaossim.sweep.groups import plan_tasks
    from chaossim.sweep.store import grid_chunks_of, open_or_create

    t0 = time.perf_counter()
    open_or_create(store, spec, backend=spec.base.backend.name)
    t1 = time.perf_counter()
    tasks = plan_tasks(
        spec, list(range(spec.n_points)), backend=None, n_workers=2, max_step_flops=None, chunks=grid_chunks_of(store)
    )
    return t1 - t0, time.perf_counter() - t1, len(tasks)


def part_plan(n_points: int, folder: Path) -> dict:
    from chaossim.sweep import parse_spec

    spec = parse_spec(spec_text(n_points), "scale")
    store = folder / "plan.zarr"
    with PeakRSS() as rss:
        t0 = time.perf_counter()
        layout, plan, tasks = layout_and_plan(spec, store)
        total = time.perf_counter() - t0
    return {
        "points": spec.n_points,
        "layout": layout,
        "planned": plan,
        "total": total,
        "tasks": tasks,
        "client_peak_mb": rss.peak / 2**20,
        "store_files": count_files(store),
    }


def fmt(v, digits=1):
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "NO"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--part", choices=("sweep", "plan", "both"), default="both")
    ap.add_argument("--points", type=int, default=2000, help="points of the swept grid (multiple of 200)")
    ap.add_argument("--plan-points", type=int, default=100_000, help="points of the laid-out-and-planned grid")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--dir", default=None, help="folder for the stores (default: a temporary folder, removed)")
    ap.add_argument("--json", default=None, help="save the rows and the setup as JSON")
    args = ap.parse_args(argv)

    setup = {
        "load_before": os.getloadavg(),
        "cpus": os.cpu_count(),
        "blas_env": {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")},
    }
    rows: dict = {}
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        folder = Path(tmp)
        if args.part in ("sweep", "both"):
            rows["sweep"] = part_sweep(args.points, args.workers, folder)
        if args.part in ("plan", "both"):
            rows["plan"] = part_plan(args.plan_points, folder)
    setup["load_after"] = os.getloadavg()

    print(
        f"\nload average before {' '.join(f'{x:.1f}' for x in setup['load_before'])}, after "
        f"{' '.join(f'{x:.1f}' for x in setup['load_after'])}; {setup['cpus']} CPUs; "
        f"BLAS threads {setup['blas_env']}"
    )
    if "sweep" in rows:
        r = rows["sweep"]
        print(f"\nsweep of {r['points']} points, {r['workers']} local workers x 1 thread, BLAS {r['blas']}\n")
        print("| step | seconds or count |\n|---|---|")
        for label, key in (
            ("store laid out (s)", "layout"),
            ("tasks planned and submitted (s)", "planned"),
            ("first point stored (s)", "first_point"),
            ("first task done (s)", "first_done"),
            ("all done (s)", "total"),
            ("tasks", "tasks"),
            ("points done / failed", None),
            ("client peak memory (MB)", "client_peak_mb"),
            ("files in the store", "store_files"),
            ("files in PATH.zarr.runs/", "runs_files"),
            ("sweep-verify (s)", "verify"),
            ("sweep-report (s)", "report"),
            ("all-done re-run (s)", "rerun"),
        ):
            value = f"{r['done']} / {r['failed']}" if key is None else fmt(r[key])
            print(f"| {label} | {value} |")
        bad = [k for k in ("verify_ok", "report_ok", "rerun_ok") if not r[k]]
        if bad:
            print(f"\nexit status non-zero: {bad}")
    if "plan" in rows:
        r = rows["plan"]
        print(f"\nlayout and plan only, {r['points']} points\n")
        print("| step | seconds or count |\n|---|---|")
        for label, key in (
            ("store laid out (s)", "layout"),
            ("tasks formed (s)", "planned"),
            ("both (s)", "total"),
            ("tasks", "tasks"),
            ("client peak memory (MB)", "client_peak_mb"),
            ("files in the store", "store_files"),
        ):
            print(f"| {label} | {fmt(r[key])} |")
    if args.json:
        Path(args.json).write_text(json.dumps({"setup": setup, "rows": rows}, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
