"""The sweep store: one zarr store per sweep, laid out once by the client, filled point by point.

Layout (docs/sweeps.md "The store"): the client writes a template Dataset of lazy
``dask.array`` variables with the full shape and chunk size 1 along every grid dimension
(``to_zarr(compute=False, mode="w")``; coordinates and data samples are written eagerly), into a
temporary folder renamed into place, so a store either has its full layout or does not exist.
Metadata is consolidated right away (it never changes afterwards) and again at the end of a sweep.
Each point then writes only its own chunk-aligned region with ``to_zarr(region=..., mode="r+")``,
which touches chunks and never metadata; its ``done`` flag is written last. No sharding.

Integrity (schema 2, docs/faults.md): every array, coordinates included, is stored with zarr's
``crc32c`` checksum codec after compression, so damaged bytes fail to decode instead of reading back
as other numbers; a point writes every one of its chunks, all-NaN ones too, so a chunk missing from a
done point is detectable (:mod:`chaossim.sweep.verify`).

Schema (``G`` = the grid dimensions, in the spec's order; see docs/sweeps.md):

=========================================  ===========================================================
``E2, Es, EAAI, ER (G, t_age)``            indices at T* = T along training (NaN where not logged)
``E2_t, Es_t, EAAI_t, ER_t (G, t)``        indices along generation time t after training
``lambda_max, activity_var (G, t_age_chaos)``  chaos probes along training (only if chaos_every > 0)
``param_<name> (G, <param dims>)``         final trained parameters; NaN-padded to the largest size
``samples (G, sample, feature)``           phi(v(T)) of ``record.n_samples`` free runs
``trajectory (G, traj_sample, traj_time, feature)``  phi(v(t)) of ``record.n_trajectories`` runs
``div_distance, div_pr, div_distinct (G, spread)``  diversity of free runs at t = T (``record.spreads``)
``div_*_t (G, spread, t)``; ``div_distinct_long (G, spread)``  the same along t; distinct states at t_long
``ftle, ftle_sd (G, t_age_ftle)``; ``lyap_asym* (G, twin)``; ``growth``  finite-time records (:mod:`.ftle`)
``data_samples ([dataset,] data_sample, feature)``   held-out data points, for plots
``done (G)`` bool, written last; ``status (G)`` "pending"/"done"/"failed"; ``error (G)``; ``device (G)``;
``backend (G)``; ``wall_time (G)`` seconds; ``steps_done (G)``; ``completed_at (G)``; ``run_id (G)``;
``train_path (G)``, ``train_path_reason (G)`` (:mod:`chaossim.train_path`); ``group_size (G)``
=========================================  ===========================================================
"""

from __future__ import annotations

import json
import math
import os
import platform
import shutil
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from .._version import __version__
from ..archs import lookup
from ..build import build_model, load_data
from ..config import log_steps, probe_steps
from ..errors import ChaossimError, StoreError
from ..metrics import index, index_names
from ..rundir import CHAOS_NAMES
from .spec import SweepSpec, spec_differences

