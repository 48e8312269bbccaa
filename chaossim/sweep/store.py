"""The sweep store: one zarr store per sweep, laid out once by the client, filled point by point.

Layout (docs/store.md "Chunks, compression, checksums"): the client writes a template Dataset of lazy
``dask.array`` variables with the full shape and chunks of several grid points (:func:`grid_chunks`)
(``to_zarr(compute=False, mode="w")``; coordinates and data samples are written eagerly), into a
temporary folder renamed into place (on an object store: uploaded with the root ``zarr.json`` last), so a store
either has its full layout or does not exist. Metadata is consolidated right away (it never changes afterwards)
and again at the end of a sweep. Each task owns whole chunks (:func:`chaossim.sweep.groups.plan_tasks`) and
writes its points with :func:`write_points`: each chunk read once, its points set, written back whole, metadata
never touched; the ``done`` flags last. The stored variables of a point come from its record families
(:mod:`chaossim.sweep.records`); its data from :mod:`chaossim.sweep.inputs`.

Integrity (schema 3 and 4, docs/faults.md): every array, coordinates included, is stored with zarr's
``crc32c`` checksum codec after compression, so damaged bytes fail to decode instead of reading back
as other numbers; a point writes every one of its chunks, all-NaN ones too, so a chunk missing from a
done point is detectable (:mod:`chaossim.sweep.verify`). The store records the arrays it must hold and a
checksum of its attributes (:mod:`chaossim.sweep.schema`), so missing or changed metadata is detected too.
Each point records the fingerprint of the data it was trained on and the package versions it ran with.

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
``train_path (G)``, ``train_path_reason (G)`` (:mod:`chaossim.runs.train_path`); ``group_size (G)``;
``data_fingerprint (G)`` (:mod:`chaossim.fingerprint`); ``versions (G)``
=========================================  ===========================================================
"""

from __future__ import annotations

import json
import math
import os
import platform
import shlex
import shutil
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from .._version import __version__
from ..errors import ChaossimError, StoreError
from ..metrics import index_names
from .inputs import data_keys, dataset_for  # noqa: F401 (re-exported: the data of a store's points)
from .location import target, zarr_store
from .records import (  # noqa: F401 (index_t_name, index_attrs re-exported)
    FAMILIES,
    LAYOUT_FREE,
    STEP_UNIT,
    TIME_UNIT,
    LayoutContext,
    index_attrs,
    index_t_name,
    param_dims,
)
from .schema import (
    ARRAYS_ATTR,
    MARKER,
    READABLE_SCHEMAS,  # noqa: F401 (re-exported)
    SCHEMA_VERSION,
    record_schema,
    schema_version,
)
from .spec import SweepSpec, spec_differences

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
    "data_fingerprint": ("<U32", "", "content hash of the data the point was trained on (chaossim.fingerprint)"),
    "versions": ("<U160", "", "package versions the point ran with, e.g. 'chaossim 0.1.0, numpy 2.4.6, python 3.11'"),
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


def log_path(store):
    """Where a sweep appends the full tracebacks of failed points: ``PATH.zarr.log`` (beside the real path)."""
    t = target(store)
    return Path(t.url + ".log") if t.local else t.sibling(".log")


def runs_dir(store):
    """Where the per-point run directories (checkpoints) live: ``PATH.zarr.runs/`` beside the store (beside its
    real path, symbolic links resolved, so every way of naming the store finds them; on an object store a
    :class:`chaossim.sweep.location.Target` beside it)."""
    t = target(store)
    return Path(t.url + ".runs") if t.local else t.sibling(".runs")


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
    padded: list = field(default_factory=list)  # variables padded with NaN along some dimension
    chunks: tuple = ()  # the chunk shape along the grid dimensions (:func:`grid_chunks`)


