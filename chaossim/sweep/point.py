"""Running one grid point: a pure function of (spec, point index) that writes its region of the store.

Everything random comes from the point's config (``model.seed``) through :func:`derive_seed`, so a
point run alone gives, on NumPy, the same numbers as inside a sweep, and a re-run after a crash
continues from the point's checkpoint (``PATH.zarr.runs/<point key>/``, see
:func:`chaossim.training.train`) to the same result.
"""
from __future__ import annotations

import time
import uuid
from pathlib import Path

import numpy as np

from ..backend import derive_seed, to_numpy
from ..errors import ChaossimError
from ..evaluation import INDEX_NAMES, indices_vs_time
from ..training import CHAOS_NAMES, train
from .spec import SweepSpec
from .store import (DONE_VARIABLE, INDEX_T_NAMES, dataset_for, describe_error, open_sweep, runs_dir,
                    write_failure, write_point)

# generator streams of the post-training records (training uses 1..5 and 100+)
INDICES_T_STREAM, SAMPLES_STREAM, TRAJECTORY_STREAM = 41, 42, 43


def compute_point(spec: SweepSpec, index: int, run_dir=None, *, backend: str | None = None) -> dict:
    """Train point ``index`` (resuming from ``run_dir``'s checkpoint if there is one) and compute what
    the store records. Returns name -> NumPy array (no grid axes, not padded) plus bookkeeping."""
    config = spec.config(index, backend)
    rec = spec.record
    data = dataset_for(config)
    with np.errstate(over="ignore", invalid="ignore"):  # a diverging run raises DivergenceError instead
        result = train(config, run_dir, resume=run_dir is not None, progress=False, dataset=data)
    model, seed = result.model, config.model.seed
    out: dict = {}
    # training curves on the store's t_age axis
    out["_t_age"] = np.asarray(result.history["t_age"])
    for n in INDEX_NAMES:
        out[n] = np.asarray(result.history[n], dtype=np.float64)
    chaos = result.chaos or {}
    if len(chaos.get("t_age", ())):
        out["_t_age_chaos"] = np.asarray(chaos["t_age"])
        for n in CHAOS_NAMES:
            out[n] = np.asarray(chaos[n], dtype=np.float64)
    # indices along generation time t (paper Fig. 3b)
    test = data.test[: config.training.n_eval]
    vt = indices_vs_time(model, test, rec.times, seed=derive_seed(seed, INDICES_T_STREAM))
    for n, nt in zip(INDEX_NAMES, INDEX_T_NAMES):
        out[nt] = np.asarray(vt[n], dtype=np.float64)
    if rec.n_samples:
        model.bk.reseed(model.rng, derive_seed(seed, SAMPLES_STREAM))
        out["samples"] = to_numpy(model.generate(rec.n_samples, config.dynamics.T))
    traj_times = rec.trajectory_times(spec.base.dynamics.dt)
    if traj_times:
        model.bk.reseed(model.rng, derive_seed(seed, TRAJECTORY_STREAM))
        frames = to_numpy(model.generate(rec.n_trajectories, list(traj_times)))  # (time, sample, feature)
        out["trajectory"] = np.ascontiguousarray(np.transpose(frames, (1, 0, 2)))
    params = model.params.to_numpy() if hasattr(model.params, "to_numpy") else \
        {k: to_numpy(v) for k, v in model.params.items()}
    for k, v in params.items():
        out[f"param_{k}"] = v
    out["steps_done"] = int(result.step)
    out["device"] = str(model.bk.device)
    out["backend"] = str(model.bk.name)
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
    DivergenceError) is recorded in the store as ``status="failed"`` with its message; other
    exceptions propagate (Dask retries the task). Returns a small summary of plain Python/NumPy values.
    """
    store = Path(store)
    started = time.perf_counter()
    run_id = uuid.uuid4().hex
    run_dir = runs_dir(store) / spec.point_key(index)
    template = open_sweep(store, check=False)
    summary = {"index": int(index), "label": spec.point_label(index), "run_id": run_id}
    try:
        out = compute_point(spec, index, run_dir, backend=backend)
    except ChaossimError as exc:
        message = describe_error(exc)
        wall = time.perf_counter() - started
        write_failure(store, spec, index, message, wall_time=wall, run_id=run_id, device=_device(spec, index, backend))
        return {**summary, "status": "failed", "error": message, "wall_time": wall}
    values = {k: v for k, v in out.items() if not k.startswith("_")}
    for n in INDEX_NAMES:
        values[n] = _on_axis(out[n], out["_t_age"], template["t_age"].values)
    if "_t_age_chaos" in out and "t_age_chaos" in template.coords:
        for n in CHAOS_NAMES:
            values[n] = _on_axis(out[n], out["_t_age_chaos"], template["t_age_chaos"].values)
    wall = time.perf_counter() - started
    values.update(status="done", error="", wall_time=wall, run_id=run_id,
                  completed_at=time.strftime("%Y-%m-%dT%H:%M:%S"))
    values[DONE_VARIABLE] = True  # write_point writes it last, in its own write
    write_point(store, spec, index, values, template=template)
    final = {n: float(out[n][-1]) for n in INDEX_NAMES}
    return {**summary, "status": "done", "error": "", "wall_time": wall, "steps_done": out["steps_done"],
            "device": out["device"], **final}


def _device(spec: SweepSpec, index: int, backend: str | None) -> str:
    try:
        from ..backend import get_backend

        cfg = spec.config(index, backend)
        return get_backend(cfg.backend.name, cfg.backend.dtype).device
    except Exception:  # the failure itself may be about the backend
        return ""
