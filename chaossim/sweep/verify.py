"""Verify a sweep store: its metadata against its schema record, then every chunk of every point: find the
damaged and the missing ones.

The metadata first (schema 3, :mod:`chaossim.sweep.schema`): every array the store recorded when it was laid
out must be there, its own ``zarr.json`` and its entry in the consolidated metadata must match the record
(dims, shape, data type, fill value, attributes), and the root attributes their checksum; this reads no
chunk. An array whose metadata is missing or differs is listed (:attr:`VerifyReport.metadata`) and its
chunks are not read (without the right metadata they would decode as other numbers); the sweep's re-run
rebuilds that metadata from the spec (:mod:`chaossim.sweep.repair`) and verifies again. The points must
also agree on their data: points with the same data settings and different data fingerprints are listed
(:attr:`VerifyReport.inputs`).

Every array of a store (schema 2 and later) carries zarr's ``crc32c`` checksum codec, so a flipped bit or a
garbage chunk fails to decode instead of reading back as another number. A point whose ``done`` flag
(or status) says it is complete must have every one of its chunks on disk (points write even all-NaN
chunks): a missing chunk would otherwise read back as NaN, silently. Points not yet done may lack
chunks, but a chunk of theirs that exists must decode. Damage outside the points (coordinates,
``data_samples``) is reported separately. See docs/faults.md.

``chaossim sweep-verify STORE`` prints the result; ``chaossim sweep SWEEP.toml --store STORE`` uses it to
re-run the damaged points (:func:`chaossim.sweep.cluster.run_sweep`).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import StoreError
from .schema import CHECKSUM_ATTR, RECORDED_SCHEMAS, MetadataProblem, check_metadata, schema_version
from .store import DONE_VARIABLE, check_zarr_folder, quiet_zarr, runs_dir

CHECKSUM_CODEC = "crc32c"


@dataclass
class ChunkProblem:
    variable: str
    key: str  # the chunk's key inside the variable, e.g. "c/0/1/0"
    problem: str  # "missing" or "damaged (<why>)"

    def __str__(self) -> str:
        return f"{self.variable} chunk {self.key}: {self.problem}"


@dataclass
class VerifyReport:
    """What :func:`verify_store` found. Point indices are flat (C order over the grid)."""

    store: Path
    grid_dims: tuple = ()
    grid_shape: tuple = ()
    labels: list = field(default_factory=list)  # "g=1, T=20" per point
    n_chunks: int = 0  # chunks read
    claimed_done: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    problems: dict = field(default_factory=dict)  # point -> [ChunkProblem]
    store_wide: list = field(default_factory=list)  # problems outside the points
    unchecked: list = field(default_factory=list)  # arrays without a checksum codec
    metadata: list[MetadataProblem] = field(default_factory=list)  # arrays whose metadata is missing or differs
    attributes: list[str] = field(default_factory=list)  # the root attributes changed (checksum), schema record gone
    inputs: list[str] = field(default_factory=list)  # points of the same data settings trained on different data
    versions: dict = field(default_factory=dict)  # package versions -> the done points that ran with them

    @property
    def n_points(self) -> int:
        return int(np.prod(self.grid_shape)) if self.grid_shape else 0

    @property
    def damaged_points(self) -> list[int]:
        return sorted(self.problems)

    @property
    def unverified(self) -> bool:
        """Some point array's own metadata is missing or differs: its chunks were not read, so no point counts
        as intact until the metadata is repaired."""
        return any(p.where != "consolidated" and p.variable in self._point_arrays for p in self.metadata)

    _point_arrays: frozenset = frozenset()

    @property
    def intact_done(self) -> np.ndarray:
        """Flat flags: the point is done and every chunk of it is present and decodes."""
        flags = self.claimed_done.copy()
        flags[self.damaged_points] = False
        if self.unverified:
            flags[:] = False
        return flags

    @property
    def ok(self) -> bool:
        return not (self.problems or self.store_wide or self.metadata or self.attributes or self.inputs)

    def label(self, index: int) -> str:
        return self.labels[index] if index < len(self.labels) else f"point {index}"

    def lines(self, limit: int | None = None) -> list[str]:
        """One line per damaged or missing chunk (at most ``limit`` per point), by point."""
        out = [f"store attributes: {a}" for a in self.attributes]
        out += [f"array {p}" for p in self.metadata]
        out += [f"data: {line}" for line in self.inputs]
        out += [f"store-wide array {p}" for p in self.store_wide]
        for i in self.damaged_points:
            probs = self.problems[i]
            shown = probs if limit is None else probs[:limit]
            state = "done" if self.claimed_done[i] else "not done"
            for p in shown:
                out.append(f"point {i} ({self.label(i)}, {state}): {p}")
            if len(probs) > len(shown):
                out.append(f"point {i} ({self.label(i)}): ... and {len(probs) - len(shown)} more")
        return out


def _describe(exc: BaseException) -> str:
    text = str(exc).split("\n")[0][:160]
    if "checksum" in text.lower():
        return "damaged (checksum mismatch: the bytes on disk changed)"
    return f"damaged (cannot be decoded: {type(exc).__name__}: {text})"


def verify_store(path, variables=None) -> VerifyReport:
    """Read every chunk of the sweep store ``path`` (or of ``variables`` only, plus ``done`` and
    ``status``) and report damaged and missing ones. Raises StoreError when the store cannot be opened."""
    import zarr

    from .location import Files, target, zarr_store

    where = target(path)
    path = where.path if where.local else where
    if where.local and not where.path.is_dir():
        raise StoreError(f"sweep store {path} does not exist (or is not a folder).")
    files = Files(where)  # every file, listed once
    if where.local:
        check_zarr_folder(where.path)
    elif not files.has("zarr.json"):
        raise StoreError(f"sweep store {path} does not exist (no zarr.json there).")
    try:
        root_meta = files.read_json("zarr.json")
        with quiet_zarr():
            root = zarr.open_group(zarr_store(where, read_only=True), mode="r", use_consolidated=False)
    except Exception as exc:
        raise StoreError(
            f"{path} is not a readable zarr store ({type(exc).__name__}: {exc}); its metadata is "
            "damaged. Move it away and run the sweep again (the checkpoints in "
            f"{runs_dir(path).name}/ are reused)."
        ) from None
    attrs: dict[str, Any] = dict(root_meta.get("attributes") or {})
    version = schema_version(attrs, path)
    grid_dims = tuple(attrs.get("grid_dims", []))
    every_chunk_written = version >= 2  # schema 1 skipped all-NaN chunks: absence proves nothing
    report = VerifyReport(store=path, grid_dims=grid_dims)
    recorded: dict = {}
    if version in RECORDED_SCHEMAS or CHECKSUM_ATTR in attrs:  # a recorded store claiming an older schema too
        report.metadata, report.attributes, recorded = check_metadata(where, root_meta, files)
    broken = {p.variable for p in report.metadata if p.where != "consolidated"}
    names = [n for n in files.arrays() if n not in broken]
    arrays: dict[str, Any] = {}  # name -> zarr.Array
    for name in names:
        try:
            with quiet_zarr():
                arrays[name] = root[name]
        except Exception as exc:
            report.store_wide.append(ChunkProblem(name, "zarr.json", f"damaged metadata ({type(exc).__name__})"))
    report._point_arrays = frozenset(
        n for n, r in recorded.items() if tuple(r.get("dims", ()))[: len(grid_dims)] == grid_dims and grid_dims
    )
    if DONE_VARIABLE in arrays:
        report.grid_shape = tuple(int(arrays[DONE_VARIABLE].shape[i]) for i in range(len(grid_dims)))
    elif DONE_VARIABLE in recorded:
        report.grid_shape = tuple(int(x) for x in recorded[DONE_VARIABLE]["shape"][: len(grid_dims)])
    missing_dims = [d for d in grid_dims if d not in arrays and d not in recorded]
    if missing_dims or not report.grid_shape and grid_dims:
        raise StoreError(
            f"{path} is a damaged sweep store: {missing_dims or [DONE_VARIABLE]} cannot be read. Move "
            f"it away and run the sweep again (completed checkpoints in {runs_dir(path)}/ are reused)."
        )
    n = report.n_points
    ng = len(grid_dims)
    present: dict[int, set] = {}  # point -> variables with their chunk present
    expected = []  # point variables (checked for presence at done points)
    values: dict[str, np.ndarray] = {}
    kept = (DONE_VARIABLE, "status", "data_fingerprint", "versions")
    wanted = None if variables is None else set(variables) | set(kept)
    for name, arr in arrays.items():
        dims = tuple(arr.metadata.dimension_names or ())
        is_point = ng > 0 and dims[:ng] == grid_dims
        if wanted is not None and (name not in wanted and is_point):
            continue
        if not any(c.to_dict().get("name") == CHECKSUM_CODEC for c in _codecs(arr)):
            report.unchecked.append(name)
        files_of = files.chunk_keys(name)
        if is_point:
            expected.append(name)
        report.n_chunks += len(files_of)
        bad = _read_chunks(arr, files_of, keep=name in kept, out=values, name=name)
        for coords, problem in bad:
            key = arr.metadata.encode_chunk_key(coords)
            if is_point:
                for point in _points_of(coords[:ng], arr.chunks[:ng], report.grid_shape):
                    report.problems.setdefault(point, []).append(ChunkProblem(name, key, problem))
            else:
                report.store_wide.append(ChunkProblem(name, key, problem))
        if is_point:
            for coords in np.ndindex(*arr.cdata_shape):
                if arr.metadata.encode_chunk_key(coords) in files_of:
                    for point in _points_of(coords[:ng], arr.chunks[:ng], report.grid_shape):
                        present.setdefault(point, set()).add((name, coords[ng:]))
    # which points say they are done
    claimed = np.zeros(n, dtype=bool)
    if DONE_VARIABLE in values:
        claimed |= np.asarray(values[DONE_VARIABLE], dtype=bool).reshape(-1)
    if "status" in values:
        claimed |= np.asarray(values["status"]).reshape(-1) == "done"
    report.claimed_done = claimed
    for flat in np.flatnonzero(claimed if every_chunk_written else np.zeros_like(claimed)):
        point = int(flat)
        idx = tuple(int(i) for i in np.unravel_index(point, report.grid_shape))
        have = present.get(point, set())
        for name in expected:
            arr = arrays[name]
            cidx = tuple(i // c for i, c in zip(idx, arr.chunks[:ng]))
            for rest in np.ndindex(*arr.cdata_shape[ng:]):
                if (name, rest) not in have:
                    key = arr.metadata.encode_chunk_key(cidx + rest)
                    report.problems.setdefault(point, []).append(ChunkProblem(name, key, "missing"))
    report.labels = _labels(arrays, grid_dims, report.grid_shape)
    if version in RECORDED_SCHEMAS:
        _check_inputs(report, attrs, values)
    return report


def _check_inputs(report: VerifyReport, attrs: dict, values: dict) -> None:
    """Points with the same data settings must have been trained on the same data (equal fingerprints);
    collect the package versions of the done points."""
    done = report.claimed_done
    fps = values.get("data_fingerprint")
    if fps is not None:
        fps = np.asarray(fps).reshape(-1)
        by_key: dict[str, dict[str, list[int]]] = {}
        spec = _spec_of(attrs)
        claimed = [int(i) for i in np.flatnonzero(done)]
        if spec is not None and spec.n_points == len(done):
            from .store import data_keys

            keyed: dict[str, list[int]] = {}
            for pts in data_keys(spec, claimed).values():  # points of one data setting (over every seed if the
                keyed.setdefault(_data_key(spec, pts[0]), []).extend(pts)  # seed does not change the data)
        else:
            keyed = {"the data": claimed}
        for key, pts in keyed.items():
            for i in pts:
                if str(fps[i]):
                    by_key.setdefault(key, {}).setdefault(str(fps[i]), []).append(i)
        for key, groups in by_key.items():
            if len(groups) > 1:
                parts = "; ".join(f"points {pts} on data {fp[:12]}" for fp, pts in groups.items())
                report.inputs.append(
                    f"{key}: the done points were trained on different data ({parts}); the data changed between "
                    "runs. Re-run the points of the wrong data in a new --store, or restore the data they had"
                )
    vers = values.get("versions")
    if vers is not None:
        vers = np.asarray(vers).reshape(-1)
        for j in np.flatnonzero(done):
            if str(vers[j]):
                report.versions.setdefault(str(vers[j]), []).append(int(j))


def _points_of(chunk: tuple, chunks: tuple, shape: tuple) -> list[int]:
    """The flat indices of the grid points in the chunk at ``chunk`` (chunk coordinates along the grid)."""
    ranges = [range(c * n, min((c + 1) * n, s)) for c, n, s in zip(chunk, chunks, shape)]
    return [int(np.ravel_multi_index(p, shape)) for p in itertools.product(*ranges)] if shape else [0]


def _spec_of(attrs: dict):
    try:
        from .spec import parse_spec

        return parse_spec(attrs["spec_toml"], attrs.get("name", "sweep"))
    except Exception:  # noqa: BLE001 - a spec this chaossim no longer parses: points are compared all together
        return None


def _data_key(spec, index: int) -> str:
    """The data settings of point ``index`` (with the seed where it draws the split or the subsets)."""
    from ..data import seed_matters

    cfg = spec.config(index)
    d = cfg.data
    key = f"data.name = {d.name!r}" + (f", n_train = {d.n_train}, n_test = {d.n_test}" if d.n_train or d.n_test else "")
    if seed_matters(d.name, d.n_train, d.n_test):
        key += f", seed = {cfg.model.seed}"
    return key


def _codecs(arr):
    try:
        return list(arr.metadata.codecs)
    except AttributeError:  # pragma: no cover - zarr v2 arrays
        return []


def _read_chunks(arr, files: set, *, keep: bool, out: dict, name: str) -> list:
    """Read ``arr`` slab by slab along its first axis (one slab: all chunks sharing the first chunk
    index); where a slab fails, chunk by chunk. Returns [(chunk coords, problem)] of the chunks that
    exist but do not decode. With ``keep`` the values are stored in ``out[name]`` (damaged: fill)."""
    bad: list = []
    if arr.ndim == 0:
        try:
            value = arr[...]
        except Exception as exc:
            return [((), _describe(exc))]
        if keep:
            out[name] = value
        return bad
    chunk0 = arr.chunks[0]
    data: Any = np.full(arr.shape, arr.fill_value, dtype=arr.dtype) if keep else None
    for c0 in range(arr.cdata_shape[0]):
        sel = slice(c0 * chunk0, min((c0 + 1) * chunk0, arr.shape[0]))
        slab_keys = [(c0, *rest) for rest in np.ndindex(*arr.cdata_shape[1:])]
        if not any(arr.metadata.encode_chunk_key(c) in files for c in slab_keys):
            continue
        try:
            with quiet_zarr():
                block = arr[sel]
            if keep:
                data[sel] = block
            continue
        except Exception:
            pass
        for coords in slab_keys:
            if arr.metadata.encode_chunk_key(coords) not in files:
                continue
            try:
                with quiet_zarr():
                    block = arr.get_block_selection(coords)
                if keep:
                    data[tuple(slice(c * s, c * s + b) for c, s, b in zip(coords, arr.chunks, block.shape))] = block
            except Exception as exc:
                bad.append((coords, _describe(exc)))
    if keep:
        out[name] = data
    return bad


def _labels(arrays: dict, grid_dims: tuple, shape: tuple) -> list[str]:
    coords: dict[str, Any] = {}
    for d in grid_dims:
        try:
            with quiet_zarr():
                coords[d] = list(arrays[d][...])
        except Exception:
            coords[d] = None
    out = []
    for idx in np.ndindex(*shape):
        parts = []
        for d, i in zip(grid_dims, idx):
            vals = coords[d]
            parts.append(f"{d}={_fmt(vals[i])}" if vals is not None else f"{d}[{i}]")
        out.append(", ".join(parts))
    return out


def _fmt(v) -> str:
    """As :meth:`SweepSpec.point_label` writes values (2.0, "digits")."""
    return str(v.item() if isinstance(v, np.generic) else v)


def checkpoint_state(store, spec, index: int) -> str:
    """How a re-run of point ``index`` will start: from its intact checkpoint (in its run directory, or in the
    one file a finished point is kept in, :mod:`chaossim.sweep.mirror`), or from scratch."""
    import io

    from .mirror import checkpoint_bytes, checkpoints

    runs = runs_dir(store)
    key = spec.point_key(index)
    kept = checkpoints(runs).get(key)
    if kept is None:
        return "no checkpoint: it will be trained from scratch"
    if kept == "dir" and not (runs / key / "config.toml").is_file():
        return "its checkpoint has no config.toml: it will be set aside and the point trained from scratch"
    try:
        with np.load(io.BytesIO(checkpoint_bytes(runs, key, kept)), allow_pickle=False) as z:
            step = int(z["step"])
    except Exception:
        return "its checkpoint is damaged too: it will be set aside and the point trained from scratch"
    return f"checkpoint intact at step {step}: training continues from there"


def summary_line(report: VerifyReport) -> str:
    n_done = int(report.intact_done.sum())
    text = (
        f"{report.n_points} points, {n_done} done and intact, {len(report.damaged_points)} damaged; "
        f"{report.n_chunks} chunks read"
    )
    if report.metadata:
        text += f"; metadata of {len({p.variable for p in report.metadata})} array(s) missing or changed"
        if report.unverified:
            text += " (their chunks are read once it is repaired)"
    if report.attributes:
        text += "; the store's attributes changed"
    if report.inputs:
        text += f"; {len(report.inputs)} mix(es) of data"
    if report.store_wide:
        text += f"; {len(report.store_wide)} store-wide array chunk(s) damaged"
    return text
