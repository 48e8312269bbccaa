"""Running one grid point: a pure function of (spec, point index) that writes its region of the store.

Everything random comes from the point's config (``model.seed``) through :func:`derive_seed`, so a
point run alone gives, on NumPy, the same numbers as inside a sweep, and a re-run after a crash
continues from the point's checkpoint (``PATH.zarr.runs/<point key>/``, see
:func:`chaossim.training.train`) to the same result.
"""

from __future__ import annotations

import shutil
import time
import traceback
import uuid
from pathlib import Path

import numpy as np

from .. import streams
from ..backend import derive_seed, to_numpy
from ..errors import ChaossimError, StoreError
from ..evaluation import indices_vs_time
from ..fs import os_error_message
from ..metrics import index_names
from ..rundir import CHAOS_NAMES
from ..training import train
from .spec import SweepSpec
from .store import (
    DONE_VARIABLE,
    dataset_for,
    describe_error,
    fill_values,
    index_t_name,
    open_sweep,
    runs_dir,
    write_failure,
    write_point,
)

# generator streams of the post-training records (training uses 1..5 and 100+)
INDICES_T_STREAM, SAMPLES_STREAM, TRAJECTORY_STREAM = (
    streams.SWEEP_INDICES_T,
    streams.SWEEP_SAMPLES,
    streams.SWEEP_TRAJECTORY,
)


def compute_point(spec: SweepSpec, index: int, run_dir=None, *, backend: str | None = None) -> dict:
    """Train point ``index`` (resuming from ``run_dir``'s checkpoint if there is one) and compute what
    the store records. Returns name -> NumPy array (no grid axes, not padded) plus bookkeeping."""
    config = spec.config(index, backend)
    data = dataset_for(config)
    with np.errstate(over="ignore", invalid="ignore"):  # a diverging run raises DivergenceError instead
        result = train(config, run_dir, resume="auto" if run_dir is not None else False, progress=False, dataset=data)
    return record_point(spec, config, data, result)


def record_point(spec: SweepSpec, config, data, result) -> dict:
    """What the store records of a trained point (``result``: its :class:`chaossim.training.TrainResult`):
    the training curves, the indices along generation time, samples, trajectories and parameters, each
    from the point's own generator streams (so the same whether it was trained alone or in an ensemble)."""
    rec = spec.record
    model, seed = result.model, config.model.seed
    out: dict = {}
    # training curves on the store's t_age axis
    out["_t_age"] = np.asarray(result.history["t_age"])
    for n in index_names():
        out[n] = np.asarray(result.history[n], dtype=np.float64)
    chaos = result.chaos or {}
    if len(chaos.get("t_age", ())):
        out["_t_age_chaos"] = np.asarray(chaos["t_age"])
        for n in CHAOS_NAMES:
            out[n] = np.asarray(chaos[n], dtype=np.float64)
    # indices along generation time t (paper Fig. 3b)
    test = data.test[: config.training.n_eval]
    vt = indices_vs_time(model, test, rec.times, seed=derive_seed(seed, INDICES_T_STREAM))
    for n in index_names():
        out[index_t_name(n)] = np.asarray(vt[n], dtype=np.float64)
    if rec.n_samples:
        model.bk.reseed(model.rng, derive_seed(seed, SAMPLES_STREAM))
        out["samples"] = to_numpy(model.generate(rec.n_samples, config.dynamics.T))
    traj_times = rec.trajectory_times(spec.base.dynamics.dt)
    if traj_times:
        model.bk.reseed(model.rng, derive_seed(seed, TRAJECTORY_STREAM))
        frames = to_numpy(model.generate(rec.n_trajectories, list(traj_times)))  # (time, sample, feature)
        out["trajectory"] = np.ascontiguousarray(np.transpose(frames, (1, 0, 2)))
    from .diversity import record as record_diversity
    from .ftle import record as record_ftle

    out.update(record_diversity(spec, config, model))
    out.update(record_ftle(spec, config, model, result.run_dir))
    for k, v in model.params.to_numpy().items():
        out[f"param_{k}"] = v
    out["steps_done"] = int(result.step)
    out["device"] = str(model.bk.device)
    out["backend"] = str(model.bk.name)
    out["train_path"] = result.train_path
    out["train_path_reason"] = result.train_path_reason
    return out


