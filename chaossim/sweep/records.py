"""What a sweep stores of each point, by record family: each family lays out its variables and records them
side by side (docs/store.md, docs/sweeps.md).

A family is an object with

* ``layout(lay, ctx)``: add its coordinates and variables to the store's :class:`chaossim.sweep.store.Layout`
  (``ctx``: :class:`LayoutContext`, what the client knows of the grid: one config per distinct layout
  setting, the datasets, the float dtype);
* ``record(spec, config, data, result)``: the values of one trained point (``result``: its
  :class:`chaossim.runs.training.TrainResult`), name -> NumPy array without grid axes, from the point's own random
  streams (the same whether it was trained alone or in an ensemble);
* for a family logged at training steps, :class:`StepLogged` (its ``axis`` and the variables it ``placed``):
  the values logged at the point's own steps are put on the store's step axis (the union over the grid).

:data:`FAMILIES` lists them in the order they are laid out and recorded; a new family is one module with one
such object and one line here. Adding a stored variable to a family touches that family's module and
docs/store.md. The per-point bookkeeping (``status``, ``done``, ...) is the store's own
(:data:`chaossim.sweep.store.POINT_VARIABLES`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import streams
from ..archs import lookup
from ..backend import derive_seed, to_numpy
from ..config import log_steps, probe_steps
from ..metrics import index, index_names
from ..runs.rundir import CHAOS_NAMES

TIME_UNIT = "model time unit (tau = dynamics.tau, 10 by default)"
"""The ``units`` of every generation-time axis (t, T, traj_time, t_long): the model's own time, in which
tau is given (docs/model.md)."""
STEP_UNIT = "training steps"


@dataclass
class LayoutContext:
    """What the client knows when it lays a store out: one config per distinct layout setting
    (:data:`LAYOUT_FREE` settings at their first value), each with its dataset and number of visible units."""

    spec: Any
    grid: tuple
    configs: list
    datasets: dict = field(default_factory=dict)  # DataConfig -> Dataset
    n_visible: dict = field(default_factory=dict)  # index in configs -> N_v
    float_dtype: str = "float32"


LAYOUT_FREE = ("model.g", "model.seed", "dynamics.T", "training.k", "model.init_spread")
"""Grid settings that never change the store's layout (shapes, axes, dtypes): the layout is planned from one
point per combination of the other grid settings, not from every point."""


def index_t_name(name: str) -> str:
    """The store variable of index ``name`` along generation time t after training (``E2_t``)."""
    return f"{name}_t"


def index_attrs(name: str) -> dict:
    """The attributes of an index's store variables, from the index registry (:func:`chaossim.metrics.indices`)."""
    ix = index(name)
    if ix is None:
        return {}
    return {"label": ix.label, "log_scale": int(ix.log_scale), "lower_is_better": int(ix.lower_is_better)}


def _what(name: str) -> str:
    ix = index(name)
    better = "lower" if ix is None or ix.lower_is_better else "higher"
    return f"index {name} ({ix.description if ix else name}; {better} is better)"


def on_axis(values: np.ndarray, at: np.ndarray, axis: np.ndarray) -> np.ndarray:
    """Place ``values`` logged at steps ``at`` onto the store's (union) step ``axis``, NaN elsewhere."""
    out = np.full(len(axis), np.nan)
    out[np.searchsorted(axis, at)] = values
    return out


def variable(lay, name: str, dims: tuple, dtype: str, long_name: str, description: str, **attrs) -> None:
    """Declare one float variable of a point (NaN fill) with its CF ``long_name`` and ``description``."""
    lay.variables[name] = (dims, dtype, math.nan, {"long_name": long_name, "description": description, **attrs})


def param_dims(model) -> dict[str, tuple[str, ...]]:
    """Dimension names of each parameter, from its architecture's layers (:mod:`chaossim.archs`)."""
    layer_dims = lookup(model.arch).layer_dims()
    out = {name: tuple(layer_dims.get(a, a) for a in axes) for name, axes in model.param_layers().items()}
    for name, arr in model.params.items():
        dims = out.get(name)
        if dims is None or len(dims) != arr.ndim:
            dims = tuple(f"{name}_dim{i}" for i in range(arr.ndim))
        if len(set(dims)) != len(dims):  # e.g. J (feature, feature): the second one is the input side
            dims = (dims[0],) + tuple(d + "_in" if d in dims[: i + 1] else d for i, d in enumerate(dims[1:]))
        out[name] = dims
    return {name: out[name] for name in model.params}