def plan_layout(spec: SweepSpec) -> Layout:
    """Every shape of the store, from one config per distinct layout setting (:data:`LAYOUT_FREE` settings at
    their first value, :meth:`SweepSpec.representatives`): each dataset loaded once, each model shape built
    once, each record family (:data:`chaossim.sweep.records.FAMILIES`) asked for its variables."""
    reps = sorted(set(spec.representatives(LAYOUT_FREE).values()))
    configs = [spec.config(i) for i in reps]
    rec = spec.record
    lay = Layout()
    data_by_name: dict = {}
    ctx = LayoutContext(spec, spec.dims, configs)
    for j, cfg in enumerate(configs):
        if cfg.data not in data_by_name:
            data_by_name[cfg.data] = dataset_for(cfg)
        ctx.n_visible[j] = data_by_name[cfg.data].n_features
    ctx.datasets = data_by_name
    ctx.float_dtype = "float64" if any(c.backend.dtype == "float64" for c in configs) else "float32"
    lay.sizes["feature"] = max(d.n_features for d in data_by_name.values())
    for family in FAMILIES:
        family.layout(lay, ctx)
    for d in list(lay.sizes):
        lay.coords.setdefault(d, np.arange(lay.sizes[d]))
    grid = spec.dims
    for name, (dtype, fill, desc) in POINT_VARIABLES.items():
        lay.variables[name] = (grid, dtype, fill, {"long_name": _long_name(name), "description": desc})
    lay.variables[DONE_VARIABLE] = (
        grid, "bool", False, {"long_name": "point complete", "description": "the point is complete (written last)"}
    )  # fmt: skip
    if "wall_time" in lay.variables:
        lay.variables["wall_time"][3]["units"] = "s"
    # data samples (eager)
    n_data = rec.n_data_samples
    n_feature = lay.sizes["feature"]
    if n_data:
        lay.coords["data_sample"] = np.arange(n_data)
        datasets = list(data_by_name.values())
        arr = np.full((len(datasets), n_data, n_feature), np.nan, dtype=np.float32)
        for j, ds in enumerate(datasets):
            part = ds.test[:n_data]
            arr[j, : len(part), : part.shape[1]] = part
        if "dataset" in grid:
            names = [d.name for d in data_by_name]  # the keys are DataConfigs
            order = [names.index(v) for v in spec.coords()["dataset"]]
            lay.data_samples, lay.data_dims = arr[order], ("dataset", "data_sample", "feature")
        else:
            lay.data_samples, lay.data_dims = arr[0], ("data_sample", "feature")
    image_shapes = {
        c.data.name: (list(data_by_name[c.data].image_shape) if data_by_name[c.data].image_shape else None)
        for c in configs
    }
    if len({json.dumps(s) for s in image_shapes.values()}) == 1:
        lay.attrs["image_shape"] = next(iter(image_shapes.values())) or []
    else:
        lay.attrs["image_shapes"] = json.dumps(image_shapes)
    if lay.padded:
        lay.attrs["padded_variables"] = list(lay.padded)
        lay.attrs["padding"] = (
            "sizes vary along the grid: these variables are padded with NaN to the largest "
            "size (e.g. a point with n_hidden=32 fills hidden[0:32])"
        )
    lay.attrs["n_visible"] = json.dumps({c.data.name: ctx.n_visible[j] for j, c in enumerate(configs)})
    lay.sizes.update({name: len(vals) for name, vals in lay.coords.items()})
    lay.chunks = grid_chunks(spec, lay)
    return lay


def _long_name(name: str) -> str:
    return {
        "status": "point status",
        "error": "error of a failed point",
        "device": "device the point ran on",
        "backend": "array backend",
        "wall_time": "wall time of the point's last run",
        "steps_done": "training steps completed",
        "completed_at": "time the point was written",
        "run_id": "id of the task run that wrote the point",
        "train_path": "training path",
        "train_path_reason": "why that training path ran",
        "group_size": "points trained together as one ensemble",
        "data_fingerprint": "fingerprint of the point's data",
        "versions": "package versions of the point's run",
    }.get(name, name.replace("_", " "))