SCHEMA_VERSION = 2  # 2: crc32c checksums on every array, every chunk of a done point written
READABLE_SCHEMAS = (1, 2)  # schema 1 stores can still be read (report, notebooks), not resumed
MARKER = "chaossim_sweep"
STATUS_DTYPE, ERROR_DTYPE, DEVICE_DTYPE, STAMP_DTYPE, ID_DTYPE = "<U8", "<U1000", "<U64", "<U32", "<U32"
# name: (dtype, fill value, description)
POINT_VARIABLES = {
    "status": (STATUS_DTYPE, "pending", "'pending', 'done' or 'failed'"),
    "error": (ERROR_DTYPE, "", "why the point failed (empty if it did not)"),
    "device": (DEVICE_DTYPE, "", "where the point ran, e.g. 'cpu' or 'cuda:0 (NVIDIA H100)'"),
    "backend": ("<U8", "", "array backend of the point: 'numpy' or 'cupy'"),
    "wall_time": ("float64", math.nan, "seconds spent on the point in its last run"),
    "steps_done": ("int64", 0, "training steps completed"),
    "completed_at": (STAMP_DTYPE, "", "when the point was written (ISO 8601, local time)"),
    "run_id": (ID_DTYPE, "", "random id of the task run that wrote the point"),
    "train_path": ("<U16", "", "what ran the training steps: 'fused-graph', 'fused-eager', 'fused-host' or 'engine'"),
    "train_path_reason": ("<U240", "", "why that training path ran"),
    "group_size": ("int64", 0, "grid points trained together with this one as one Ensemble (1: alone)"),
}
ADDED_POINT_VARIABLES = ("train_path", "train_path_reason", "group_size")
"""Point variables a store laid out before they existed lacks (it is read and resumed without them)."""
DONE_VARIABLE = "done"
TIMING_VARIABLES = ("wall_time", "completed_at", "run_id")
RUN_VARIABLES = TIMING_VARIABLES + ("group_size",)
"""Per-run bookkeeping: when, how long, which task run and how many points together. Everything else of a point
is the same whether it ran alone or in an ensemble (on NumPy), and after a resume."""


@contextmanager
def quiet_zarr():
    """Silence zarr's notice that fixed-width unicode is not yet in the v3 spec (it round-trips fine)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*unstable.*", category=UserWarning)
        warnings.filterwarnings("ignore", category=FutureWarning, module="zarr")
        warnings.filterwarnings("ignore", message=".*[Cc]onsolidated.*")
        try:
            from zarr.errors import UnstableSpecificationWarning  # zarr >= 3.1

            warnings.filterwarnings("ignore", category=UnstableSpecificationWarning)
        except ImportError:  # pragma: no cover
            pass
        yield


def checksummed():
    """The codec chain of every array: zstd compression, then a crc32c checksum of the compressed bytes."""
    from zarr.codecs import Crc32cCodec, ZstdCodec

    return {"compressors": [ZstdCodec(), Crc32cCodec()]}


def log_path(store) -> Path:
    """Where a sweep appends the full tracebacks of failed points: ``PATH.zarr.log``."""
    store = Path(store)
    return store.with_name(store.name + ".log")


def runs_dir(store) -> Path:
    """Where the per-point run directories (checkpoints) live: ``PATH.zarr.runs/``."""
    store = Path(store)
    return store.with_name(store.name + ".runs")


# ------------------------------------------------------------------------ data (cached per process)
@lru_cache(maxsize=8)
def _cached_data(data_toml: str, seed: int):
    from ..config import RunConfig

    return load_data(RunConfig.from_toml(data_toml).replace(**{"model.seed": seed}))


def dataset_for(config):
    """The config's dataset, loaded once per process (workers run many points on the same data), and once
    for all seeds when the seed does not change it (:func:`chaossim.data.seed_matters`): the points of an
    ensemble on FashionMNIST share one copy."""
    from ..config import RunConfig
    from ..data import seed_matters

    d = config.data
    data_only = RunConfig(data=d)
    seed = config.model.seed if seed_matters(d.name, d.n_train, d.n_test) else 0
    return _cached_data(data_only.to_toml(), seed)


# ------------------------------------------------------------------------ layout planning
@dataclass
class Layout:
    """Shapes, coordinates and variables of a sweep store (computed by the client from the spec)."""

    sizes: dict = field(default_factory=dict)  # non-grid dimension -> size
    coords: dict = field(default_factory=dict)  # non-grid coordinate -> values
    variables: dict = field(default_factory=dict)  # name -> (dims, dtype, fill, attrs)
    data_samples: np.ndarray | None = None
    data_dims: tuple = ()
    attrs: dict = field(default_factory=dict)


def index_t_name(name: str) -> str:
    """The store variable of index ``name`` along generation time t after training (``E2_t``)."""
    return f"{name}_t"


def index_attrs(name: str) -> dict:
    """The attributes of an index's store variables, from the index registry (:func:`chaossim.metrics.indices`)."""
    ix = index(name)
    if ix is None:
        return {}
    return {"label": ix.label, "log_scale": int(ix.log_scale), "lower_is_better": int(ix.lower_is_better)}


