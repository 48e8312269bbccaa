"""Running one grid point: a pure function of (spec, point index) that writes its region of the store.

Everything random comes from the point's config (``model.seed``) through :func:`derive_seed`, so a
point run alone gives, on NumPy, the same numbers as inside a sweep, and a re-run after a crash
continues from the point's checkpoint (``PATH.zarr.runs/<point key>/``, see
:func:`chaossim.runs.training.train`) to the same result.
"""

from __future__ import annotations

import time
import traceback
import uuid

import numpy as np

from .. import interrupts, streams
from ..errors import ChaossimError, StoreError
from ..fs import os_error_message
from ..metrics import index_names
from ..runs.training import train
from . import live
from .inputs import dataset_for
from .location import target
from .mirror import GroupFence, RunMirror
from .records import place, record_families, step_axes
from .spec import SweepSpec
from .store import (
    DONE_VARIABLE,
    describe_error,
    fill_values,
    open_arrays,
    runs_dir,
    write_failure,
    write_points,
)

# generator streams of the post-training records (training uses 1..5 and 100+)
INDICES_T_STREAM, SAMPLES_STREAM, TRAJECTORY_STREAM = (
    streams.SWEEP_INDICES_T,
    streams.SWEEP_SAMPLES,
    streams.SWEEP_TRAJECTORY,
)


def compute_point(
    spec: SweepSpec, index: int, run_dir=None, *, backend: str | None = None, fence=None, on_step=None
) -> dict:
    """Train point ``index`` (resuming from ``run_dir``'s checkpoint if there is one) and compute what
    the store records. Returns name -> NumPy array (no grid axes, not padded) plus bookkeeping. ``fence``:
    checked before each write into ``run_dir``; ``on_step``: called after each step
    (:func:`chaossim.runs.training.train`)."""
    config = spec.config(index, backend)
    data = dataset_for(config)
    with np.errstate(over="ignore", invalid="ignore"):  # a diverging run raises DivergenceError instead
        result = train(
            config,
            run_dir,
            resume="auto" if run_dir is not None else False,
            progress=False,
            dataset=data,
            fence=fence,
            on_step=on_step,
        )
    return record_point(spec, config, data, result)


def versions_text(versions: dict | None = None) -> str:
    """'chaossim 0.1.0, numpy 2.4.6, python 3.11.7' (the ``versions`` a point records)."""
    from ..fingerprint import package_versions

    return ", ".join(f"{k} {v}" for k, v in (versions or package_versions()).items())


def record_point(spec: SweepSpec, config, data, result) -> dict:
    """What the store records of a trained point (``result``: its :class:`chaossim.runs.training.TrainResult`): every
    record family's values (:data:`chaossim.sweep.records.FAMILIES`: the training curves, the indices along
    generation time, samples, trajectories, diversity, parameters, each from the point's own generator streams,
    so the same whether it was trained alone or in an ensemble) and the point's bookkeeping."""
    from ..fingerprint import data_fingerprint

    out = record_families(spec, config, data, result)
    model = result.model
    out["steps_done"] = int(result.step)
    out["device"] = str(model.bk.device)
    out["backend"] = str(model.bk.name)
    out["train_path"] = result.train_path
    out["train_path_reason"] = result.train_path_reason
    out["data_fingerprint"] = data_fingerprint(data)
    out["versions"] = versions_text()
    return out


def run_point(spec: SweepSpec, index: int, store, backend: str | None = None, fence=None) -> dict:
    """Run grid point ``index`` of ``spec`` and write its region of the sweep store at ``store``.

    ``fence`` (:mod:`chaossim.sweep.lock`) is checked before each write into the store and the point's run
    directory: once the client that submitted the task has gone, the task stops without writing
    (:class:`chaossim.errors.FencedError`).

    A failure of the point itself (a :class:`chaossim.errors.ChaossimError`, e.g. a
    DivergenceError) or a full or read-only disk is recorded in the store (as far as it can be written) as
    ``status="failed"`` with its message; other exceptions propagate (Dask retries the task). A run
    directory whose checkpoint is damaged or lost its config.toml is set aside
    (``<point key>.damaged-<time>``) and the point trained from scratch. Returns a small summary of plain
    Python/NumPy values (``traceback`` too when the point failed).
    """
    return run_group(spec, [index], store, backend, fence)[0]


