"""Where and how a sweep runs: a Dask cluster, one task per pending grid point (or per group of points
trained together as one ensemble, :mod:`chaossim.sweep.groups`), results in the store.

* default: ``distributed.LocalCluster`` of worker processes (``n_workers``, one thread each);
* ``gpus=True``: ``dask_cuda.LocalCUDACluster``, one worker per GPU, points forced onto CuPy;
* ``scheduler="tcp://host:8786"``: any running scheduler (``dask scheduler`` + ``dask worker``,
  dask-jobqueue on SLURM, ...); its workers need chaossim installed and the store's folder mounted
  at the same path.

Tasks have deterministic keys and ``retries`` for Python errors; a task whose worker dies is
rescheduled by the scheduler. After ``distributed.scheduler.allowed-failures`` deaths a group task's
points are tried again one by one, each in its own task (an ensemble may need more memory than its points
alone); a point whose own task kills its worker that often is recorded as failed with the memory it asked
for. A point failing for its own reasons (divergence...) is recorded as failed inside the task, also inside a
group, whose other points go on.

Local clusters listen on 127.0.0.1 only (scheduler, workers and the dashboard, unless another dashboard
address is asked for); an external scheduler is reached within :data:`SCHEDULER_TIMEOUT_S` or refused
before the store is laid out, and a scheduler lost mid-sweep ends the sweep with one line
(:class:`SchedulerLost`). Every task checks the store's lease before it writes (:mod:`chaossim.sweep.lock`):
once its client has gone, it writes nothing more.
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

from .. import interrupts
from ..errors import ConfigError, StoreError
from ..fs import check_writable
from . import live
from .groups import plan_tasks
from .location import target
from .lock import lease_for
from .point import run_group, run_point, run_task
from .spec import SweepSpec, with_backend
from .store import (
    consolidate,
    describe_error,
    grid_chunks_of,
    log_path,
    open_or_create,
    reset_points,
    runs_dir,
    write_failure,
)

SCHEDULER_TIMEOUT_S = 10.0
"""How long a sweep tries to reach an external scheduler (``--scheduler``) before it refuses, writing nothing."""
DEFAULT_DASHBOARD = "127.0.0.1:8787"
"""Where a local cluster's dashboard listens by default: this machine only (another port if 8787 is taken)."""


class SchedulerLost(StoreError):
    """The Dask scheduler went away in the middle of a sweep (its points that were not finished are not lost:
    they continue from their checkpoints when the same command runs again)."""


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
    interrupted: list = field(default_factory=list)  # {"index", "step"} of points a stop reached (step None: not
    # started in this run)

    @property
    def complete(self) -> bool:
        return not self.failed and len(self.skipped) + len(self.done) == self.n_points


def connect(scheduler: str, timeout: float = SCHEDULER_TIMEOUT_S):
    """A ``distributed.Client`` of the running scheduler at ``scheduler``, or a ConfigError after ``timeout``
    seconds (an unreachable or mistyped address), before anything is written."""
    import logging

    from distributed import Client

    quiet = [logging.getLogger(n) for n in ("distributed.client", "distributed.comm", "distributed.core")]
    levels = [lg.level for lg in quiet]
    for lg in quiet:
        lg.setLevel(logging.CRITICAL)
    try:
        return Client(scheduler, timeout=timeout)
    except (OSError, TimeoutError, ValueError, TypeError) as exc:
        why = " ".join(str(exc).split())[:200] or type(exc).__name__
        raise ConfigError(
            f"cannot reach the Dask scheduler at {scheduler} within {timeout:.0f} s ({why}). Nothing was written. "
            "Check the address (e.g. tcp://host:8786) and that the scheduler runs (`dask scheduler`), then run the "
            "same command again."
        ) from None
    finally:
        for lg, level in zip(quiet, levels):
            lg.setLevel(level)


