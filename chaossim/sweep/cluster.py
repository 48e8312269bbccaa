"""Where and how a sweep runs: a Dask cluster, one task per pending grid point (or per group of points
trained together as one ensemble, :mod:`chaossim.sweep.groups`), results in the store.

* default: ``distributed.LocalCluster`` of worker processes (``n_workers``, one thread each);
* ``gpus=True``: ``dask_cuda.LocalCUDACluster``, one worker per GPU, points forced onto CuPy;
* ``scheduler="tcp://host:8786"``: any running scheduler (``dask scheduler`` + ``dask worker``,
  dask-jobqueue on SLURM, ...); its workers need chaossim installed and the store's folder mounted
  at the same path.

Tasks have deterministic keys and ``retries`` for Python errors; a task whose worker dies is
rescheduled by the scheduler, and after ``distributed.scheduler.allowed-failures`` deaths the
point is recorded as failed (every point of a group task). A point failing for its own reasons
(divergence...) is recorded as failed inside the task, also inside a group, whose other points go on.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError, StoreError
from ..fs import check_writable
from .groups import plan_groups
from .lock import StoreLock
from .point import run_group, run_point
from .spec import SweepSpec, with_backend
from .store import consolidate, describe_error, log_path, open_or_create, reset_point, runs_dir, write_failure


@dataclass
class SweepResult:
    """What a call of :func:`run_sweep` did."""

    store: Path
    n_points: int
    skipped: list = field(default_factory=list)  # indices already done before this call
    done: list = field(default_factory=list)  # indices completed by this call
    failed: dict = field(default_factory=dict)  # index -> error message
    summaries: list = field(default_factory=list)
    repaired: dict = field(default_factory=dict)  # index -> problems: marked done but damaged, re-run now
    log: Path | None = None  # where the tracebacks of failed points went
    groups: list = field(default_factory=list)  # the tasks of this call, as lists of point indices

    @property
    def complete(self) -> bool:
        return not self.failed and len(self.skipped) + len(self.done) == self.n_points


@contextmanager
def make_client(
    *,
    workers: int | None = None,
    gpus: bool = False,
    scheduler: str | None = None,
    dashboard_address: str | None = ":8787",
    quiet: bool = False,
):
    """A ``distributed.Client`` on the chosen cluster (closed, with its cluster, on exit)."""
    import logging

    from distributed import Client, LocalCluster

    if scheduler and gpus:
        raise ConfigError(
            "--scheduler and --gpus exclude each other: with --scheduler the workers are already "
            "started; for GPU workers start them with `dask cuda worker ADDRESS` and pass "
            "--scheduler ADDRESS --backend cupy."
        )
    cluster = None
    if scheduler:
        client = Client(scheduler)
    elif gpus:
        LocalCUDACluster = _local_cuda_cluster()
        cluster = LocalCUDACluster(
            dashboard_address=dashboard_address or ":0", silence_logs=logging.WARNING, env=_importable_here()
        )
        client = Client(cluster)
    else:
        n = workers or os.cpu_count() or 1
        if n < 1:
            raise ConfigError(f"--workers must be >= 1, got {workers}.")
        cluster = LocalCluster(
            n_workers=n,
            threads_per_worker=1,
            processes=True,
            dashboard_address=dashboard_address or ":0",  # None would still bind :8787
            silence_logs=logging.WARNING,
            env=_importable_here(),
        )
        client = Client(cluster)
    try:
        if not quiet:
            link = getattr(client, "dashboard_link", None) if dashboard_address or scheduler else None
            print(
                f"Dask: {len(client.scheduler_info().get('workers', {}))} worker(s)"
                + (f", dashboard {link}" if link else ""),
                file=sys.stderr,
            )
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _importable_here() -> dict[str, str]:
    """The environment of local workers: this folder first on PYTHONPATH, so that modules the spec names by
    import path (``model.arch = "my_arch:Chain4"``, docs/extending.md) import there as they do here."""
    path = [os.getcwd(), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    return {"PYTHONPATH": os.pathsep.join(dict.fromkeys(path))}


def _local_cuda_cluster():
    try:
        from dask_cuda import LocalCUDACluster
    except ImportError:
        raise ConfigError(
            "--gpus needs dask-cuda, which is not installed: pip install 'chaossim[gpu]' "
            "(or 'chaossim[cuda13]'), or leave out --gpus to run on CPU workers."
        ) from None
    return LocalCUDACluster


def task_key(spec: SweepSpec, index: int) -> str:
    return f"chaossim-point-{spec.fingerprint()}-{index}"


def group_task_key(spec: SweepSpec, indices) -> str:
    return f"chaossim-group-{spec.fingerprint()}-{indices[0]}-n{len(indices)}"


def killed_message(index: int, exc: BaseException, group_size: int = 1) -> str:
    smaller = (
        f" This point was trained in an ensemble of {group_size} points: --group-size N (or --no-ensembles) "
        "makes the tasks smaller."
        if group_size > 1
        else ""
    )
    return (
        f"the worker running this point died each time it was tried ({exc}); it probably ran out of memory "
        "or crashed. "
        "Give workers more memory (fewer --workers, a smaller model or batch_size) and re-run the same "
        f"command: completed points are kept and this one resumes from its checkpoint.{smaller}"
    )


def run_sweep(
    spec: SweepSpec,
    store,
    *,
    client=None,
    workers: int | None = None,
    gpus: bool = False,
    scheduler: str | None = None,
    backend: str | None = None,
    progress: bool = True,
    retries: int = 2,
    dashboard_address: str | None = ":8787",
    ensembles: bool | None = None,
    group_size: int | None = None,
) -> SweepResult:
    """Run every pending point of ``spec`` into the zarr store ``store`` (laid out if new, resumed if not).

    ``client``: an existing ``distributed.Client`` to use (else one is made from workers/gpus/scheduler).
    ``backend``: force backend.name of every point ("numpy", "cupy", "auto"); ``gpus`` implies "cupy".
    ``ensembles``: train the points that can share an Ensemble together, one task per group
    (:mod:`chaossim.sweep.groups`); None (default): on CuPy (for "auto": when the workers find a usable
    GPU), and on NumPy for small models only, where grouping measured faster (docs/sweeps.md); False: every
    point in its own task; True: group on NumPy whatever the size. ``group_size``: the most points per group
    (default: from a memory budget).
    Grouping never changes a point's numbers on NumPy, nor its run directory: a sweep can be resumed with
    or without it.

    One client per store: the lock ``PATH.zarr.lock`` refuses a second one (:mod:`chaossim.sweep.lock`).
    Resuming reads every chunk first (:func:`chaossim.sweep.verify.verify_store`): points marked done
    whose chunks are damaged or missing are reset and run again, from their checkpoints where intact.
    Full tracebacks of failed points are appended to ``PATH.zarr.log`` (``result.log``).
    """
    from .verify import verify_store

    store = Path(store).absolute()
    if group_size is not None and (isinstance(group_size, bool) or int(group_size) != group_size or group_size < 1):
        raise ConfigError(f"--group-size must be a positive integer (points per ensemble), got {group_size!r}.")
    if gpus:
        if client is None and scheduler is None:
            _local_cuda_cluster()  # fail before laying out the store
        backend = "cupy"
    spec = with_backend(spec, backend)
    check_writable(store.parent, "the folder of the sweep store", "give a --store in a writable place")
    store.parent.mkdir(parents=True, exist_ok=True)
    with StoreLock(store) as lock:
        if lock.broke:
            print(
                f"sweep: took over the stale lock of pid {lock.broke.get('pid')} on host {lock.broke.get('host')} "
                "(that process is no longer running)",
                file=sys.stderr,
            )
        _remove_leftovers(store)
        existed = store.exists()
        if existed:
            for folder, what in ((store, "the sweep store"), (runs_dir(store), "the checkpoint folder")):
                if folder.exists():
                    check_writable(
                        folder, what, "copy the store (and PATH.zarr.runs/) to a writable place and resume there"
                    )
        open_or_create(store, spec, backend=spec.base.backend.name)
        result = SweepResult(store=store, n_points=spec.n_points)
        done = np.zeros(spec.n_points, dtype=bool)
        if existed:
            report = verify_store(store)
            if report.store_wide:
                raise StoreError(
                    f"{store} is damaged outside its points ({'; '.join(map(str, report.store_wide[:5]))}). "
                    "Move it away and run the same command: the store is rebuilt and every point "
                    f"continues from its checkpoint in {runs_dir(store).name}/."
                )
            for i in report.damaged_points:
                result.repaired[i] = [str(p) for p in report.problems[i]]
                reset_point(store, spec, i)
            if result.repaired:
                print(
                    f"sweep: {len(result.repaired)} point(s) damaged in the store will be run again "
                    f"(from their checkpoints where intact): {sorted(result.repaired)}; "
                    "`chaossim sweep-verify` lists the damage",
                    file=sys.stderr,
                )
            done = report.intact_done
        result.skipped = [int(i) for i in np.flatnonzero(done)]
        pending = [int(i) for i in np.flatnonzero(~done)]
        if pending:
            how: dict[str, Any] = dict(ensembles=ensembles, group_size=group_size)
            try:
                if client is not None:
                    _run_tasks(client, spec, store, pending, backend, progress, retries, result, **how)
                else:
                    with make_client(
                        workers=workers,
                        gpus=gpus,
                        scheduler=scheduler,
                        dashboard_address=dashboard_address,
                        quiet=not progress,
                    ) as c:
                        _run_tasks(c, spec, store, pending, backend, progress, retries, result, **how)
            finally:
                _write_log(store, spec, result)
        try:
            consolidate(store)
        except OSError as exc:  # zarr writes atomically: the consolidated metadata of the layout is intact
            print(
                f"sweep: could not refresh the consolidated metadata of {store} ({exc.strerror}); the one written "
                "with the layout is intact and still valid",
                file=sys.stderr,
            )
    return result


def _remove_leftovers(store: Path) -> None:
    """What a killed client or writer leaves (only called while holding the lock): the temporary folder of
    a store being laid out, and zarr's half-written ``.partial`` chunk files."""
    for tmp in store.parent.glob(f".{store.name}.tmp-*"):
        shutil.rmtree(tmp, ignore_errors=True)
    if store.is_dir():
        for part in store.rglob("*.partial"):
            try:
                part.unlink()
            except OSError:
                pass