def _task(spec: SweepSpec, points: list[int], body) -> list[dict]:
    """Run a task's ``body(on_step)`` as a sweep runs it (:mod:`chaossim.sweep.live`): not at all once a stop was
    requested, with its training steps reported to the client, its warnings returned in its first summary
    instead of printed, and a stop at a step boundary reported as ``status = "interrupted"`` (the points'
    checkpoints and meta.json say where they stopped; the store keeps them pending)."""
    texts: list[str] = []
    step = None
    if live.stop_requested() is None:
        try:
            with live.captured_warnings(texts):
                out = body(live.step_reporter(points))
        except interrupts.Interrupted as exc:
            step = exc.checkpoint
        else:
            if texts and out:
                out[0]["warnings"] = texts
            return out
    return [
        {"index": i, "label": spec.point_label(i), "status": "interrupted", "error": "", "step": step} for i in points
    ]


def run_group(spec: SweepSpec, indices, store, backend: str | None = None, fence=None) -> list[dict]:
    """:func:`_run_group` as a task (or part of one) of a sweep: it stops when the client relays a stop
    (:func:`_task`)."""
    indices = [int(i) for i in indices]
    return _task(spec, indices, lambda on_step: _run_group(spec, indices, store, backend, fence, on_step))


def _run_group(spec: SweepSpec, indices, store, backend: str | None = None, fence=None, on_step=None) -> list[dict]:
    """Run the grid points ``indices`` (equal up to g and seed, see :func:`chaossim.sweep.groups.plan_groups`)
    as ONE ensemble (:func:`chaossim.runs.ensemble_training.train_ensemble`; one point: trained alone) and write each
    point's region of the store, exactly as a point trained alone writes it (plus ``group_size``), all of them
    at once, their ``done`` flags last. Each point keeps its own run directory, so it resumes from its own
    checkpoint whether the next run groups it or not. A point that fails for its own reasons (its run directory
    is refused, it diverges) is recorded failed and the others go on; a full or read-only disk fails every
    point not yet written. ``fence`` as in :func:`run_point`. Returns one summary per point."""
    from ..runs.ensemble_training import train_ensemble

    store = target(store)
    started = time.perf_counter()
    indices = [int(i) for i in indices]
    template = open_arrays(store)
    runs = [RunMirror(runs_dir(store), spec.point_key(i), fence) for i in indices]
    run_ids = [uuid.uuid4().hex for _ in indices]
    summaries = [{"index": i, "label": spec.point_label(i), "run_id": rid} for i, rid in zip(indices, run_ids)]
    try:
        for s, run in zip(summaries, runs):
            s["set_aside"] = run.fetch() or _set_aside_if_damaged(run, fence)
        configs = [spec.config(i, backend) for i in indices]
        datasets = [dataset_for(c) for c in configs]
        with np.errstate(over="ignore", invalid="ignore"):  # a diverging member is returned as a DivergenceError
            if len(indices) == 1:
                try:
                    outcomes: list = [
                        train(configs[0], runs[0].dir, resume="auto", progress=False, dataset=datasets[0],
                              fence=GroupFence(runs, fence), on_step=on_step)
                    ]  # fmt: skip
                except ChaossimError as exc:
                    outcomes = [exc]
            else:
                outcomes = train_ensemble(
                    configs, [r.dir for r in runs], resume="auto", datasets=datasets, fence=GroupFence(runs, fence),
                    on_step=on_step,
                )  # fmt: skip
        for run in runs:
            run.push()
    except interrupts.Interrupted:  # a relayed stop: the checkpoints of this step are published, then _task says so
        for run in runs:
            run.push()
        raise
    except (ChaossimError, OSError) as exc:  # the whole group: a full disk, the data cannot be loaded...
        wall = time.perf_counter() - started
        return [
            _failed(spec, i, store, r.where, backend, s, exc, wall, rid, fence=fence)
            for i, r, s, rid in zip(indices, runs, summaries, run_ids)
        ]
    return _tail(spec, store, template, indices, configs, datasets, runs, summaries, outcomes, started, backend, fence)