@contextmanager
def make_client(
    *,
    workers: int | None = None,
    gpus: bool = False,
    scheduler: str | None = None,
    dashboard_address: str | None = DEFAULT_DASHBOARD,
    quiet: bool = False,
    client=None,
):
    """A ``distributed.Client`` on the chosen cluster (closed, with its cluster, on exit; ``client``: one
    already connected, e.g. by :func:`connect`, used and closed).

    Local clusters bind the scheduler and the workers to 127.0.0.1; the dashboard listens on
    ``dashboard_address`` (default :data:`DEFAULT_DASHBOARD`, this machine only; None: no dashboard, the
    scheduler's HTTP server then serves nothing). What is printed is the address it really listens on."""
    import logging
    import warnings

    from distributed import Client, LocalCluster

    if scheduler and gpus:
        raise ConfigError(
            "--scheduler and --gpus exclude each other: with --scheduler the workers are already "
            "started; for GPU workers start them with `dask cuda worker ADDRESS` and pass "
            "--scheduler ADDRESS --backend cupy."
        )
    cluster = None
    if client is None and scheduler:
        client = connect(scheduler)
    elif client is None:
        kwargs: dict[str, Any] = dict(host="127.0.0.1", silence_logs=logging.WARNING, env=_importable_here())
        if dashboard_address is None:
            kwargs.update(
                dashboard_address=None, scheduler_kwargs={"dashboard": False, "dashboard_address": "127.0.0.1:0"}
            )
        else:
            kwargs.update(dashboard_address=dashboard_address)
        import dask

        routes: dict[str, Any] = {} if dashboard_address is not None else {"distributed.scheduler.http.routes": []}
        with warnings.catch_warnings(), dask.config.set(routes):
            warnings.filterwarnings("ignore", message=".*already in use.*")  # we print where it listens
            if gpus:
                LocalCUDACluster = _local_cuda_cluster()
                cluster = LocalCUDACluster(**kwargs)
            else:
                n = workers or os.cpu_count() or 1
                if n < 1:
                    raise ConfigError(f"--workers must be >= 1, got {workers}.")
                cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, **kwargs)
        client = Client(cluster)
        live.ignore_terminal_interrupts(client)  # the client relays a Ctrl-C to them (live.StopRelay)
    try:
        if not quiet:
            n_workers = len(client.scheduler_info().get("workers", {}))
            where = _dashboard(cluster, client, dashboard_address)
            print(f"Dask: {n_workers} worker(s)" + (f", dashboard {where}" if where else ""), file=sys.stderr)
        yield client
    finally:
        with _quiet_logs("distributed"):  # a cluster closed after a stop: nothing for the user to read
            client.close()
            if cluster is not None:
                cluster.close()


def _dashboard(cluster, client, asked: str | None) -> str:
    """Where the dashboard really listens (a local cluster: the scheduler's HTTP sockets; an external
    scheduler: the link it reports); '' when there is none."""
    if cluster is None:
        link = getattr(client, "dashboard_link", None)
        return f"{link} (as the scheduler reports it)" if link else ""
    if asked is None:
        return ""
    try:
        socks = [sk.getsockname()[:2] for sk in cluster.scheduler.http_server._sockets.values()]
    except AttributeError:  # pragma: no cover - another distributed: the link it reports
        return str(getattr(cluster, "dashboard_link", ""))
    shown = []
    for host, port in socks:
        note = " (all interfaces: reachable from other machines)" if host in ("0.0.0.0", "::") else ""
        shown.append(f"http://{'[' + host + ']' if ':' in host else host}:{port}/status{note}")
    return ", ".join(shown)


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


def killed_message(index: int, exc: BaseException, group_size: int = 1, memory: str = "") -> str:
    """The error of a point whose task killed its worker each time it was tried (``memory``: what it asked
    for, :func:`memory_note`)."""
    smaller = (
        f" This point was trained in an ensemble of {group_size} points: --group-size N (or --no-ensembles) "
        "makes the tasks smaller."
        if group_size > 1
        else ""
    )
    alone = " alone" if group_size == 1 else ""
    return (
        f"the worker running this point{alone} died each time it was tried ({exc}); it probably ran out of memory "
        f"or crashed.{memory} "
        "Give workers more memory (fewer --workers, a smaller model or batch_size) and re-run the same "
        f"command: completed points are kept and this one resumes from its checkpoint.{smaller}"
    )