def _on_axis(values: np.ndarray, at: np.ndarray, axis: np.ndarray) -> np.ndarray:
    """Place ``values`` logged at steps ``at`` onto the store's (union) step ``axis``, NaN elsewhere."""
    out = np.full(len(axis), np.nan)
    pos = np.searchsorted(axis, at)
    out[pos] = values
    return out


def run_point(spec: SweepSpec, index: int, store, backend: str | None = None) -> dict:
    """Run grid point ``index`` of ``spec`` and write its region of the sweep store at ``store``.

    A failure of the point itself (a :class:`chaossim.errors.ChaossimError`, e.g. a
    DivergenceError) or a full or read-only disk is recorded in the store (as far as it can be written) as
    ``status="failed"`` with its message; other exceptions propagate (Dask retries the task). A run
    directory whose checkpoint is damaged or lost its config.toml is set aside
    (``<point key>.damaged-<time>``) and the point trained from scratch. Returns a small summary of plain
    Python/NumPy values (``traceback`` too when the point failed).
    """
    store = Path(store)
    started = time.perf_counter()
    run_id = uuid.uuid4().hex
    run_dir = runs_dir(store) / spec.point_key(index)
    template = open_sweep(store, check=False)
    summary = {"index": int(index), "label": spec.point_label(index), "run_id": run_id}
    try:
        summary["set_aside"] = _set_aside_if_damaged(run_dir)
        out = compute_point(spec, index, run_dir, backend=backend)
        values = _point_values(out, template, spec)
        wall = time.perf_counter() - started
        values.update(
            status="done",
            error="",
            wall_time=wall,
            run_id=run_id,
            group_size=1,
            completed_at=time.strftime("%Y-%m-%dT%H:%M:%S"),
        )
        values[DONE_VARIABLE] = True  # write_point writes it last, in its own write
        write_point(store, spec, index, values, template=template)
    except (ChaossimError, OSError) as exc:
        return _failed(spec, index, store, run_dir, backend, summary, exc, time.perf_counter() - started, run_id)
    final = {n: float(out[n][-1]) for n in index_names()}
    return {
        **summary,
        "status": "done",
        "error": "",
        "wall_time": wall,
        "steps_done": out["steps_done"],
        "device": out["device"],
        **final,
    }