def _tail(spec, store, template, indices, configs, datasets, runs, summaries, outcomes, started, backend, fence):
    """What run_point and run_group do once trained: record each point, write those recorded in one batch (their
    ``done`` flags last), fail the others, keep each finished run directory in one file (:meth:`RunMirror.pack`)."""
    coords = {name: np.asarray(template[name][...]) for name in step_axes() if name in template}
    fills = fill_values(template, spec)  # once per group: listing the store's arrays costs 20 ms
    fills.pop(DONE_VARIABLE)
    values: dict[int, dict] = {}
    out: dict[int, dict] = {}
    for i, cfg, data, run, s, outcome in zip(indices, configs, datasets, runs, summaries, outcomes):
        try:
            if isinstance(outcome, BaseException):
                raise outcome
            with np.errstate(over="ignore", invalid="ignore"):
                rec = record_point(spec, cfg, data, outcome)
        except (ChaossimError, OSError) as exc:
            out[i] = _failed(spec, i, store, run.where, backend, s, exc, time.perf_counter() - started, s["run_id"],
                             fence=fence)  # fmt: skip
            continue
        final = {n: float(rec[n][-1]) for n in index_names()}
        values[i] = _point_values(rec, fills, coords)
        out[i] = {**s, "status": "done", "error": "", "steps_done": rec["steps_done"], "device": rec["device"], **final}
    wall = time.perf_counter() - started
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
    for i in values:
        values[i].update(
            status="done", error="", wall_time=wall, run_id=out[i]["run_id"], group_size=len(indices),
            completed_at=stamp,
        )  # fmt: skip
        values[i][DONE_VARIABLE] = True  # written last, in its own pass
        out[i]["wall_time"] = wall
    try:
        write_points(store, spec, values, template=template, fence=fence)
    except (ChaossimError, OSError) as exc:
        for i, run, s in zip(indices, runs, summaries):
            if i in values:
                out[i] = _failed(spec, i, store, run.where, backend, s, exc, time.perf_counter() - started,
                                 s["run_id"], fence=fence)  # fmt: skip
        return [out[i] for i in indices]
    for i, run in zip(indices, runs):
        if i in values:
            run.pack()
    return [out[i] for i in indices]


def run_task(spec: SweepSpec, groups, store, backend: str | None = None, fence=None) -> list[dict]:
    """One Dask task: the groups ``groups`` (lists of point indices, :func:`chaossim.sweep.groups.plan_tasks`)
    one after the other, each trained as one ensemble (a group of one: alone). The task owns every chunk of
    its points' store regions: no other task writes them. Returns every point's summary."""
    out: list[dict] = []
    for g in groups:
        out += run_group(spec, g, store, backend, fence)
    return out


def _failed(
    spec: SweepSpec,
    index: int,
    store,
    run_dir,
    backend,
    summary: dict,
    exc,
    wall: float,
    run_id: str,
    traceback_text: str | None = None,
    *,
    fence=None,
) -> dict:
    """Record point ``index`` failed in the store (as far as it can be written) and return its summary."""
    if isinstance(exc, OSError) and exc.errno is None:
        raise exc  # not about a file: a Python error, retried by Dask
    if isinstance(exc, OSError) and not exc.filename:  # e.g. from inside zarr: name where the point writes
        exc = OSError(exc.errno, exc.strerror, f"{store} (or {run_dir})")
    message = (
        describe_error(exc)
        if isinstance(exc, ChaossimError)
        else os_error_message(
            exc,
            "free some space or fix the folder, then run the same command again: this point resumes from "
            "its checkpoint",
        )
    )
    try:
        write_failure(
            store,
            spec,
            index,
            message,
            fence=fence,
            wall_time=wall,
            run_id=run_id,
            device=_device(spec, index, backend),
        )
    except OSError:  # the disk may be full: the point stays not done either way
        pass
    tb = traceback_text or "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return {**summary, "status": "failed", "error": message, "wall_time": wall, "traceback": tb}


def _point_values(out: dict, fills: dict, coords: dict) -> dict:
    """What a point writes: every variable of the store (``fills``, :func:`fill_values`, for those ``out`` lacks,
    so that a done point has all its chunks), the step-logged variables placed on the store's axes."""
    values = dict(fills)
    values.update(place(dict(out), coords))
    return values


def _set_aside_if_damaged(run: RunMirror, fence=None) -> str:
    """Move a run directory that cannot be continued (unreadable checkpoint, or a checkpoint without its
    config.toml) to ``<name>.damaged-<time>`` so the point starts from scratch; returns the new place or ''."""
    from ..io import load_npz

    ck = run.dir / "checkpoint.npz"
    if not ck.exists():
        return ""
    try:
        if not (run.dir / "config.toml").is_file():
            raise StoreError("no config.toml")
        load_npz(ck)
        return ""
    except StoreError:
        if fence is not None:
            fence()
        return run.set_aside()


def _device(spec: SweepSpec, index: int, backend: str | None) -> str:
    try:
        from ..backend import get_backend

        cfg = spec.config(index, backend)
        return get_backend(cfg.backend.name, cfg.backend.dtype).device
    except Exception:  # the failure itself may be about the backend
        return ""