def memory_note(spec: SweepSpec, index: int, backend: str | None, limit: int | None) -> str:
    """' Training it needs about 1.2 GiB (...); the workers' memory limit is 1.0 GiB.' for a killed point."""
    from .groups import member_bytes
    from .store import dataset_for

    try:
        cfg = spec.config(index, backend)
        need = member_bytes(cfg, dataset_for(cfg).n_features)
    except Exception:  # noqa: BLE001 - the note is a hint; the failure is recorded without it
        return ""
    text = (
        f" Training it asks for about {_gib(need)} (its states for a minibatch of {cfg.training.batch_size} and its "
        "couplings, docs/sweeps.md), beside its data and the worker's own"
    )
    return text + (f"; the workers' memory limit is {_gib(limit)}." if limit else ".")


def _gib(n: float) -> str:
    return f"{n / 2**30:.2f} GiB" if n >= 2**30 else f"{n / 2**20:.0f} MiB"


def _memory_limit(client) -> int | None:
    try:
        limits = [w.get("memory_limit") for w in client.scheduler_info().get("workers", {}).values()]
        limits = [int(x) for x in limits if x]
        return max(limits) if limits else None
    except Exception:  # noqa: BLE001
        return None


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
    dashboard_address: str | None = DEFAULT_DASHBOARD,
    ensembles: bool | None = None,
    group_size: int | None = None,
    storage_options: dict | None = None,
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

    The store is taken at its real path (symbolic links resolved). One client per store: the lease
    ``PATH.zarr.lock`` refuses a second one, and every task checks it before writing (:mod:`chaossim.sweep.lock`).
    An external ``scheduler`` is reached first (within :data:`SCHEDULER_TIMEOUT_S`), before the store is laid
    out. Resuming reads every chunk first (:func:`chaossim.sweep.verify.verify_store`): metadata that is missing
    or changed is rebuilt from the spec (:mod:`chaossim.sweep.repair`); points marked done whose chunks are
    damaged or missing are reset and run again, from their checkpoints where intact. A re-run whose data
    differ from those the done points (or the checkpoints) were trained on is refused
    (:func:`check_inputs`). Full tracebacks of failed points are appended to ``PATH.zarr.log`` (``result.log``).

    ``store`` may be an fsspec URL (``s3://bucket/path.zarr``; ``storage_options`` as fsspec takes them, else
    the standard AWS variables): the store, ``PATH.zarr.runs/``, the lease and the log are then all on that
    object store (:mod:`chaossim.sweep.location`, :mod:`chaossim.sweep.mirror`,
    :class:`chaossim.sweep.lock.ObjectLock`).
    """
    where = target(store, storage_options)
    store = where.path if where.local else where
    if group_size is not None and (isinstance(group_size, bool) or int(group_size) != group_size or group_size < 1):
        raise ConfigError(f"--group-size must be a positive integer (points per ensemble), got {group_size!r}.")
    if gpus:
        if client is None and scheduler is None:
            _local_cuda_cluster()  # fail before laying out the store
        backend = "cupy"
    spec = with_backend(spec, backend)
    if where.local:
        check_writable(store.parent, "the folder of the sweep store", "give a --store in a writable place")
        store.parent.mkdir(parents=True, exist_ok=True)
    with lease_for(where) as lock, _quiet_client_log():
        lock.keep_alive()
        if lock.broke:
            print(
                f"sweep: took over the stale lock of pid {lock.broke.get('pid')} on host {lock.broke.get('host')} "
                "(that process is no longer running)",
                file=sys.stderr,
            )
        own_client = None
        if client is None and scheduler:
            own_client = client = connect(scheduler)  # an unreachable scheduler is refused before any layout
        try:
            result = _sweep_locked(
                spec, store, lock, client, workers, gpus, scheduler, backend, progress, retries,
                dashboard_address, ensembles, group_size, own_client is not None,
            )  # fmt: skip
        finally:
            if own_client is not None:
                try:
                    own_client.close()
                except Exception:  # noqa: BLE001 - a lost scheduler: nothing to close
                    pass
    signum = interrupts.requested()
    if signum is not None:  # the stop was relayed and every task came back: say where things stand
        raise interrupts.Interrupted(signum, stopped_line(result, signum))
    return result


def stopped_line(result: SweepResult, signum: int) -> str:
    """One line after a clean stop: what this run finished, what stopped with a checkpoint."""
    steps = [p["step"] for p in result.interrupted if p["step"] is not None]
    waiting = len(result.interrupted) - len(steps)
    stored = len(result.done) + len(result.skipped)
    return (
        f"stopped by {interrupts.signal_name(signum)}: {stored} of {result.n_points} points done "
        f"({len(result.done)} in this run); {len(steps)} stopped at their checkpoints"
        + (f" (steps {min(steps)} to {max(steps)})" if steps else "")
        + f", {waiting} not started"
    )


def resume_note(store, spec: SweepSpec, pending: list[int]) -> str:
    """'8 pending points: 5 continue from their checkpoints (steps 250 to 500), 3 start' (the meta.json of the
    pending points that have a run directory, on a file system or an object store)."""
    import json

    from ..runs.rundir import read_meta

    runs = runs_dir(store)
    if isinstance(runs, Path):
        names = {p.name for p in runs.iterdir()} if runs.is_dir() else set()

        def meta(key: str) -> dict:
            return read_meta(runs / key)

    else:
        names = {n.split("/", 1)[0] for n in runs.listing() if n.endswith("/meta.json")}

        def meta(key: str) -> dict:
            try:
                return json.loads(runs.child(key).child("meta.json").read_bytes())
            except (OSError, ValueError):
                return {}

    steps = []
    for i in pending:
        key = spec.point_key(i)
        if key in names:
            step = meta(key).get("step")
            if isinstance(step, int) and step > 0:
                steps.append(step)
    if not steps:
        return f"{len(pending)} pending point(s), none started yet"
    span = f"step {steps[0]}" if min(steps) == max(steps) else f"steps {min(steps)} to {max(steps)}"
    return (
        f"{len(pending)} pending point(s): {len(steps)} continue from their checkpoints ({span}), "
        f"{len(pending) - len(steps)} start from step 0"
    )


def _sweep_locked(
    spec, store, lock, client, workers, gpus, scheduler, backend, progress, retries, dashboard_address, ensembles,
    group_size, owns_client,
) -> SweepResult:  # fmt: skip
    """:func:`run_sweep` once the store's lease is held."""
    local = target(store).local
    if local:
        _remove_leftovers(store)
    existed = store.exists() if local else store.child("zarr.json").exists()
    if existed and local:
        for folder, what in ((store, "the sweep store"), (runs_dir(store), "the checkpoint folder")):
            if folder.exists():
                check_writable(
                    folder, what, "copy the store (and PATH.zarr.runs/) to a writable place and resume there"
                )
    open_or_create(store, spec, backend=spec.base.backend.name)
    result = SweepResult(store=store, n_points=spec.n_points)
    done = np.zeros(spec.n_points, dtype=bool)
    if existed:
        report = _verified(store, spec)
        for i in report.damaged_points:
            result.repaired[i] = [str(p) for p in report.problems[i]]
        reset_points(store, spec, report.damaged_points)
        if result.repaired:
            print(
                f"sweep: {len(result.repaired)} point(s) damaged in the store will be run again "
                f"(from their checkpoints where intact): {sorted(result.repaired)}; "
                "`chaossim sweep-verify` lists the damage",
                file=sys.stderr,
            )
        done = report.intact_done
        check_inputs(store, spec, report, backend)
    result.skipped = [int(i) for i in np.flatnonzero(done)]
    pending = [int(i) for i in np.flatnonzero(~done)]
    if pending and existed:
        print(f"sweep: {resume_note(store, spec, pending)}", file=sys.stderr)
    if pending:
        how: dict[str, Any] = dict(ensembles=ensembles, group_size=group_size, fence=lock.fence(), lock=lock)
        try:
            if client is not None and not owns_client:
                _run_tasks(client, spec, store, pending, backend, progress, retries, result, **how)
            else:
                with make_client(
                    workers=workers,
                    gpus=gpus,
                    scheduler=scheduler,
                    dashboard_address=dashboard_address,
                    quiet=not progress,
                    client=client,
                ) as c:
                    _note_versions(c, store, spec)
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