def t_age_of(config) -> list[int]:
    """The training steps at which indices are logged (:func:`chaossim.config.log_steps`, as train logs them)."""
    return log_steps(config)


def t_age_chaos_of(config) -> list[int]:
    """The training steps with a chaos probe (:func:`chaossim.config.probe_steps`)."""
    return probe_steps(config)


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


def _what(name: str) -> str:
    ix = index(name)
    better = "lower" if ix is None or ix.lower_is_better else "higher"
    return f"index {name} ({ix.description if ix else name}; {better} is better)"


def plan_layout(spec: SweepSpec) -> Layout:
    """Load each dataset once and build each distinct model once to learn every shape of the store."""
    configs = spec.configs()
    rec = spec.record
    lay = Layout()
    # datasets
    data_by_name, n_visible = {}, {}
    for cfg in configs:
        key = cfg.data
        if key not in data_by_name:
            data_by_name[key] = dataset_for(cfg)
        n_visible[cfg] = data_by_name[key].n_features
    n_feature = max(d.n_features for d in data_by_name.values())
    lay.sizes["feature"] = n_feature
    # parameters: one model per distinct shape signature
    params: dict[str, dict] = {}  # name -> {"dims": set of dim tuples, "shapes": [...], "dtype"}
    built = {}
    for cfg in configs:
        sig = (cfg.model.arch, cfg.model.n_hidden, cfg.model.n_hidden2, n_visible[cfg])
        if sig not in built:
            m = build_model(cfg.replace(**{"backend.name": "numpy"}), n_visible[cfg])
            built[sig] = (param_dims(m), {k: tuple(v.shape) for k, v in m.params.items()})
        dims, shapes = built[sig]
        for name, d in dims.items():
            entry = params.setdefault(name, {"dims": set(), "shapes": []})
            entry["dims"].add(d)
            entry["shapes"].append(shapes[name])
    float_dtype = "float64" if any(c.backend.dtype == "float64" for c in configs) else "float32"
    grid = spec.dims
    param_vars: dict[str, tuple[str, ...]] = {}  # name -> its non-grid dimensions in the store
    for name, entry in params.items():
        ndim = len(entry["shapes"][0])
        # one naming across architectures, or positional names when they disagree (e.g. A of two archs)
        pdims: tuple[str, ...] = (
            next(iter(entry["dims"])) if len(entry["dims"]) == 1 else tuple(f"{name}_dim{i}" for i in range(ndim))
        )
        for i, dim in enumerate(pdims):  # the largest size of each dimension over the grid
            lay.sizes[dim] = max(max(s[i] for s in entry["shapes"]), lay.sizes.get(dim, 0))
        param_vars[name] = pdims
    padded = []
    for name, pdims in param_vars.items():
        full = tuple(lay.sizes[dim] for dim in pdims)
        if any(s != full for s in params[name]["shapes"]):
            padded.append(f"param_{name}")
        lay.variables[f"param_{name}"] = (
            grid + pdims,
            float_dtype,
            math.nan,
            {"description": f"trained parameter {name} at the end of training"},
        )
    for d in list(lay.sizes):
        lay.coords.setdefault(d, np.arange(lay.sizes[d]))
    # training curves
    t_age = sorted({s for c in configs for s in t_age_of(c)})
    lay.coords["t_age"] = np.asarray(t_age, dtype=np.int64)
    stored = index_names()
    for n in stored:
        lay.variables[n] = (
            grid + ("t_age",),
            "float64",
            math.nan,
            {"description": f"{_what(n)} at T* = T on held-out data along training", **index_attrs(n)},
        )
    t_chaos = sorted({s for c in configs for s in t_age_chaos_of(c)})
    if t_chaos:
        lay.coords["t_age_chaos"] = np.asarray(t_chaos, dtype=np.int64)
        for n in CHAOS_NAMES:
            lay.variables[n] = (
                grid + ("t_age_chaos",),
                "float64",
                math.nan,
                {"description": f"{n} of the free dynamics along training"},
            )
    # after training
    lay.coords["t"] = np.asarray(rec.times, dtype=np.float64)
    for n in stored:
        lay.variables[index_t_name(n)] = (
            grid + ("t",),
            "float64",
            math.nan,
            {
                "description": f"{_what(n)} at generation time t after training, one set of random starts "
                "followed in time",
                **index_attrs(n),
            },
        )
    if rec.n_samples:
        lay.coords["sample"] = np.arange(rec.n_samples)
        lay.variables["samples"] = (
            grid + ("sample", "feature"),
            float_dtype,
            math.nan,
            {"description": "generated samples phi(v(T)) after training"},
        )
    traj_times = rec.trajectory_times(spec.base.dynamics.dt)
    if traj_times:
        lay.coords["traj_sample"] = np.arange(rec.n_trajectories)
        lay.coords["traj_time"] = np.asarray(traj_times, dtype=np.float64)
        lay.variables["trajectory"] = (
            grid + ("traj_sample", "traj_time", "feature"),
            float_dtype,
            math.nan,
            {
                "description": "phi(v(t)) of free runs from random starts after training, "
                f"every {rec.trajectory_every} Euler steps"
            },
        )
    from .diversity import add_layout as add_diversity_layout
    from .ftle import add_layout as add_ftle_layout

    add_diversity_layout(lay, spec, grid)
    add_ftle_layout(lay, spec, grid)
    for name, (dtype, fill, desc) in POINT_VARIABLES.items():
        lay.variables[name] = (grid, dtype, fill, {"description": desc})
    lay.variables[DONE_VARIABLE] = (grid, "bool", False, {"description": "the point is complete (written last)"})
    # data samples (eager)
    n_data = rec.n_data_samples
    if n_data:
        lay.coords["data_sample"] = np.arange(n_data)
        datasets = list(data_by_name.values())
        arr = np.full((len(datasets), n_data, n_feature), np.nan, dtype=np.float32)
        for j, ds in enumerate(datasets):
            part = ds.test[:n_data]
            arr[j, : len(part), : part.shape[1]] = part
        if "dataset" in grid:
            names = [c.data.name for c in data_by_name]
            order = [names.index(v) for v in spec.coords()["dataset"]]
            lay.data_samples, lay.data_dims = arr[order], ("dataset", "data_sample", "feature")
        else:
            lay.data_samples, lay.data_dims = arr[0], ("data_sample", "feature")
    image_shapes = {
        c.data.name: (list(ds.image_shape) if ds.image_shape else None)
        for c, ds in ((c, data_by_name[c.data]) for c in configs)
    }
    if len({json.dumps(s) for s in image_shapes.values()}) == 1:
        lay.attrs["image_shape"] = next(iter(image_shapes.values())) or []
    else:
        lay.attrs["image_shapes"] = json.dumps(image_shapes)
    if padded:
        lay.attrs["padded_variables"] = padded
        lay.attrs["padding"] = (
            "sizes vary along the grid: these variables are padded with NaN to the largest "
            "size (e.g. a point with n_hidden=32 fills hidden[0:32])"
        )
    lay.attrs["n_visible"] = json.dumps({c.data.name: n for c, n in n_visible.items()})
    lay.sizes.update({name: len(vals) for name, vals in lay.coords.items()})
    return lay