COORD_ATTRS = {
    "t_age": {"long_name": "training step", "units": STEP_UNIT},
    "t_age_chaos": {"long_name": "training step of the chaos probe", "units": STEP_UNIT},
    "t": {"long_name": "generation time after training", "units": TIME_UNIT},
    "traj_time": {"long_name": "time along a free run", "units": TIME_UNIT},
    "feature": {"long_name": "visible unit"},
    "feature_in": {"long_name": "visible unit (input side)"},
    "hidden": {"long_name": "hidden unit"},
    "hidden2": {"long_name": "second hidden unit"},
    "sample": {"long_name": "generated sample"},
    "traj_sample": {"long_name": "free run"},
    "data_sample": {"long_name": "held-out data point"},
    "spread": {"long_name": "generation spread (1: independent starts)"},
    "t_age_ftle": {"long_name": "training step of the finite-time exponent", "units": STEP_UNIT},
    "twin": {"long_name": "trained model or its untrained twin"},
    "growth_spread": {"long_name": "size of the initial perturbation"},
    "growth_at": {"long_name": "time of d(t)/d(0) in units of T"},
}
"""CF attributes of the non-grid coordinates (xarray labels plots with ``long_name`` and ``units``)."""
GRID_UNITS = {"dynamics.T": TIME_UNIT, "dynamics.dt": TIME_UNIT, "dynamics.tau": TIME_UNIT}


def grid_coord_attrs(d) -> dict:
    """CF attributes of a grid coordinate: ``long_name`` (the setting's full name), ``units`` for a time."""
    names = {"model.g": "coupling gain g", "dynamics.T": "generation time T", "model.seed": "seed"}
    out = {"setting": d.key, "long_name": names.get(d.key, d.key)}
    if d.key in GRID_UNITS:
        out["units"] = GRID_UNITS[d.key]
    return out


def coord_attrs(name: str) -> dict:
    return dict(COORD_ATTRS.get(name, {"long_name": name.replace("_", " ")}))


CHUNK_TARGET = 64
"""Chunks along the grid a store aims at (the number of files grows with variables x chunks, not with points):
a chunk holds ceil(points / CHUNK_TARGET) grid points, at most :data:`CHUNK_BYTES` of its largest variable."""
CHUNK_BYTES = 32 * 2**20
CHUNK_ORDER = ("model.seed", "model.g")
"""Grid settings a chunk spans first: points that differ only in them are trained together as one ensemble,
so a chunk of them is written by one task."""