def _failed(
    spec: SweepSpec,
    index: int,
    store: Path,
    run_dir: Path,
    backend,
    summary: dict,
    exc,
    wall: float,
    run_id: str,
    traceback_text: str | None = None,
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
        write_failure(store, spec, index, message, wall_time=wall, run_id=run_id, device=_device(spec, index, backend))
    except OSError:  # the disk may be full: the point stays not done either way
        pass
    tb = traceback_text or "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return {**summary, "status": "failed", "error": message, "wall_time": wall, "traceback": tb}


def run_group(spec: SweepSpec, indices, store, backend: str | None = None) -> list[dict]:
    """Run the grid points ``indices`` (equal up to g and seed, see :func:`chaossim.sweep.groups.plan_groups`)
    as ONE ensemble (:func:`chaossim.ensemble_training.train_ensemble`) and write each point's region of
    the store, exactly as :func:`run_point` writes it (plus ``group_size``). Each point keeps its own run
    directory, so it resumes from its own checkpoint whether the next run groups it or not. A point that
    fails for its own reasons (its run directory is refused, it diverges) is recorded failed and the others
    go on; a full or read-only disk fails every point not yet written. Returns one summary per point."""
    from ..ensemble_training import train_ensemble

    store = Path(store)
    started = time.perf_counter()
    indices = [int(i) for i in indices]
    template = open_sweep(store, check=False)
    run_dirs = [runs_dir(store) / spec.point_key(i) for i in indices]
    run_ids = [uuid.uuid4().hex for _ in indices]
    summaries = [{"index": i, "label": spec.point_label(i), "run_id": rid} for i, rid in zip(indices, run_ids)]
    try:
        for s, d in zip(summaries, run_dirs):
            s["set_aside"] = _set_aside_if_damaged(d)
        configs = [spec.config(i, backend) for i in indices]
        datasets = [dataset_for(c) for c in configs]
        with np.errstate(over="ignore", invalid="ignore"):  # a diverging member is returned as a DivergenceError
            outcomes = train_ensemble(configs, run_dirs, resume="auto", datasets=datasets)
    except (ChaossimError, OSError) as exc:  # the whole group: a full disk, the data cannot be loaded...
        wall = time.perf_counter() - started
        return [
            _failed(spec, i, store, d, backend, s, exc, wall, rid)
            for i, d, s, rid in zip(indices, run_dirs, summaries, run_ids)
        ]
    out = []
    for i, cfg, data, d, s, rid, outcome in zip(indices, configs, datasets, run_dirs, summaries, run_ids, outcomes):
        try:
            if isinstance(outcome, BaseException):
                raise outcome
            with np.errstate(over="ignore", invalid="ignore"):
                rec = record_point(spec, cfg, data, outcome)
            values = _point_values(rec, template, spec)
            wall = time.perf_counter() - started
            values.update(
                status="done",
                error="",
                wall_time=wall,
                run_id=rid,
                group_size=len(indices),
                completed_at=time.strftime("%Y-%m-%dT%H:%M:%S"),
            )
            values[DONE_VARIABLE] = True
            write_point(store, spec, i, values, template=template)
        except (ChaossimError, OSError) as exc:
            out.append(_failed(spec, i, store, d, backend, s, exc, time.perf_counter() - started, rid))
            continue
        final = {n: float(rec[n][-1]) for n in index_names()}
        out.append(
            {
                **s,
                "status": "done",
                "error": "",
                "wall_time": wall,
                "steps_done": rec["steps_done"],
                "device": rec["device"],
                **final,
            }
        )
    return out


def _point_values(out: dict, template, spec: SweepSpec) -> dict:
    """What a point writes: every variable of the store (fill values for those ``out`` lacks, so that a
    done point has all its chunks), the training curves placed on the store's step axes."""
    values = fill_values(template, spec)
    values.pop(DONE_VARIABLE)
    values.update({k: v for k, v in out.items() if not k.startswith("_")})
    for n in index_names():
        values[n] = _on_axis(out[n], out["_t_age"], template["t_age"].values)
    if "_t_age_chaos" in out and "t_age_chaos" in template.coords:
        for n in CHAOS_NAMES:
            values[n] = _on_axis(out[n], out["_t_age_chaos"], template["t_age_chaos"].values)
    return values


def _set_aside_if_damaged(run_dir: Path) -> str:
    """Move a run directory that cannot be continued (unreadable checkpoint, or a checkpoint without its
    config.toml) to ``<name>.damaged-<time>`` so the point starts from scratch; returns the new path or ''."""
    from ..io import load_npz

    ck = run_dir / "checkpoint.npz"
    if not ck.exists():
        return ""
    try:
        if not (run_dir / "config.toml").is_file():
            raise StoreError("no config.toml")
        load_npz(ck)
        return ""
    except StoreError:
        aside = run_dir.with_name(f"{run_dir.name}.damaged-{time.strftime('%Y%m%dT%H%M%S')}")
        shutil.move(str(run_dir), str(aside))
        return str(aside)


def _device(spec: SweepSpec, index: int, backend: str | None) -> str:
    try:
        from ..backend import get_backend

        cfg = spec.config(index, backend)
        return get_backend(cfg.backend.name, cfg.backend.dtype).device
    except Exception:  # the failure itself may be about the backend
        return ""