# ------------------------------------------------------------------------ creating and opening
def _versions() -> dict:
    import dask
    import xarray
    import zarr

    try:
        import distributed

        dist = distributed.__version__
    except ImportError:  # pragma: no cover
        dist = ""
    return {
        "chaossim": __version__,
        "numpy": np.__version__,
        "dask": dask.__version__,
        "distributed": dist,
        "xarray": xarray.__version__,
        "zarr": zarr.__version__,
        "python": platform.python_version(),
    }


def create_store(path, spec: SweepSpec, layout: Layout | None = None, backend: str = "numpy") -> None:
    """Lay the store out once (full shape, chunk 1 along the grid), atomically via a renamed temp folder."""
    import dask.array as da
    import xarray as xr
    import zarr

    path = Path(path)
    layout = layout or plan_layout(spec)
    grid_shape = spec.shape
    data_vars, encoding = {}, {}
    for name, (dims, dtype, fill, attrs) in layout.variables.items():
        rest = tuple(layout.sizes[d] for d in dims[len(grid_shape) :])
        arr = da.full(grid_shape + rest, fill, dtype=dtype, chunks=(1,) * len(grid_shape) + rest)
        data_vars[name] = xr.Variable(dims, arr, attrs=attrs)
        encoding[name] = checksummed()
        if np.dtype(dtype).kind != "f":
            encoding[name]["fill_value"] = fill
    if layout.data_samples is not None:
        data_vars["data_samples"] = xr.Variable(
            layout.data_dims, layout.data_samples, attrs={"description": "held-out data points (for plots)"}
        )
        encoding["data_samples"] = checksummed()
    coords: dict[str, xr.Variable | tuple[str, np.ndarray]] = {}
    for d in spec.grid:
        vals = np.asarray(d.values)
        if vals.dtype.kind == "U":
            vals = vals.astype(f"<U{max(8, vals.dtype.itemsize // 4)}")
        coords[d.name] = xr.Variable((d.name,), vals, attrs={"setting": d.key})
    for name, vals in layout.coords.items():
        coords[name] = (name, np.asarray(vals))
    ds = xr.Dataset(data_vars, coords=coords)
    encoding.update({name: checksummed() for name in coords})
    ds.attrs.update(
        {
            MARKER: SCHEMA_VERSION,
            "name": spec.name,
            "spec_toml": spec.text,
            "spec_canonical": json.dumps(spec.canonical(), sort_keys=True),
            "spec_fingerprint": spec.fingerprint(),
            "grid_dims": list(spec.dims),
            "grid_settings": [d.key for d in spec.grid],
            "versions": _versions(),
            "backend": backend,
            "dtype": spec.base.backend.dtype,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "runs_dir": str(runs_dir(path).name),
            "index_names": list(index_names()),
            **layout.attrs,
        }
    )
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    if tmp.exists():
        shutil.rmtree(tmp)
    with quiet_zarr():
        ds.to_zarr(tmp, compute=False, mode="w", consolidated=False, encoding=encoding, zarr_format=3)
        zarr.consolidate_metadata(str(tmp))
    os.replace(tmp, path)


