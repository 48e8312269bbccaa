"""Where and how a sweep runs: a Dask cluster, one task per pending grid point, results in the store.

* default: ``distributed.LocalCluster`` of worker processes (``n_workers``, one thread each);
* ``gpus=True``: ``dask_cuda.LocalCUDACluster``, one worker per GPU, points forced onto CuPy;
* ``scheduler="tcp://host:8786"``: any running scheduler (``dask scheduler`` + ``dask worker``,
  dask-jobqueue on SLURM, ...); its workers need chaossim installed and the store's folder mounted
  at the same path.

Tasks have deterministic keys and ``retries`` for Python errors; a task whose worker dies is
rescheduled by the scheduler, and after ``distributed.scheduler.allowed-failures`` deaths the
point is recorded as failed. A point failing for its own reasons (divergence...) is recorded as
failed inside the task; the sweep goes on either way.
"""
from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import ConfigError
from .point import run_point
from .spec import SweepSpec, with_backend
from .store import consolidate, describe_error, done_mask, open_or_create, write_failure


@dataclass
class SweepResult:
    """What a call of :func:`run_sweep` did."""

    store: Path
    n_points: int
    skipped: list = field(default_factory=list)   # indices already done before this call
    done: list = field(default_factory=list)      # indices completed by this call
    failed: dict = field(default_factory=dict)    # index -> error message
    summaries: list = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return not self.failed and len(self.skipped) + len(self.done) == self.n_points


@contextmanager
def make_client(*, workers: int | None = None, gpus: bool = False, scheduler: str | None = None,
                dashboard_address: str | None = ":8787", quiet: bool = False):
    """A ``distributed.Client`` on the chosen cluster (closed, with its cluster, on exit)."""
    import logging

    from distributed import Client, LocalCluster

    if scheduler and gpus:
        raise ConfigError("--scheduler and --gpus exclude each other: with --scheduler the workers are already "
                          "started; for GPU workers start them with `dask cuda worker ADDRESS` and pass "
                          "--scheduler ADDRESS --backend cupy.")
    cluster = None
    if scheduler:
        client = Client(scheduler)
    elif gpus:
        LocalCUDACluster = _local_cuda_cluster()
        cluster = LocalCUDACluster(dashboard_address=dashboard_address or ":0", silence_logs=logging.WARNING)
        client = Client(cluster)
    else:
        n = workers or os.cpu_count() or 1
        if n < 1:
            raise ConfigError(f"--workers must be >= 1, got {workers}.")
        cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                               dashboard_address=dashboard_address or ":0",  # None would still bind :8787
                               silence_logs=logging.WARNING)
        client = Client(cluster)
    try:
        if not quiet:
            link = getattr(client, "dashboard_link", None) if dashboard_address or scheduler else None
            print(f"Dask: {len(client.scheduler_info().get('workers', {}))} worker(s)"
                  + (f", dashboard {link}" if link else ""), file=sys.stderr)
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _local_cuda_cluster():
    try:
        from dask_cuda import LocalCUDACluster
    except ImportError:
        raise ConfigError("--gpus needs dask-cuda, which is not installed: pip install 'chaossim[gpu]' "
                          "(or 'chaossim[cuda13]'), or leave out --gpus to run on CPU workers.") from None
    return LocalCUDACluster


def task_key(spec: SweepSpec, index: int) -> str:
    return f"chaossim-point-{spec.fingerprint()}-{index}"


def killed_message(index: int, exc: BaseException) -> str:
    return (f"the worker running this point died each time it was tried ({exc}); it probably ran out of memory "
            "or crashed. "
            "Give workers more memory (fewer --workers, a smaller model or batch_size) and re-run the same "
            "command: completed points are kept and this one resumes from its checkpoint.")


def run_sweep(spec: SweepSpec, store, *, client=None, workers: int | None = None, gpus: bool = False,
              scheduler: str | None = None, backend: str | None = None, progress: bool = True, retries: int = 2,
              dashboard_address: str | None = ":8787") -> SweepResult:
    """Run every pending point of ``spec`` into the zarr store ``store`` (laid out if new, resumed if not).

    ``client``: an existing ``distributed.Client`` to use (else one is made from workers/gpus/scheduler).
    ``backend``: force backend.name of every point ("numpy", "cupy", "auto"); ``gpus`` implies "cupy".
    """
    store = Path(store).absolute()
    if gpus:
        if client is None and scheduler is None:
            _local_cuda_cluster()  # fail before laying out the store
        backend = "cupy"
    spec = with_backend(spec, backend)
    open_or_create(store, spec, backend=spec.base.backend.name)
    done = done_mask(store).reshape(-1)
    result = SweepResult(store=store, n_points=spec.n_points, skipped=[int(i) for i in np.flatnonzero(done)])
    pending = [int(i) for i in np.flatnonzero(~done)]
    if pending:
        if client is not None:
            _run_tasks(client, spec, store, pending, backend, progress, retries, result)
        else:
            with make_client(workers=workers, gpus=gpus, scheduler=scheduler,
                             dashboard_address=dashboard_address, quiet=not progress) as c:
                _run_tasks(c, spec, store, pending, backend, progress, retries, result)
    consolidate(store)
    return result


def _run_tasks(client, spec, store, pending, backend, progress, retries, result: SweepResult) -> None:
    from distributed import as_completed
    from distributed.scheduler import KilledWorker

    futures = [client.submit(run_point, spec, i, str(store), backend, key=task_key(spec, i), retries=retries,
                             pure=False) for i in pending]
    index_of = {f.key: i for f, i in zip(futures, pending)}
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=spec.n_points, initial=len(result.skipped), desc=f"sweep {spec.name}", unit="point",
                   dynamic_ncols=True)
    try:
        for fut in as_completed(futures):
            i = index_of[fut.key]
            try:
                summary = fut.result()
            except KilledWorker as exc:
                msg = killed_message(i, exc)
                write_failure(store, spec, i, msg)
                summary = {"index": i, "status": "failed", "error": msg}
            except Exception as exc:  # a Python error that survived the retries
                msg = f"task failed after {retries} retries: {describe_error(exc)}"
                write_failure(store, spec, i, msg)
                summary = {"index": i, "status": "failed", "error": msg}
            result.summaries.append(summary)
            if summary["status"] == "done":
                result.done.append(i)
            else:
                result.failed[i] = summary["error"]
                if bar is None:
                    print(f"point {i} ({spec.point_label(i)}) failed: {summary['error']}", file=sys.stderr)
                else:
                    bar.write(f"point {i} ({spec.point_label(i)}) failed: {summary['error']}")
            if bar is not None:
                bar.update(1)
                bar.set_postfix(failed=len(result.failed))
            fut.release()
    finally:
        if bar is not None:
            bar.close()