def _write_log(store: Path, spec: SweepSpec, result: SweepResult) -> None:
    """Append the failed points of this run, with their full tracebacks, to ``PATH.zarr.log``."""
    failed = [s for s in result.summaries if s.get("status") != "done"]
    if not failed:
        return
    path = log_path(store)
    lines = [
        f"=== sweep {spec.name}: {len(failed)} failed point(s), {time.strftime('%Y-%m-%dT%H:%M:%S%z')}, "
        f"pid {os.getpid()}"
    ]
    for s in failed:
        lines.append(f"--- point {s['index']} ({spec.point_label(s['index'])}): {s.get('error', '')}")
        lines.append((s.get("traceback") or "(no traceback: the worker process died)").rstrip())
    try:
        with open(path, "a") as fh:
            fh.write("\n".join(lines) + "\n")
        result.log = path
    except OSError as exc:
        print(f"sweep: could not write the log {path}: {exc.strerror}", file=sys.stderr)


def grouping(client, spec: SweepSpec, ensembles: bool | None) -> tuple[bool, float | None]:
    """(group points?, the largest Euler step in FLOPs of a grouped point or None) for :func:`run_sweep`:
    as asked; by default on CuPy (for "auto": when the workers find a usable GPU) every class of points, on
    NumPy only small models (:data:`chaossim.sweep.groups.HOST_MAX_STEP_FLOPS`), where grouping measured
    faster."""
    from .groups import HOST_MAX_STEP_FLOPS

    if ensembles is not None:
        return bool(ensembles), None
    name = spec.base.backend.name
    if name == "auto":  # the workers decide what "auto" means: ask them
        from ..backend import gpu_available

        try:
            name = "cupy" if any(client.run(gpu_available).values()) else "numpy"
        except Exception:  # noqa: BLE001 - no answer: assume the CPU
            name = "numpy"
    return True, (None if name == "cupy" else HOST_MAX_STEP_FLOPS)