def _verified(store: Path, spec: SweepSpec):
    """Verify the store; rebuild what its schema record says is missing or changed (then verify again);
    refuse what cannot be repaired."""
    from .repair import repair_store
    from .verify import verify_store

    report = verify_store(store)
    if report.metadata or report.store_wide or report.attributes:
        for line in repair_store(store, spec, report, backend=spec.base.backend.name):
            print(f"sweep: repaired {store.name}: {line}", file=sys.stderr)
        report = verify_store(store)
    if report.store_wide or report.metadata or report.attributes:
        what = [*report.attributes, *map(str, report.metadata), *map(str, report.store_wide)]
        raise StoreError(
            f"{store} is damaged outside its points ({'; '.join(what[:5])}). "
            "Move it away and run the same command: the store is rebuilt and every point "
            f"continues from its checkpoint in {runs_dir(store).name}/."
        )
    return report


def check_inputs(store: Path, spec: SweepSpec, report, backend: str | None = None) -> None:
    """Refuse a re-run that would mix data: the data of every done point (its recorded fingerprint) and of
    every checkpoint of a pending point must be those the spec's data settings load now. Loads each dataset
    once (cached), and hashes it once."""
    from ..data import seed_matters
    from ..fingerprint import data_fingerprint, data_shape
    from .inputs import data_keys, dataset_for
    from .mirror import binding, checkpoints
    from .store import open_sweep

    if report.inputs:
        raise StoreError(f"{store} mixes points trained on different data: {report.inputs[0]}.")
    ds = open_sweep(store, check=False)
    recorded = (
        np.asarray(ds["data_fingerprint"].values).reshape(-1)
        if "data_fingerprint" in ds
        else np.full(spec.n_points, "")
    )
    done = report.intact_done
    runs = runs_dir(store)
    kept = checkpoints(runs)  # one listing of the runs folder
    for points in data_keys(spec, range(spec.n_points)).values():
        was: dict[str, list[int]] = {}
        for i in points:
            fp = str(recorded[i]) if done[i] else ""
            key = spec.point_key(i) if not done[i] else ""
            if key in kept:
                fp = binding(runs, key, kept[key]).get("data_fingerprint", "")
            if fp:
                was.setdefault(fp, []).append(i)
        if not was:
            continue
        cfg = spec.config(points[0], backend)
        data = dataset_for(cfg)
        now = data_fingerprint(data)
        stale = {fp: pts for fp, pts in was.items() if fp != now}
        if stale:
            fp, pts = next(iter(stale.items()))
            d = cfg.data
            seed = f" (seed {cfg.model.seed})" if seed_matters(d.name, d.n_train, d.n_test) else ""
            raise StoreError(
                f"the data changed since points of {store} were trained: data.name = {d.name!r}{seed} now loads "
                f"{data_shape(data)} (fingerprint {now[:12]}), points {pts} were trained on data with fingerprint "
                f"{fp[:12]}. Re-running would mix two datasets in one store; nothing was run. Restore the data they "
                "were trained on, or give a new --store for the new data."
            )