class StepLogged:
    """A family whose variables (:meth:`placed`) are logged at the point's own training steps (recorded as
    ``_<axis>``) and stored on the store's step axis ``axis`` (the union over the grid), NaN elsewhere."""

    axis: str

    def placed(self) -> tuple[str, ...]:
        raise NotImplementedError

    def place(self, values: dict, coords: dict) -> None:
        own = f"_{self.axis}"
        if own in values and self.axis in coords:
            for n in self.placed():
                values[n] = on_axis(values[n], values[own], coords[self.axis])


class Indices(StepLogged):
    """The four indices along training (``E2 ... (G, t_age)``) and along generation time after training
    (``E2_t ... (G, t)``, paper Fig. 3b)."""

    axis = "t_age"

    def placed(self) -> tuple[str, ...]:
        return tuple(index_names())

    def layout(self, lay, ctx: LayoutContext) -> None:
        rec, grid = ctx.spec.record, ctx.grid
        lay.coords["t_age"] = np.asarray(sorted({s for c in ctx.configs for s in log_steps(c)}), dtype=np.int64)
        lay.coords["t"] = np.asarray(rec.times, dtype=np.float64)
        for n in index_names():
            ix = index(n)
            label = ix.label if ix else n
            variable(
                lay, n, grid + ("t_age",), "float64", f"{label} along training (at T* = T)",
                f"{_what(n)} at T* = T on held-out data along training", **index_attrs(n),
            )  # fmt: skip
            variable(
                lay, index_t_name(n), grid + ("t",), "float64", f"{label} along generation time t",
                f"{_what(n)} at generation time t after training, one set of random starts followed in time",
                **index_attrs(n),
            )  # fmt: skip

    def record(self, spec, config, data, result) -> dict:
        from ..evaluation import indices_vs_time

        out: dict = {"_t_age": np.asarray(result.history["t_age"])}
        for n in index_names():
            out[n] = np.asarray(result.history[n], dtype=np.float64)
        test = data.test[: config.training.n_eval]
        seed = derive_seed(config.model.seed, streams.SWEEP_INDICES_T)
        vt = indices_vs_time(result.model, test, spec.record.times, seed=seed)
        for n in index_names():
            out[index_t_name(n)] = np.asarray(vt[n], dtype=np.float64)
        return out


class Chaos(StepLogged):
    """The chaos probes along training (``lambda_max, activity_var (G, t_age_chaos)``; only with
    ``training.chaos_every > 0``)."""

    axis = "t_age_chaos"

    def placed(self) -> tuple[str, ...]:
        return tuple(CHAOS_NAMES)

    def layout(self, lay, ctx: LayoutContext) -> None:
        t_chaos = sorted({s for c in ctx.configs for s in probe_steps(c)})
        if not t_chaos:
            return
        lay.coords["t_age_chaos"] = np.asarray(t_chaos, dtype=np.int64)
        names = {"lambda_max": "largest Lyapunov exponent", "activity_var": "activity variance"}
        for n in CHAOS_NAMES:
            variable(
                lay, n, ctx.grid + ("t_age_chaos",), "float64", f"{names.get(n, n)} along training",
                f"{n} of the free dynamics along training",
                **({"units": "1 / model time unit"} if n == "lambda_max" else {}),
            )  # fmt: skip

    def record(self, spec, config, data, result) -> dict:
        chaos = result.chaos or {}
        if not len(chaos.get("t_age", ())):
            return {}
        return {"_t_age_chaos": np.asarray(chaos["t_age"]), **{n: np.asarray(chaos[n], float) for n in CHAOS_NAMES}}


class Generated:
    """Free runs of the trained model: ``samples (G, sample, feature)`` at t = T and ``trajectory (G,
    traj_sample, traj_time, feature)``."""

    def layout(self, lay, ctx: LayoutContext) -> None:
        rec, grid = ctx.spec.record, ctx.grid
        if rec.n_samples:
            lay.coords["sample"] = np.arange(rec.n_samples)
            variable(
                lay, "samples", grid + ("sample", "feature"), ctx.float_dtype, "generated sample phi(v(T))",
                "generated samples phi(v(T)) after training",
            )  # fmt: skip
        traj_times = rec.trajectory_times(ctx.spec.base.dynamics.dt)
        if traj_times:
            lay.coords["traj_sample"] = np.arange(rec.n_trajectories)
            lay.coords["traj_time"] = np.asarray(traj_times, dtype=np.float64)
            variable(
                lay, "trajectory", grid + ("traj_sample", "traj_time", "feature"), ctx.float_dtype,
                "phi(v(t)) along a free run",
                "phi(v(t)) of free runs from random starts after training, "
                f"every {rec.trajectory_every} Euler steps",
            )  # fmt: skip

    def record(self, spec, config, data, result) -> dict:
        rec, model, seed = spec.record, result.model, config.model.seed
        out: dict = {}
        if rec.n_samples:
            model.bk.reseed(model.rng, derive_seed(seed, streams.SWEEP_SAMPLES))
            out["samples"] = to_numpy(model.generate(rec.n_samples, config.dynamics.T))
        traj_times = rec.trajectory_times(spec.base.dynamics.dt)
        if traj_times:
            model.bk.reseed(model.rng, derive_seed(seed, streams.SWEEP_TRAJECTORY))
            frames = to_numpy(model.generate(rec.n_trajectories, list(traj_times)))  # (time, sample, feature)
            out["trajectory"] = np.ascontiguousarray(np.transpose(frames, (1, 0, 2)))
        return out