def _n_workers(client) -> int:
    try:
        return max(1, len(client.scheduler_info().get("workers", {})))
    except Exception:  # noqa: BLE001
        return 1


def _run_tasks(
    client,
    spec,
    store,
    pending,
    backend,
    progress,
    retries,
    result: SweepResult,
    *,
    ensembles: bool | None = None,
    group_size: int | None = None,
) -> None:
    from distributed import as_completed
    from distributed.scheduler import KilledWorker

    grouped, max_flops = grouping(client, spec, ensembles)
    if grouped:
        groups = plan_groups(
            spec, pending, backend=backend, max_size=group_size, n_workers=_n_workers(client), max_step_flops=max_flops
        )
        n_grouped = sum(len(g) for g in groups if len(g) > 1)
        if n_grouped:
            print(
                f"sweep: {n_grouped} of {len(pending)} pending points trained as ensembles in "
                f"{sum(1 for g in groups if len(g) > 1)} task(s) of at most {max(len(g) for g in groups)} points "
                "(--no-ensembles: one task per point)",
                file=sys.stderr,
            )
    else:
        groups = [[i] for i in pending]
    result.groups = groups
    futures, members = [], {}
    for g in groups:
        if len(g) == 1:
            fut = client.submit(
                run_point, spec, g[0], str(store), backend, key=task_key(spec, g[0]), retries=retries, pure=False
            )
        else:
            fut = client.submit(
                run_group, spec, g, str(store), backend, key=group_task_key(spec, g), retries=retries, pure=False
            )
        futures.append(fut)
        members[fut.key] = g
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(
            total=spec.n_points,
            initial=len(result.skipped),
            desc=f"sweep {spec.name}",
            unit="point",
            dynamic_ncols=True,
        )

    def say(line):
        if bar is None:
            print(line, file=sys.stderr)
        else:
            bar.write(line)

    try:
        for fut in as_completed(futures):
            group = members[fut.key]
            try:
                summaries = fut.result()
                summaries = summaries if isinstance(summaries, list) else [summaries]
            except KilledWorker as exc:
                summaries = []
                for i in group:
                    msg = killed_message(i, exc, len(group))
                    _record_failure(store, spec, i, msg)
                    summaries.append({"index": i, "status": "failed", "error": msg})
            except Exception as exc:  # a Python error that survived the retries
                msg = f"task failed after {retries} retries: {describe_error(exc)}"
                tb = _remote_traceback(fut, exc)
                summaries = []
                for i in group:
                    _record_failure(store, spec, i, msg)
                    summaries.append({"index": i, "status": "failed", "error": msg, "traceback": tb})
            for summary in summaries:
                i = summary["index"]
                result.summaries.append(summary)
                if summary["status"] == "done":
                    result.done.append(i)
                else:
                    result.failed[i] = summary["error"]
                    say(f"point {i} ({spec.point_label(i)}) failed: " + " ".join(str(summary["error"]).split()))
                if summary.get("set_aside"):
                    say(
                        f"point {i} ({spec.point_label(i)}): its run directory could not be continued (damaged "
                        f"checkpoint); moved to {summary['set_aside']} and trained from scratch"
                    )
            if bar is not None:
                bar.update(len(summaries))
                bar.set_postfix(failed=len(result.failed))
            fut.release()
    finally:
        if bar is not None:
            bar.close()


def _record_failure(store, spec, index: int, message: str) -> None:
    try:
        write_failure(store, spec, index, message)
    except OSError:  # e.g. a full disk: the point stays not done, the message is printed and logged
        pass


def _remote_traceback(fut, exc) -> str:
    import traceback

    try:
        tb = fut.traceback()
    except Exception:
        tb = None
    return "".join(traceback.format_exception(type(exc), exc, tb))