def _note_versions(client, store: Path, spec: SweepSpec) -> None:
    """Say so when the workers run other package versions than the points already done (each point records
    its own in ``versions``)."""
    from .point import versions_text
    from .store import open_sweep

    try:
        ds = open_sweep(store, check=False)
        if "versions" not in ds:
            return
        stored = np.asarray(ds["versions"].values).reshape(-1)
        done = np.asarray(ds["done"].values).reshape(-1)
        old = sorted({str(v) for v, d in zip(stored, done) if d and str(v)})
        from ..fingerprint import package_versions

        now = sorted({versions_text(v) for v in client.run(package_versions).values()})
    except Exception:  # noqa: BLE001 - a note only
        return
    new = [v for v in now if v not in old]
    if old and new:
        print(
            f"sweep: note: the points done so far ran with {' | '.join(old)}; the workers run {' | '.join(new)}: "
            "the store will mix package versions (each point records its own in 'versions')",
            file=sys.stderr,
        )


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
        if isinstance(path, Path):
            with open(path, "a") as fh:
                fh.write("\n".join(lines) + "\n")
        else:  # an object store: the log object rewritten whole, with these lines appended
            before = path.read_bytes() if path.exists() else b""
            path.write_bytes(before + ("\n".join(lines) + "\n").encode())
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
    fence=None,
    lock=None,
) -> None:
    from distributed import as_completed, wait
    from distributed.scheduler import KilledWorker

    grouped, max_flops = grouping(client, spec, ensembles)
    chunks = grid_chunks_of(store)
    if grouped:
        tasks = plan_tasks(
            spec, pending, backend=backend, max_size=group_size, n_workers=_n_workers(client),
            max_step_flops=max_flops, chunks=chunks,
        )  # fmt: skip
        groups = [g for t in tasks for g in t]
        n_grouped = sum(len(g) for g in groups if len(g) > 1)
        if n_grouped:
            print(
                f"sweep: {n_grouped} of {len(pending)} pending points trained as ensembles in "
                f"{sum(1 for t in tasks if any(len(g) > 1 for g in t))} task(s) ("
                f"{sum(1 for g in groups if len(g) > 1)} ensemble(s) of at most {max(len(g) for g in groups)} points; "
                f"{len(tasks)} task(s) in all; --no-ensembles: one ensemble per point)",
                file=sys.stderr,
            )
    else:
        tasks = plan_tasks(spec, pending, chunks=chunks, groups=[[i] for i in pending])
    result.groups = [[i for g in t for i in g] for t in tasks]
    members: dict[str, list[int]] = {}

    def submit(t):
        points = [i for g in t for i in g]
        if len(t) == 1 and len(t[0]) == 1:
            fut = client.submit(
                run_point, spec, points[0], store, backend, fence,
                key=task_key(spec, points[0]), retries=retries, pure=False,
            )  # fmt: skip
        elif len(t) == 1:
            fut = client.submit(
                run_group, spec, t[0], store, backend, fence,
                key=group_task_key(spec, points), retries=retries, pure=False,
            )  # fmt: skip
        else:
            fut = client.submit(
                run_task, spec, t, store, backend, fence,
                key=group_task_key(spec, points), retries=retries, pure=False,
            )  # fmt: skip
        members[fut.key] = points
        return fut

    futures = [submit(t) for t in tasks]
    bar = live.SweepProgress(client, spec, len(result.skipped), enabled=progress)
    say = bar.write
    shown = live.WarningsOnce(say)

    def record(i, msg, tb=None):
        _record_failure(store, spec, i, msg, lock)
        return {"index": i, "status": "failed", "error": msg, **({"traceback": tb} if tb else {})}

    alone: list[int] = []  # points of tasks whose worker died too often: tried again alone, one at a time
    known_limit = _memory_limit(client)  # asked now: a worker that just died is missing from the scheduler's list

    def outcome(fut, isolated: bool = False) -> list[dict] | None:
        """The summaries of a finished task (None: its points are to be tried again alone)."""
        group = members[fut.key]
        try:
            summaries = fut.result()
            return summaries if isinstance(summaries, list) else [summaries]
        except KilledWorker as exc:
            if not isolated:  # an ensemble may need more memory than its points alone, and a task queued on a
                # dying worker is blamed with the one that killed it: each point again, alone, one at a time
                what = f"points {group} together" if len(group) > 1 else f"point {group[0]}"
                say(f"sweep: the worker running {what} died each time it was tried; trying again alone, after the rest")
                alone.extend(group)
                return None
            limit = _memory_limit(client) or known_limit
            return [record(i, killed_message(i, exc, 1, memory_note(spec, i, backend, limit))) for i in group]
        except Exception as exc:  # a Python error that survived the retries, or the scheduler is gone
            _check_scheduler(client, result, spec, exc)
            msg = f"task failed after {retries} retries: {describe_error(exc)}"
            tb = _remote_traceback(fut, exc)
            return [record(i, msg, tb) for i in group]

    def finished():
        """Every task's outcome: the planned tasks as they complete, then the points to try alone, in turn."""
        for fut in as_completed(futures):
            yield fut, outcome(fut)
        while alone and not interrupts.requested():
            i = alone.pop(0)
            result.groups.append([i])
            fut = submit([[i]])
            wait([fut])
            yield fut, outcome(fut, isolated=True)

    try:
        with live.StopRelay(client) as relay:
            _collect(finished(), result, spec, say, shown, bar)
        if relay.relayed is not None:
            result.interrupted.extend({"index": i, "step": None} for i in alone)  # the re-run tries them
    except SchedulerLost:
        raise
    except Exception as exc:  # e.g. the connection to the scheduler broke inside as_completed
        _check_scheduler(client, result, spec, exc)
        raise
    finally:
        bar.close()