def consolidate(path) -> None:
    """Consolidate the store's metadata (from the client, while no task writes)."""
    import zarr

    with quiet_zarr():
        zarr.consolidate_metadata(str(path))


def open_sweep(path, *, check: bool = True, chunks=None):
    """``xarray.open_zarr`` of a sweep store; StoreError if it is missing, corrupt or not a chaossim sweep.

    ``chunks=None`` (default) reads lazily with NumPy, never through Dask, so reading the store from a
    process that holds a ``distributed.Client`` does not send tasks to the cluster; pass
    ``chunks={}`` for Dask arrays.
    """
    import xarray as xr

    path = Path(path)
    if not path.exists():
        raise StoreError(f"sweep store {path} does not exist; run `chaossim sweep SWEEP.toml --store {path}` first.")
    try:
        with quiet_zarr():
            ds = xr.open_zarr(path, consolidated=None, chunks=chunks)
    except Exception as exc:  # zarr/xarray raise many types for broken metadata
        raise StoreError(
            f"{path} is not a readable zarr store ({type(exc).__name__}: {exc}). If it is a broken "
            "sweep store, move it away (the checkpoints in PATH.runs/ are kept) and run the sweep "
            "again; otherwise choose another --store."
        ) from None
    if check:
        if MARKER not in ds.attrs:
            raise StoreError(
                f"{path} is a zarr store but not a chaossim sweep (no '{MARKER}' attribute); "
                "choose another --store path."
            )
        if ds.attrs[MARKER] not in READABLE_SCHEMAS:
            raise StoreError(
                f"{path} has sweep schema version {ds.attrs[MARKER]}, this chaossim reads "
                f"{list(READABLE_SCHEMAS)}; use a new --store or the chaossim version that made it."
            )
        required = [v for v in POINT_VARIABLES if v not in ADDED_POINT_VARIABLES]
        names = ds.attrs.get("index_names") or index_names()
        missing = [v for v in (DONE_VARIABLE, *required, *names) if v not in ds.variables]
        missing += [d for d in ds.attrs.get("grid_dims", []) if d not in ds.dims]
        if missing:
            raise StoreError(
                f"{path} is a damaged chaossim sweep store: {missing} are missing. Move it away and "
                "run the sweep again (completed checkpoints in PATH.runs/ are reused)."
            )
    return ds