class Diversity:
    """The diversity of free runs from nearly equal starts (:mod:`chaossim.sweep.diversity`)."""

    def layout(self, lay, ctx: LayoutContext) -> None:
        from .diversity import add_layout

        add_layout(lay, ctx.spec, ctx.grid)

    def record(self, spec, config, data, result) -> dict:
        from .diversity import record

        return record(spec, config, result.model)


class Ftle(StepLogged):
    """Finite-time and asymptotic exponents, trained and untrained, and perturbation growth
    (:mod:`chaossim.sweep.ftle`)."""

    axis = "t_age_ftle"

    def placed(self) -> tuple[str, ...]:
        return ("ftle", "ftle_sd")

    def layout(self, lay, ctx: LayoutContext) -> None:
        from .ftle import add_layout

        add_layout(lay, ctx.spec, ctx.grid, ctx.configs)

    def record(self, spec, config, data, result) -> dict:
        from .ftle import record

        return record(spec, config, result.model, result.run_dir)


class Parameters:
    """The final trained parameters ``param_<name> (G, <param dims>)``, NaN-padded to the largest size."""

    def layout(self, lay, ctx: LayoutContext) -> None:
        from ..runs.build import build_model

        params: dict[str, dict] = {}  # name -> {"dims": set of dim tuples, "shapes": [...]}
        built = {}
        for j, cfg in enumerate(ctx.configs):
            nv = ctx.n_visible[j]
            sig = (cfg.model.arch, cfg.model.n_hidden, cfg.model.n_hidden2, nv)
            if sig not in built:
                m = build_model(cfg.replace(**{"backend.name": "numpy"}), nv)
                built[sig] = (param_dims(m), {k: tuple(v.shape) for k, v in m.params.items()})
            dims, shapes = built[sig]
            for name, d in dims.items():
                entry = params.setdefault(name, {"dims": set(), "shapes": []})
                entry["dims"].add(d)
                entry["shapes"].append(shapes[name])
        param_vars: dict[str, tuple[str, ...]] = {}
        for name, entry in params.items():
            ndim = len(entry["shapes"][0])
            # one naming across architectures, or positional names when they disagree (e.g. A of two archs)
            pdims: tuple[str, ...] = (
                next(iter(entry["dims"])) if len(entry["dims"]) == 1 else tuple(f"{name}_dim{i}" for i in range(ndim))
            )
            for i, dim in enumerate(pdims):  # the largest size of each dimension over the grid
                lay.sizes[dim] = max(max(s[i] for s in entry["shapes"]), lay.sizes.get(dim, 0))
            param_vars[name] = pdims
        for name, pdims in param_vars.items():
            full = tuple(lay.sizes[dim] for dim in pdims)
            if any(s != full for s in params[name]["shapes"]):
                lay.padded.append(f"param_{name}")
            variable(
                lay, f"param_{name}", ctx.grid + pdims, ctx.float_dtype, f"trained parameter {name}",
                f"trained parameter {name} at the end of training",
            )  # fmt: skip

    def record(self, spec, config, data, result) -> dict:
        return {f"param_{k}": v for k, v in result.model.params.to_numpy().items()}


FAMILIES: list = [Indices(), Chaos(), Generated(), Diversity(), Ftle(), Parameters()]
"""The record families of a sweep store, in the order their variables are laid out and recorded."""


def record_families(spec, config, data, result) -> dict:
    """Every family's values of one trained point (name -> NumPy array; names with a leading ``_``: the
    point's own axes, for :func:`place`)."""
    out: dict = {}
    for family in FAMILIES:
        out.update(family.record(spec, config, data, result))
    return out


def step_axes() -> tuple[str, ...]:
    """The store's training-step axes the families place values on (``t_age``, ``t_age_chaos``, ...)."""
    return tuple(f.axis for f in FAMILIES if isinstance(f, StepLogged))


def place(values: dict, coords: dict) -> dict:
    """``values`` with every family's step-logged variables on the store's axes (``coords``: the store's
    coordinate values by name, :func:`step_axes`), the point's own axes dropped."""
    for family in FAMILIES:
        if isinstance(family, StepLogged):
            family.place(values, coords)
    return {k: v for k, v in values.items() if not k.startswith("_")}