def grid_chunks(spec: SweepSpec, lay: Layout, points: int | None = None) -> tuple[int, ...]:
    """The chunk shape along the grid dimensions: about ``points`` grid points per chunk (default
    ceil(points / :data:`CHUNK_TARGET`), at most :data:`CHUNK_BYTES` of the largest variable of a point),
    spanning first the dimensions of :data:`CHUNK_ORDER`, then the others from the last one. Each task writes
    whole chunks (:func:`chaossim.sweep.groups.plan_tasks`)."""
    ng = len(spec.dims)
    if points is None:
        per_point = max(
            [
                math.prod(lay.sizes[d] for d in dims[ng:]) * np.dtype(dt).itemsize
                for dims, dt, _, _ in lay.variables.values()
            ]
            or [8]
        )
        points = max(1, min(math.ceil(spec.n_points / CHUNK_TARGET), CHUNK_BYTES // max(1, per_point)))
    order = [k for key in CHUNK_ORDER for k, d in enumerate(spec.grid) if d.key == key]
    order += [k for k in reversed(range(ng)) if k not in order]
    chunk = [1] * ng
    have = 1
    for k in order:
        size = spec.shape[k]
        if have * size <= points:
            chunk[k], have = size, have * size
        else:
            chunk[k] = max(1, points // have)
            break
    return tuple(chunk)


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


def create_store(path, spec: SweepSpec, layout: Layout | None = None, backend: str = "numpy", *, chunks=None) -> None:
    """Lay the store out once (full shape; chunks of several grid points, :func:`grid_chunks`, or ``chunks``
    along the grid), atomically via a renamed temp folder. Nothing but metadata and coordinates is written:
    every variable reads as its fill value until a point writes it."""
    import dask.array as da
    import xarray as xr
    import zarr

    where = target(path)
    path = where.path if where.local else Path(where.name)
    layout = layout or plan_layout(spec)
    grid_shape = spec.shape
    gchunks = tuple(chunks) if chunks is not None else (layout.chunks or (1,) * len(grid_shape))
    data_vars, encoding = {}, {}
    for name, (dims, dtype, fill, attrs) in layout.variables.items():
        rest = tuple(layout.sizes[d] for d in dims[len(grid_shape) :])
        arr = da.full(grid_shape + rest, fill, dtype=dtype, chunks=gchunks + rest)
        data_vars[name] = xr.Variable(dims, arr, attrs=attrs)
        encoding[name] = checksummed()
        if np.dtype(dtype).kind != "f":
            encoding[name]["fill_value"] = fill
    if layout.data_samples is not None:
        data_vars["data_samples"] = xr.Variable(
            layout.data_dims,
            layout.data_samples,
            attrs={"long_name": "held-out data point", "description": "held-out data points (for plots)"},
        )
        encoding["data_samples"] = checksummed()
    coords: dict[str, xr.Variable | tuple[str, np.ndarray]] = {}
    for d in spec.grid:
        vals = np.asarray(d.values)
        if vals.dtype.kind == "U":
            vals = vals.astype(f"<U{max(8, vals.dtype.itemsize // 4)}")
        coords[d.name] = xr.Variable((d.name,), vals, attrs=grid_coord_attrs(d))
    for name, vals in layout.coords.items():
        coords[name] = xr.Variable((name,), np.asarray(vals), attrs=coord_attrs(name))
    ds = xr.Dataset(data_vars, coords=coords)
    encoding.update({name: checksummed() for name in coords})
    ds.attrs.update(
        {
            MARKER: SCHEMA_VERSION,
            "name": spec.name,
            "spec_toml": spec.text,
            "spec_canonical": json.dumps(spec.canonical(), sort_keys=True),
            "spec_fingerprint": spec.fingerprint(),
            "grid_order": [d.key for d in spec.grid],
            "grid_dims": list(spec.dims),
            "grid_settings": [d.key for d in spec.grid],
            "versions": _versions(),
            "backend": backend,
            "dtype": spec.base.backend.dtype,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "runs_dir": where.name + ".runs",
            "index_names": list(index_names()),
            "time_units": TIME_UNIT,
            "grid_chunks": list(gchunks),
            **layout.attrs,
        }
    )
    if not where.local:  # laid out in the cache folder, then uploaded: the root zarr.json last
        import tempfile

        from .location import cache_dir

        with tempfile.TemporaryDirectory(prefix="layout-", dir=_made(cache_dir())) as scratch:
            tmp = Path(scratch) / where.name
            with quiet_zarr():
                ds.to_zarr(tmp, compute=False, mode="w", consolidated=False, encoding=encoding, zarr_format=3)
                record_schema(tmp)
                zarr.consolidate_metadata(str(tmp))
            upload_folder(tmp, where)
        return
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    if tmp.exists():
        shutil.rmtree(tmp)
    with quiet_zarr():
        ds.to_zarr(tmp, compute=False, mode="w", consolidated=False, encoding=encoding, zarr_format=3)
        record_schema(tmp)  # the arrays it must hold, and the attributes' checksum
        zarr.consolidate_metadata(str(tmp))
    os.replace(tmp, path)


def _made(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def upload_folder(folder: Path, where, names=None) -> None:
    """Copy a store laid out in a local folder to an object store, every object whole; the root ``zarr.json``
    (what makes it a store) last, so a store there has its full layout or does not exist."""
    files = {
        p.relative_to(folder).as_posix(): p for p in sorted(folder.rglob("*")) if p.is_file() and p.name != ".zgroup"
    }
    if names is not None:
        files = {k: v for k, v in files.items() if k in names}
    fs = where.fs()
    first = {f"{where.key}/{k}": p.read_bytes() for k, p in files.items() if k != "zarr.json"}
    if first:
        fs.pipe(first)
    if "zarr.json" in files:
        fs.pipe_file(f"{where.key}/zarr.json", files["zarr.json"].read_bytes())


def consolidate(path) -> None:
    """Consolidate the store's metadata (from the client, while no task writes)."""
    import zarr

    with quiet_zarr():
        zarr.consolidate_metadata(zarr_store(path))


def check_zarr_folder(path: Path) -> None:
    """StoreError (one line) when the existing ``path`` is a file, or a folder without zarr metadata."""
    if not path.is_dir() or not any((path / name).is_file() for name in ("zarr.json", ".zgroup")):
        what = "a folder" if path.is_dir() else "a file"
        raise StoreError(
            f"{path} is {what} but not a zarr store (no zarr.json in it); give --store a new path, which the sweep "
            f"creates (e.g. {shlex.quote(str(path.with_name(path.name + '.zarr')))}), or a store of an earlier sweep."
        )


def open_sweep(path, *, check: bool = True, chunks=None):
    """``xarray.open_zarr`` of a sweep store; StoreError if it is missing, corrupt or not a chaossim sweep.

    ``chunks=None`` (default) reads lazily with NumPy, never through Dask, so reading the store from a
    process that holds a ``distributed.Client`` does not send tasks to the cluster; pass
    ``chunks={}`` for Dask arrays.
    """
    import xarray as xr

    where = target(path)
    path = Path(path) if where.local else where
    if not (where.exists() if where.local else where.child("zarr.json").exists()):
        raise StoreError(
            f"sweep store {path} does not exist; run `chaossim sweep SWEEP.toml --store {shlex.quote(str(path))}` "
            "first."
        )
    if where.local:
        check_zarr_folder(Path(path))
    try:
        with quiet_zarr():
            ds = xr.open_zarr(zarr_store(where, read_only=True), consolidated=None, chunks=chunks)
    except Exception as exc:  # zarr/xarray raise many types for broken metadata
        raise StoreError(
            f"{path} is not a readable zarr store ({type(exc).__name__}: {exc}). If it is a broken "
            f"sweep store, move it away (the checkpoints in {runs_dir(path)}/ are kept) and run the sweep "
            "again; otherwise choose another --store."
        ) from None
    if check:
        version = schema_version(ds.attrs, path)
        recorded = ds.attrs.get(ARRAYS_ATTR) if version >= 3 else None
        if isinstance(recorded, dict):  # what xarray read must be what the store recorded (no silent transpose)
            wrong = [
                f"{name} {'is missing' if name not in ds.variables else f'has dims {ds[name].dims}'}"
                for name, rec in recorded.items()
                if name not in ds.variables or list(ds[name].dims) != rec.get("dims")
            ]
            if wrong:
                raise StoreError(
                    f"the metadata of {path} differ from its schema record: {'; '.join(wrong[:5])}. "
                    f"`chaossim sweep-verify {path}` lists the damage; re-running the sweep repairs it."
                )
        required = [v for v in POINT_VARIABLES if v not in ADDED_POINT_VARIABLES]
        names = ds.attrs.get("index_names") or index_names()
        missing = [v for v in (DONE_VARIABLE, *required, *names) if v not in ds.variables]
        missing += [d for d in ds.attrs.get("grid_dims", []) if d not in ds.dims]
        if missing:
            raise StoreError(
                f"{path} is a damaged chaossim sweep store: {missing} are missing. Move it away and "
                f"run the sweep again (completed checkpoints in {runs_dir(path)}/ are reused)."
            )
    return ds


def check_matches(ds, spec: SweepSpec, path) -> None:
    """Refuse a store made from another spec, saying what differs."""
    try:
        stored = with_default_settings(json.loads(ds.attrs["spec_canonical"]))
    except (KeyError, ValueError, TypeError):
        raise StoreError(f"{path} has no readable stored spec; it is damaged. Move it away and run again.") from None
    given = json.loads(json.dumps(spec.canonical(), sort_keys=True))
    s_grid, g_grid = stored.get("grid"), given["grid"]
    if isinstance(s_grid, list):
        s_keys, g_keys = [k for k, _ in s_grid], [k for k, _ in g_grid]
        if s_keys != g_keys and sorted(s_keys) == sorted(g_keys):
            raise StoreError(
                f"the [grid] of the spec lists its settings in the order {', '.join(g_keys)}, the store {path} in "
                f"the order {', '.join(s_keys)}: points are numbered in grid order, so the same points would get "
                f"other numbers. List them in the store's order ({', '.join(s_keys)}) to resume it, or give a new "
                "--store."
            )
        stored = {**stored, "grid": dict(s_grid)}
        given = {**given, "grid": dict(g_grid)}
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


OLDER_SCHEMAS = {
    1: "checksums",
    2: "a schema record",
    3: "chunks of several points: one file per point and variable",
}
"""What a store of an older schema lacks (said when it is refused for resuming)."""


def open_or_create(path, spec: SweepSpec, backend: str = "numpy"):
    """Open ``path`` if it holds this spec's sweep (resume), or lay it out; returns the opened Dataset."""
    where = target(path)
    path = where.path if where.local else where
    if where.exists() if where.local else where.child("zarr.json").exists():
        ds = open_sweep(path, check=False)
        version = schema_version(ds.attrs, path)
        if version != SCHEMA_VERSION:
            raise StoreError(
                f"{path} was written by an older chaossim (sweep schema {version}, without "
                f"{OLDER_SCHEMAS.get(version, 'what this one writes')}); it can be read but not continued. Give a "
                f"new --store (move {path.name}.runs along to reuse its checkpoints) or finish it with the chaossim "
                "version that made it."
            )
        check_matches(ds, spec, path)
        return ds
    create_store(path, spec, backend=backend)
    return open_sweep(path)


def grid_chunks_of(path) -> tuple[int, ...]:
    """The chunk shape of a store along its grid dimensions (1 per point in stores of schema 3 and older)."""
    root = open_arrays(path, "r")
    arr = root[DONE_VARIABLE]
    return tuple(int(c) for c in arr.chunks)


def open_arrays(path, mode: Literal["r", "r+"] = "r+"):
    """The store's zarr group (``mode`` "r" or "r+"), its arrays written with every chunk kept (all-NaN
    ones too: a done point has all its chunks)."""
    import zarr

    with quiet_zarr():
        return zarr.open_group(zarr_store(path, read_only=mode == "r"), mode=mode, use_consolidated=False)


def _array(root, name: str):
    arr = root[name]
    return arr.with_config({"write_empty_chunks": True})


def done_mask(path) -> np.ndarray:
    """The ``done`` flags, grid-shaped (read freshly from the chunks; a chunk that cannot be read: not done)."""
    arr = open_arrays(path, "r")[DONE_VARIABLE]
    try:
        with quiet_zarr():
            return np.asarray(arr[...], dtype=bool)
    except Exception:  # a chunk torn by a writer killed mid-write: its points are not done
        flags = np.zeros(arr.shape, dtype=bool)
        for coords in np.ndindex(*arr.cdata_shape):
            sl = tuple(slice(c * n, min((c + 1) * n, s)) for c, n, s in zip(coords, arr.chunks, arr.shape))
            try:
                with quiet_zarr():
                    flags[sl] = np.asarray(arr[sl], dtype=bool)
            except Exception:
                pass
        return flags


# ------------------------------------------------------------------------ writing points
def region_of(spec: SweepSpec, index: int) -> dict:
    return {d: slice(i, i + 1) for d, i in zip(spec.dims, spec.multi_index(index))}


def _converted(arr, value) -> np.ndarray:
    """``value`` as one point's block of ``arr`` (no grid axes): text cut to the width, floats NaN-padded."""
    dtype = arr.dtype
    out = np.asarray(value)
    if dtype.kind == "U":
        return np.asarray(str(value)[: dtype.itemsize // 4], dtype=dtype)
    if dtype.kind == "f":
        return out.astype(dtype, copy=False)
    return out.astype(dtype)


def _write(root, spec: SweepSpec, points: dict, names, fence=None) -> None:
    """Write ``points`` (flat index -> {name: value without grid axes}) into the arrays ``names``: for each array,
    each chunk the points touch is read once, the points set, and written back whole. Each task owns the whole
    chunks of its points (:func:`chaossim.sweep.groups.plan_tasks`), so no other process writes them meanwhile."""
    ng = len(spec.dims)
    pos = {i: spec.multi_index(i) for i in points}
    for name in names:
        if name not in root:
            continue
        if fence is not None:
            fence()
        arr = _array(root, name)
        rest = tuple(arr.shape[ng:])
        gchunks = tuple(arr.chunks[:ng])
        by_chunk: dict[tuple, list[int]] = {}
        for i in points:
            if name in points[i]:
                by_chunk.setdefault(tuple(p // c for p, c in zip(pos[i], gchunks)), []).append(i)
        for chunk, members in by_chunk.items():
            lo = tuple(c * n for c, n in zip(chunk, gchunks))
            sl = tuple(slice(a, min(a + n, s)) for a, n, s in zip(lo, gchunks, arr.shape[:ng]))
            shape = tuple(x.stop - x.start for x in sl) + rest
            if math.prod(shape[:ng]) == len(members):
                block = np.empty(shape, dtype=arr.dtype)
            else:
                try:
                    with quiet_zarr():
                        block = np.asarray(arr[sl])
                except Exception:  # a damaged chunk: its points were reset and are all this task's
                    block = np.full(shape, arr.fill_value, dtype=arr.dtype)
            for i in members:
                at = tuple(p - a for p, a in zip(pos[i], lo))
                value = _converted(arr, points[i][name])
                if arr.dtype.kind == "f":
                    value = _pad(value, rest)
                block[at] = value
            with quiet_zarr():
                arr[sl] = block


def write_points(path, spec: SweepSpec, points: dict, *, template=None, fence=None) -> None:
    """Write the variables of several points (``points``: flat index -> {name: array without grid axes},
    NaN-padded here to the store's sizes), then their ``done`` flags (where given) LAST, in a second pass.
    ``fence``: called before each array's write (:mod:`chaossim.sweep.lock`); it raises when the task's lease
    is gone. ``template``: the store's group (:func:`open_arrays`), to save opening it again."""
    if not points:
        return
    root = template if template is not None else open_arrays(path)
    names = sorted({n for v in points.values() for n in v if n != DONE_VARIABLE})
    _write(root, spec, points, names, fence)
    if any(DONE_VARIABLE in v for v in points.values()):
        _write(root, spec, points, [DONE_VARIABLE], fence)


def write_point(path, spec: SweepSpec, index: int, values: dict, *, template=None, fence=None) -> None:
    """Write point ``index``'s variables, then ``done`` (if given) LAST (:func:`write_points`)."""
    write_points(path, spec, {int(index): values}, template=template, fence=fence)


def fill_values(template, spec: SweepSpec) -> dict:
    """name -> the fill value of every variable of a point (NaN, False, 0, '' or 'pending')."""
    ng = len(spec.dims)
    out: dict[str, Any] = {}
    for name, arr in template.arrays():
        dims = tuple(arr.metadata.dimension_names or ())
        if dims[:ng] != tuple(spec.dims):
            continue
        if name == DONE_VARIABLE:
            out[name] = False
        elif name in POINT_VARIABLES:
            out[name] = POINT_VARIABLES[name][1]
        else:
            out[name] = np.full(arr.shape[ng:], math.nan)
    return out


def reset_points(path, spec: SweepSpec, indices) -> None:
    """Make the points ``indices`` pending again (before re-running damaged points): their ``done`` flags are
    cleared FIRST, then every variable is overwritten with its fill value (damaged chunks are replaced, not
    read: the points of a damaged chunk are all reset)."""
    indices = [int(i) for i in indices]
    if not indices:
        return
    root = open_arrays(path)
    fills = fill_values(root, spec)
    _write(root, spec, {i: {DONE_VARIABLE: False} for i in indices}, [DONE_VARIABLE])
    rest = {k: v for k, v in fills.items() if k != DONE_VARIABLE}
    _write(root, spec, {i: rest for i in indices}, sorted(rest))


def reset_point(path, spec: SweepSpec, index: int) -> None:
    """Make point ``index`` pending again (:func:`reset_points`)."""
    reset_points(path, spec, [index])


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


def write_failure(path, spec: SweepSpec, index: int, message: str, *, fence=None, **extra) -> None:
    """Record point ``index`` as failed (done stays False, so a re-run tries it again)."""
    values = {
        "status": "failed",
        "error": message,
        "completed_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
        DONE_VARIABLE: False,
        **extra,
    }
    write_point(path, spec, index, values, fence=fence)


def describe_error(exc: BaseException) -> str:
    kind = "" if isinstance(exc, ChaossimError) else f"{type(exc).__name__}: "
    return f"{kind}{exc}"