def check_matches(ds, spec: SweepSpec, path) -> None:
    """Refuse a store made from another spec, saying what differs."""
    try:
        stored = with_default_settings(json.loads(ds.attrs["spec_canonical"]))
    except (KeyError, ValueError, TypeError):
        raise StoreError(f"{path} has no readable stored spec; it is damaged. Move it away and run again.") from None
    given = json.loads(json.dumps(spec.canonical(), sort_keys=True))
    if stored != given:
        diff = spec_differences(stored, given)
        shown = "; ".join(diff[:8]) + (f"; ... ({len(diff) - 8} more)" if len(diff) > 8 else "")
        raise StoreError(
            f"the spec does not match the one stored in {path}: {shown}. To resume this sweep use "
            f"the same spec (its text is in the store's 'spec_toml' attribute); to run a different "
            "sweep give a new --store path."
        )


def with_default_settings(canonical: dict) -> dict:
    """A stored canonical spec with the settings added to chaossim after it was written (e.g.
    ``backend.trainer``) filled in with their defaults, which is what that store's points ran with."""
    from ..config import SECTIONS

    base = canonical.get("base")
    if isinstance(base, dict):
        for section, klass in SECTIONS.items():
            values = base.get(section)
            if isinstance(values, dict):
                for key, default in json.loads(json.dumps(klass().__dict__)).items():
                    if section == "backend" and key == "name":
                        continue
                    values.setdefault(key, default)
    from .spec import ADDED_RECORD_KEYS, RECORD_DEFAULTS

    record = canonical.get("record")
    if isinstance(record, dict):
        for key in ADDED_RECORD_KEYS:
            default = RECORD_DEFAULTS[key]
            record.setdefault(key, list(default) if isinstance(default, tuple) else default)
    return canonical


def open_or_create(path, spec: SweepSpec, backend: str = "numpy"):
    """Open ``path`` if it holds this spec's sweep (resume), or lay it out; returns the opened Dataset."""
    path = Path(path)
    if path.exists():
        ds = open_sweep(path)
        if ds.attrs[MARKER] != SCHEMA_VERSION:
            raise StoreError(
                f"{path} was written by an older chaossim (sweep schema {ds.attrs[MARKER]}, without "
                f"checksums); it can be read but not continued. Give a new --store (move {path.name}.runs "
                "along to reuse its checkpoints) or finish it with the chaossim version that made it."
            )
        check_matches(ds, spec, path)
        return ds
    create_store(path, spec, backend=backend)
    return open_sweep(path)


def done_mask(path) -> np.ndarray:
    """The ``done`` flags, grid-shaped (read freshly from the chunks)."""
    ds = open_sweep(path, check=False)
    var = ds[DONE_VARIABLE]
    try:
        return np.asarray(var.values, dtype=bool)
    except Exception:  # a chunk torn by a writer killed mid-write: that point is not done
        flags = np.zeros(var.shape, dtype=bool)
        for idx in np.ndindex(var.shape):
            try:
                flags[idx] = bool(var[idx].values)
            except Exception:
                flags[idx] = False
        return flags


# ------------------------------------------------------------------------ writing one point
def region_of(spec: SweepSpec, index: int) -> dict:
    return {d: slice(i, i + 1) for d, i in zip(spec.dims, spec.multi_index(index))}