def _collect(finished, result: SweepResult, spec: SweepSpec, say, shown, bar) -> None:
    """Record the summaries of the tasks as they finish (``finished``: (future, summaries) pairs)."""
    for fut, summaries in finished:
        fut.release()
        for summary in summaries or []:
            i = summary["index"]
            shown.show(summary.get("warnings"))
            if summary["status"] == "interrupted":
                result.interrupted.append({"index": i, "step": summary.get("step")})
                continue
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
        bar.points_done([s["index"] for s in summaries or [] if s["status"] != "interrupted"], len(result.failed))


@contextmanager
def _quiet_client_log():
    """distributed's client logs a lost scheduler with tracebacks; the sweep says it in one line instead
    (:class:`SchedulerLost`)."""
    with _quiet_logs("distributed.client"):
        yield


@contextmanager
def _quiet_logs(name: str):
    """Nothing below CRITICAL from the logger ``name`` (and its children) within the block."""
    import logging

    import distributed  # noqa: F401 - its import sets the levels of its loggers: first, then ours

    log = logging.getLogger(name)
    level = log.level
    log.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        log.setLevel(level)


def _check_scheduler(client, result: SweepResult, spec: SweepSpec, exc: BaseException) -> None:
    """Raise :class:`SchedulerLost` (one line, the re-run command) when ``exc`` comes from a lost scheduler."""
    from ..process import this_process

    lost = getattr(client, "status", "running") not in ("running", "connecting")
    if not lost:
        try:
            client.scheduler_info()  # answered from the client's cache; a dead comm shows in the status
            lost = getattr(client, "status", "running") not in ("running", "connecting")
        except Exception:  # noqa: BLE001
            lost = True
    if not lost and type(exc).__name__ in ("CancelledError", "FutureCancelledError", "CommClosedError"):
        lost = True
    if not lost:
        return
    from .store import done_mask

    address = getattr(getattr(client, "scheduler", None), "address", None) or "?"
    try:
        done = int(done_mask(result.store).sum())  # what is stored, written by tasks that finished in time
    except Exception:  # noqa: BLE001
        done = len(result.done) + len(result.skipped)
    command = this_process()["command"] or "the same command"
    raise SchedulerLost(
        f"lost the Dask scheduler {address} in the middle of the sweep {spec.name}: {done} of {spec.n_points} "
        f"points are done and stored; the {spec.n_points - done} others continue from their checkpoints when the "
        f"same command runs again (its tasks still running on the workers write nothing more): {command}"
    )


def _record_failure(store, spec, index: int, message: str, lock=None) -> None:
    try:
        write_failure(store, spec, index, message, fence=lock.fence() if lock is not None else None)
    except OSError:  # e.g. a full disk: the point stays not done, the message is printed and logged
        pass


def _remote_traceback(fut, exc) -> str:
    import traceback

    try:
        tb = fut.traceback()
    except Exception:
        tb = None
    return "".join(traceback.format_exception(type(exc), exc, tb))