def write_point(path, spec: SweepSpec, index: int, values: dict, *, template=None) -> None:
    """Write point ``index``'s variables into its own region (``values``: name -> array without grid
    axes, NaN-padded here to the store's sizes), then ``done`` (if given) LAST, in a second write."""
    import xarray as xr

    ds = template if template is not None else open_sweep(path, check=False)
    ng = len(spec.dims)
    region = region_of(spec, index)
    first: dict[str, xr.Variable] = {}
    last: dict[str, xr.Variable] = {}
    for name, value in values.items():
        if name not in ds.variables:
            continue
        var = ds[name]
        target = var.shape[ng:]
        arr = np.asarray(value)
        if var.dtype.kind == "U":
            width = var.dtype.itemsize // 4
            arr = np.asarray(str(value)[:width], dtype=var.dtype)
        elif var.dtype.kind == "f":
            arr = _pad(arr.astype(var.dtype, copy=False), target)
        else:
            arr = arr.astype(var.dtype)
        (last if name == DONE_VARIABLE else first)[name] = xr.Variable(var.dims, arr.reshape((1,) * ng + target))
    with quiet_zarr():  # every chunk is written, all-NaN ones too: a done point has all its chunks on disk
        if first:
            xr.Dataset(first).to_zarr(path, region=region, mode="r+", consolidated=False, write_empty_chunks=True)
        if last:
            xr.Dataset(last).to_zarr(path, region=region, mode="r+", consolidated=False, write_empty_chunks=True)


def fill_values(template, spec: SweepSpec) -> dict:
    """name -> the fill value of every variable of a point (NaN, False, 0, '' or 'pending')."""
    ng = len(spec.dims)
    out: dict[str, Any] = {}
    for name, var in template.data_vars.items():
        if tuple(var.dims[:ng]) != tuple(spec.dims):
            continue
        if name == DONE_VARIABLE:
            out[name] = False
        elif name in POINT_VARIABLES:
            out[name] = POINT_VARIABLES[name][1]
        else:
            out[name] = np.full(var.shape[ng:], math.nan)
    return out


def reset_point(path, spec: SweepSpec, index: int) -> None:
    """Make point ``index`` pending again (before re-running a damaged point): ``done`` is cleared FIRST,
    then every variable is overwritten with its fill value (damaged chunks are replaced, not read)."""
    import xarray as xr

    template = open_sweep(path, check=False)
    region = region_of(spec, index)
    fills = fill_values(template, spec)
    ng = len(spec.dims)
    done = {DONE_VARIABLE: xr.Variable(template[DONE_VARIABLE].dims, np.zeros((1,) * ng, dtype=bool))}
    rest = {}
    for name, value in fills.items():
        if name == DONE_VARIABLE:
            continue
        var = template[name]
        arr = np.asarray(value, dtype=var.dtype)
        rest[name] = xr.Variable(var.dims, np.broadcast_to(arr, (1,) * ng + var.shape[ng:]).copy())
    with quiet_zarr():
        xr.Dataset(done).to_zarr(path, region=region, mode="r+", consolidated=False)
        xr.Dataset(rest).to_zarr(path, region=region, mode="r+", consolidated=False)


def _pad(arr: np.ndarray, target: tuple) -> np.ndarray:
    if arr.shape == target:
        return arr
    if arr.ndim != len(target) or any(a > t for a, t in zip(arr.shape, target)):
        raise StoreError(
            f"an array of shape {arr.shape} does not fit the store's {target}; the store does not "
            "match this sweep. Use a new --store."
        )
    out = np.full(target, np.nan, dtype=arr.dtype)
    out[tuple(slice(0, a) for a in arr.shape)] = arr
    return out


def write_failure(path, spec: SweepSpec, index: int, message: str, **extra) -> None:
    """Record point ``index`` as failed (done stays False, so a re-run tries it again)."""
    values = {
        "status": "failed",
        "error": message,
        "completed_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
        DONE_VARIABLE: False,
        **extra,
    }
    write_point(path, spec, index, values)


def describe_error(exc: BaseException) -> str:
    kind = "" if isinstance(exc, ChaossimError) else f"{type(exc).__name__}: "
    return f"{kind}{exc}"
